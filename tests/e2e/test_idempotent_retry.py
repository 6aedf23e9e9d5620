"""A decision whose answer is lost is retried with the same Idempotency-Key
and leaves exactly one receipt.

A TCP proxy between the client and the real server forwards the first
request whole, lets the server decide and commit the receipt, reads the
server's complete answer — and then closes the client's connection instead
of relaying it. To the client that is a connection reset after the request
was sent: it must try again, with the same key, and the server must answer
the original decision rather than decide (and append a receipt) again.
"""

from __future__ import annotations

import re
import socket
import threading
import uuid
from typing import List, Tuple

import pytest

from hall_registry import AsyncHall, Hall, RegistryUnavailable, RetryPolicy

TENANT_SCOPES = ["workers:write", "decisions:write", "read"]
_KEY_HEADER = re.compile(rb"^idempotency-key:\s*(\S+)\s*$", re.IGNORECASE | re.MULTILINE)


def _read_message(sock: socket.socket) -> bytes:
    """One HTTP/1.1 message (headers and a Content-Length body) from `sock`."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"^content-length:\s*(\d+)", head, re.IGNORECASE | re.MULTILINE)
    length = int(match.group(1)) if match else 0
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


class AnswerDroppingProxy:
    """Forwards to `upstream`; on the first `drop` connections, swallows the answer."""

    def __init__(self, upstream: Tuple[str, int], drop: int = 1) -> None:
        self.upstream = upstream
        self.to_drop = drop
        self.dropped_answers: List[bytes] = []
        self.requests: List[bytes] = []
        self._lock = threading.Lock()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def idempotency_keys(self) -> List[str]:
        with self._lock:
            return [m.group(1).decode() for r in self.requests for m in _KEY_HEADER.finditer(r)]

    def close(self) -> None:
        self._closed = True
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                drop = self.to_drop > 0
                self.to_drop -= 1 if drop else 0
            threading.Thread(target=self._serve, args=(client, drop), daemon=True).start()

    def _serve(self, client: socket.socket, drop: bool) -> None:
        upstream = socket.create_connection(self.upstream)
        try:
            while True:
                request = _read_message(client)
                if not request:
                    return
                with self._lock:
                    self.requests.append(request)
                upstream.sendall(request)
                answer = _read_message(upstream)
                if drop:
                    # The server has decided and committed; the client never hears it.
                    with self._lock:
                        self.dropped_answers.append(answer)
                    client.shutdown(socket.SHUT_RDWR)
                    return
                client.sendall(answer)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()


@pytest.fixture
def proxy(registry):
    host, port = registry.base.removeprefix("http://").split(":")
    started = AnswerDroppingProxy((host, int(port)))
    yield started
    started.close()


@pytest.fixture(scope="module")
def tenant(registry):
    key = registry.tenant_key("org.retry", TENANT_SCOPES)
    with Hall(key, registry.base) as hall:
        worker = hall.workers.register(name="retried", namespace="x.retry", capabilities=["cap.data.read.v1"])
    return key, worker


def chain_length(registry, key: str) -> int:
    with Hall(key, registry.base) as hall:
        return sum(1 for _ in hall.audit.receipts())


# No backoff to speak of: the retry follows the reset at once.
FAST_RETRY = RetryPolicy(retries=3, backoff=0.01)


def test_a_lost_answer_is_retried_with_the_same_key_and_one_receipt(registry, tenant, proxy):
    key, worker = tenant
    before = chain_length(registry, key)
    with Hall(key, proxy.url, retries=FAST_RETRY) as hall:
        decision = hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC")
    assert decision.allowed
    assert len(proxy.dropped_answers) == 1 and proxy.dropped_answers[0].startswith(b"HTTP/1.1 200")
    keys = proxy.idempotency_keys()
    assert len(keys) == 2 and keys[0] == keys[1], keys
    assert chain_length(registry, key) == before + 1
    # The answer the client finally got is the decision whose answer was lost.
    assert decision.id.encode() in proxy.dropped_answers[0]


@pytest.mark.anyio
async def test_the_async_client_retries_the_same_way(registry, tenant, proxy):
    key, worker = tenant
    before = chain_length(registry, key)
    async with AsyncHall(key, proxy.url, retries=FAST_RETRY) as hall:
        decision = await hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC",
                                             idempotency_key=f"async-{uuid.uuid4()}")
    assert decision.allowed
    keys = proxy.idempotency_keys()
    assert len(keys) == 2 and keys[0] == keys[1] and keys[0].startswith("async-")
    assert chain_length(registry, key) == before + 1
    assert decision.id.encode() in proxy.dropped_answers[0]


def test_without_retries_the_lost_answer_is_an_error_but_the_receipt_exists(registry, tenant, proxy):
    """The control: the proxy really does lose a committed decision's answer."""
    key, worker = tenant
    before = chain_length(registry, key)
    with Hall(key, proxy.url, retries=0) as hall:
        with pytest.raises(RegistryUnavailable):
            hall.decisions.make(worker.id, "cap.data.read.v1", data_label="PUBLIC")
    assert chain_length(registry, key) == before + 1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
