"""docs/getting-started.md, run as written against a registry started the way
the page starts it (the operator key generated and saved in the data
directory): every marked block, in order, each command with the exit code the
page gives it (0 unless a `# exit N` comment says otherwise)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
DEFAULT_URL = "http://127.0.0.1:8765"


def blocks() -> dict[str, str]:
    """Every `<!-- walkthrough:NAME -->` block of the page, by name, in order."""
    found = re.findall(r"<!-- walkthrough:([\w-]+) -->\s*\n```\w*\n(.*?)\n```", PAGE.read_text(), re.S)
    return dict(found)


def commands(block: str) -> list[tuple[str, int]]:
    """The block's commands (continuation lines joined) with their expected exit codes."""
    out, pending = [], ""
    for line in block.splitlines():
        pending += line.rstrip("\\").rstrip() + " " if line.endswith("\\") else line
        if line.endswith("\\"):
            continue
        command, _, comment = pending.partition("  #")
        expected = re.search(r"exit (\d+)", comment)
        if command.strip():
            out.append((command.strip(), int(expected.group(1)) if expected else 0))
        pending = ""
    return out


def script(block: str) -> str:
    """A bash script running the block's commands, stopping at the first one
    whose exit code is not the documented one."""
    lines = []
    for command, expected in commands(block):
        lines.append(f"{command}\nrc=$?\nif [ $rc -ne {expected} ]; then "
                     f"echo {shlex.quote('FAILED: ' + command)} \"(exit $rc, documented {expected})\" >&2; exit 1; fi")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def started(start_registry):
    data_dir = tempfile.mkdtemp(prefix="hall-walkthrough-")
    # As on the page: no bootstrap key, so the server generates one and saves it.
    with start_registry({"HALL_BOOTSTRAP_API_KEY": "", "HALL_DATA_DIR": data_dir}) as registry:
        yield registry, data_dir


def test_the_getting_started_walkthrough_works_as_written(started, tmp_path):
    registry, data_dir = started
    page = blocks()
    assert list(page) == ["hallctl", "operator", "tenant-login", "worker", "decide", "audit",
                          "pip", "python", "pyhall"], "the walkthrough's blocks changed: update this test"
    home = tmp_path / "home"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    # `cargo install` puts hallctl on PATH; here it is the binary under test.
    (bin_dir / "hallctl").symlink_to(os.path.abspath(os.environ["HALLCTL_BIN"]))
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYHALL_REGISTRY": registry.base,
        "HALL_DATA_DIR": data_dir,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    work = tmp_path / "work"
    work.mkdir()

    def run(name: str, skip: tuple[str, ...] = (), substitute: dict | None = None) -> str:
        block = page[name].replace(DEFAULT_URL, registry.base)
        for old, new in (substitute or {}).items():
            block = block.replace(old, new)
        block = "\n".join(l for l in block.splitlines() if not l.startswith(skip))
        done = subprocess.run(["bash", "-c", script(block)], env=env, cwd=work,
                              capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, f"block {name}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    out = run("hallctl", skip=("cargo ",))
    assert out.startswith("hallctl ")

    out = run("operator")
    assert "hall.operator" in out
    key = re.search(r"API key: (phk_\S+)", out)
    assert key, out
    acme_key = key.group(1)

    out = run("tenant-login", substitute={"phk_…": acme_key})
    assert "org.acme" in out and acme_key not in out
    creds = home / ".config" / "hall-registry" / "credentials.json"
    assert creds.stat().st_mode & 0o777 == 0o600

    out = run("worker")
    assert re.search(r"wrk_\w+", out) and "x.yourname.my-agent" in out

    out = run("decide")
    assert "ALLOW" in out and "DENY_CAPABILITY_NOT_DECLARED" in out

    out = run("audit")
    assert out.count("OK: ") == 2, out
    assert json.loads((work / "registry-keys.json").read_text())

    # Swagger UI is served, and the document it shows has the bearer scheme to authorize with.
    with urllib.request.urlopen(registry.base + "/docs/", timeout=10) as r:
        assert r.status == 200 and b"swagger" in r.read().lower()
    with urllib.request.urlopen(registry.base + "/openapi.json", timeout=10) as r:
        assert "bearer" in json.loads(r.read())["components"]["securitySchemes"]

    # The Python client is already installed from the checkout (scripts/test does it).
    run("pip", skip=("pip ",))
    done = subprocess.run([sys.executable, "-c", page["python"]], cwd=work,
                          env={**env, "PYHALL_API_KEY": acme_key},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"wrk_\w+ True DENY_CAPABILITY_NOT_DECLARED", lines[0]), lines
    assert [l.split()[-1] for l in lines[1:3]] == ["DENY", "ALLOW"], lines
    assert lines[3] == "4 receipts verified", lines

    # pyhall-wcp 0.2.2 is in the test environment already.
    out = run("pyhall", skip=("pip ",), substitute={})
    assert "org.acme" in out
