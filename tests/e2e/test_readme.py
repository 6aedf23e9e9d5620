"""The README's getting started, run as written: its shell blocks through bash
and its Python block through the client installed from the checkout, against
the real server. If the README and the product disagree, this fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(marker: str, base: str) -> str:
    """The fenced code block right after `<!-- readme:<marker> -->`, unindented,
    with the default registry URL replaced by the test server's."""
    text = README.read_text()
    m = re.search(rf"<!-- readme:{marker} -->\s*\n(\s*)```\w*\n(.*?)\n\s*```", text, re.S)
    assert m, f"README has no block marked readme:{marker}"
    indent = m.group(1)
    return "\n".join(
        line[len(indent):] if line.startswith(indent) else line for line in m.group(2).splitlines()
    ).replace("http://127.0.0.1:8765", base)


@pytest.fixture()
def home(tmp_path, registry):
    """A user's home, and the server's data directory holding the operator key
    as a first start saves it."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "operator-api-key").write_text(registry.operator_key + "\n")
    return tmp_path


def _bash(script: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_readme_getting_started_works_as_written(registry, home):
    # `hallctl` on PATH, as the README's build step leaves it.
    bin_dir = home / "bin"
    bin_dir.mkdir()
    (bin_dir / "hallctl").symlink_to(os.path.abspath(os.environ["HALLCTL_BIN"]))
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "PYHALL_REGISTRY": registry.base,
        "HALL_DATA_DIR": str(home / "data"),
    }

    # Step 2, without the build (the binary under test is on PATH).
    tenant = "\n".join(l for l in _block("tenant", registry.base).splitlines() if not l.startswith("cargo "))
    done = _bash(tenant, env)
    assert done.returncode == 0, done.stderr
    key = re.search(r"API key: (phk_\S+)", done.stdout)
    assert key, done.stdout
    env["PYHALL_API_KEY"] = key.group(1)

    # Step 4: the quick start, with the client from the checkout.
    done = subprocess.run([sys.executable, "-c", _block("quick-start", registry.base)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"wrk_\S+", lines[0]), lines
    assert lines[1] == "x.myagent"
    assert re.fullmatch(r"[0-9a-f]{64}", lines[2]), lines
    assert lines[3] == "proof verified"

    # Step 5: the command line, the worker id taken from `worker register`.
    worker_id = None
    for line in _block("cli", registry.base).splitlines():
        command = line.split("  #")[0].strip()
        if worker_id:
            command = re.sub(r"<[^>]*>", worker_id, command)
        done = _bash(command, env)
        assert done.returncode == 0, f"{command}: {done.stderr}"
        assert key.group(1) not in done.stdout + done.stderr, f"{command} printed the key"
        if command.startswith("hallctl worker register"):
            worker_id = re.search(r"wrk_\w+", done.stdout).group(0)
        if command.startswith("hallctl decision make"):
            assert done.stdout.startswith("ALLOW"), done.stdout
        if command.startswith("hallctl audit verify"):
            assert done.stdout.startswith("OK: "), done.stdout
    assert worker_id, "the README registers a worker from the command line"
    creds = home / ".config" / "hall-registry" / "credentials.json"
    assert creds.stat().st_mode & 0o777 == 0o600
