"""Request heads are bounded before any route sees them: size, field count and time.

A real `keel serve` process on loopback, spoken to over raw sockets (an HTTP client would refuse
to send what these tests send). Every refusal is a 4xx that closes the connection; health checks
from other clients keep answering while one client floods.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from keel.serve._http import HEAD_TIMEOUT_S, MAX_FIELDS, MAX_HEAD, MAX_TARGET
from tests.serve.conftest import Models, Running, start


@pytest.fixture(scope="module")
def server(models: Models, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    running = start(models, tmp_path_factory.mktemp("heads"), "digits:1")
    yield running
    running.stop()


def _address(running: Running) -> tuple[str, int]:
    host, port = running.url.removeprefix("http://").split(":")
    return host, int(port)


def _exchange(running: Running, head: bytes, timeout: float = 30.0) -> bytes:
    """Send ``head`` (as much of it as the server takes) and read the answer until it closes."""
    with socket.create_connection(_address(running), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # refused and closed while we were still sending
            sock.sendall(head)
        answer = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            answer += chunk
        return answer


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:100]
    return int(answer.split(b" ", 2)[1])


def _request(target: bytes = b"/v2/health/live", headers: list[bytes] | None = None) -> bytes:
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: test", *(headers or [])]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def test_a_huge_header_line_is_refused_at_once_and_health_checks_do_not_wait(server: Running):
    """The reported attack: one 80 MB header line from a client with no key. It took 13.5 s to
    answer (a 200) and stalled every other client for up to 7.7 s; now it is refused with 431
    after the first 64 KiB, and a health check running beside it is never held up."""
    waits: list[float] = []
    done = threading.Event()

    def health() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                began = time.monotonic()
                assert client.get("/v2/health/live").status_code == 200
                waits.append(time.monotonic() - began)
                time.sleep(0.01)

    checker = threading.Thread(target=health)
    checker.start()
    try:
        while len(waits) < 3:  # the checks are running before the flood starts
            time.sleep(0.01)
        with socket.create_connection(_address(server), timeout=30) as sock:
            sock.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: test\r\nX-Flood: ")
            sent, chunk = 0, b"a" * 2**20
            try:
                while sent < 80 * 2**20:
                    sock.sendall(chunk)
                    sent += len(chunk)
                sock.sendall(b"\r\n\r\n")
            except OSError:
                pass  # refused and closed mid-flood
            answer = sock.recv(65536)
        after = len(waits)
        while len(waits) < after + 3:  # and after it
            time.sleep(0.01)
    finally:
        done.set()
        checker.join()
    assert _status(answer) == 431, answer[:200]
    assert b"request headers too large" in answer
    assert sent < 80 * 2**20, "the server read the whole flood instead of refusing it"
    assert max(waits) < 5.0, f"health checks waited up to {max(waits):.2f} s"


def test_head_size_bounds(server: Running):
    near = b"X-Big: " + b"a" * (MAX_HEAD - 1024)
    assert _status(_exchange(server, _request(headers=[near]))) == 200
    over = b"X-Big: " + b"a" * (MAX_HEAD + 1)
    answer = _exchange(server, _request(headers=[over]))
    assert _status(answer) == 431 and b"connection: close" in answer


def test_header_field_count_bound(server: Running):
    fields = [b"X-F%d: 1" % i for i in range(MAX_FIELDS - 1)]  # plus Host: the bound exactly
    assert _status(_exchange(server, _request(headers=fields))) == 200
    answer = _exchange(server, _request(headers=[*fields, b"X-One-Too-Many: 1"]))
    assert _status(answer) == 431 and f"more than {MAX_FIELDS} fields".encode() in answer


def test_request_target_bound(server: Running):
    ok = b"/v2/health/live?" + b"q" * (MAX_TARGET - 100)
    assert _status(_exchange(server, _request(ok))) == 200
    answer = _exchange(server, _request(b"/v2/health/live?" + b"q" * MAX_TARGET))
    assert _status(answer) == 414


def test_bodies_and_kept_alive_connections_are_not_heads(server: Running, models: Models):
    """A body larger than the head bound and many requests on one connection pass as before."""
    with server.client(models.keys["reader"]) as client:
        for _ in range(3):
            assert client.get("/v2/health/ready").status_code == 200
        big = {"instances": [{"pixel_0_0": 0.0, "pad": "x" * (2 * MAX_HEAD)}]}
        answer = client.post("/v1/models/digits:predict", json=big)
    assert answer.status_code in (400, 422)  # refused by the feature check, not the head bound


def test_a_head_that_trickles_or_never_comes_is_cut_off(server: Running):
    """Slowloris: a connection that sends nothing, and one that sends its head a byte at a time,
    are both closed once HEAD_TIMEOUT_S has passed (the trickling one with 408)."""
    results: dict[str, tuple[bytes, float]] = {}

    def silent() -> None:
        began = time.monotonic()
        with socket.create_connection(_address(server), timeout=HEAD_TIMEOUT_S * 4) as sock:
            results["silent"] = (sock.recv(100), time.monotonic() - began)

    def trickle() -> None:
        head = _request(headers=[b"X-Slow: " + b"a" * 200])
        began = time.monotonic()
        with socket.create_connection(_address(server), timeout=0.3) as sock:
            for byte in head[:-4]:
                try:
                    sock.sendall(bytes([byte]))
                    answer = sock.recv(1000)
                except TimeoutError:
                    continue
                except OSError:
                    answer = b""
                results["trickle"] = (answer, time.monotonic() - began)
                return
            results["trickle"] = (b"never cut off", time.monotonic() - began)

    threads = [threading.Thread(target=silent), threading.Thread(target=trickle)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answer, took = results["trickle"]
    assert _status(answer) == 408, answer
    assert took < HEAD_TIMEOUT_S * 3
    answer, took = results["silent"]
    assert answer == b"" and took < HEAD_TIMEOUT_S * 3


def test_granian_has_the_same_bounds(models: Models, tmp_path):
    """granian (hyper) counts its read buffer: a head past MAX_HEAD + MAX_TARGET is refused
    within one more read (431), where its default let ~400 KiB through; a head that trickles is
    cut off after HEAD_TIMEOUT_S (hyper closes without an answer)."""
    running = start(models, tmp_path, "digits:1", "--server", "granian", "--no-auth")
    try:
        over = b"X-Big: " + b"a" * (4 * MAX_HEAD)
        assert _status(_exchange(running, _request(headers=[over]))) == 431
        began = time.monotonic()
        with socket.create_connection(_address(running), timeout=0.3) as sock:
            answer = b"never cut off"
            for byte in _request(headers=[b"X-Slow: " + b"a" * 200]):
                try:
                    sock.sendall(bytes([byte]))
                    answer = sock.recv(1000)
                    break
                except TimeoutError:
                    continue
                except OSError:
                    answer = b""
                    break
        assert answer == b"" and time.monotonic() - began < HEAD_TIMEOUT_S * 3
        with running.client() as client:
            assert client.get("/v2/health/live").status_code == 200
    finally:
        running.stop()
