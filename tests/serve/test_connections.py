"""Connections: a cap per process that idle clients cannot turn against everyone else, the listen
queue, the port held from the check on, and the body deadline flag.

Real `keel serve` processes on loopback, spoken to over raw sockets. uvicorn's own cap
(``limit_concurrency``) answers 503 to every request once that many connections are open, idle or
not, so a client holding idle connections would starve all others, health checks included: keel
closes the longest-idle connection to make room, answers 503 only when every connection has a
request in progress, and answers health checks even then. granian's cap makes connections wait in
the listen queue; it used to keep a connection that sends nothing open for good, so a handful of
them stopped it from answering anyone.
"""

from __future__ import annotations

import contextlib
import errno
import json
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.serve._paused import paused_serve
from tests.serve.conftest import Models, Running, free_port


def _address(running: Running) -> tuple[str, int]:
    host, port = running.url.removeprefix("http://").split(":")
    return host, int(port)


@contextlib.contextmanager
def _sockets(running: Running, n: int, send: bytes = b"") -> Iterator[list[socket.socket]]:
    """``n`` connections, opened one after the other, each sending ``send`` (or nothing)."""
    opened = []
    try:
        for _ in range(n):
            sock = socket.create_connection(_address(running), timeout=30)
            if send:
                sock.sendall(send)
            opened.append(sock)
            time.sleep(0.1)  # accepted in this order: the first is the longest idle
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _open(sock: socket.socket) -> bool:
    """True while the server keeps ``sock`` open (nothing to read, no end of stream)."""
    sock.setblocking(False)
    try:
        return sock.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def _closed_by_server(sock: socket.socket, seconds: float = 30.0) -> bool:
    sock.settimeout(seconds)
    try:
        while chunk := sock.recv(65536):
            del chunk
        return True
    except TimeoutError:
        return False
    except OSError:
        return True


def _exchange(running: Running, request: bytes) -> bytes:
    with socket.create_connection(_address(running), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                head, _, body = answer.partition(b"\r\n\r\n")
                length = [ln for ln in head.lower().split(b"\r\n") if b"content-length" in ln]
                if length and len(body) >= int(length[0].split(b":")[1]):
                    break
        return answer


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


_BUSY = (  # a request in progress: its head is complete, its body never comes
    b"POST /v1/models/digits:predict HTTP/1.1\r\nHost: test\r\n"
    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
)


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def test_idle_connections_past_the_cap_make_room_instead_of_starving_others(
    models: Models, start_server
):
    running = start_server(models, "digits:1", "--no-auth", "--max-connections", "4")
    with _sockets(running, 4) as idle:  # the cap, all idle (connected, nothing sent)
        answer = _exchange(running, _get("/v1/models"))
        assert _status(answer) == 200, answer
        assert _closed_by_server(idle[0]), "the longest-idle connection was not closed"
        assert all(_open(sock) for sock in idle[1:]), "a connection other than the oldest closed"
        assert _status(_exchange(running, _get("/v2/health/ready"))) == 200


def test_past_the_cap_with_every_connection_busy_requests_get_503_but_health_answers(
    models: Models, start_server
):
    running = start_server(models, "digits:1", "--no-auth", "--max-connections", "4")
    with _sockets(running, 4, send=_BUSY):
        refused = _exchange(running, _get("/v1/models"))
        assert _status(refused) == 503, refused
        head, _, body = refused.partition(b"\r\n\r\n")
        assert b"retry-after: 1" in head.lower() and b"connection: close" in head.lower()
        assert "most connections (4)" in json.loads(body)["error"]
        for path in ("/v2/health/live", "/v2/health/ready"):
            assert _status(_exchange(running, _get(path))) == 200, path
    with running.client() as client:  # the busy ones are gone: room again
        assert client.get("/v1/models").status_code == 200


def test_granian_closes_a_connection_that_sends_nothing(models: Models, start_server):
    """With granian's cap at 2, three silent connections used to stop it answering anyone for
    good; now they are closed at the head deadline and the health check gets its answer."""
    running = start_server(
        models, "digits:1", "--no-auth", "--server", "granian", "--max-connections", "2"
    )
    with _sockets(running, 3) as silent:
        answer = httpx.get(f"{running.url}/v2/health/live", timeout=60)
        assert answer.status_code == 200
        assert _closed_by_server(silent[0], 60)


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_port_stays_taken_from_the_check_on(models: Models, server):
    """Between `keel serve`'s own bind and its server's start, another process with
    SO_REUSEADDR could bind and listen on the same port (the socket did not listen yet); then
    uvicorn failed to start (exit 3) and granian, which bound again, panicked."""
    with paused_serve(models, "digits:1", "--no-auth", "--server", server) as serve:
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with squatter, pytest.raises(OSError) as taken:
            squatter.bind(("127.0.0.1", serve.port))
            squatter.listen()
        assert taken.value.errno == errno.EADDRINUSE
        serve.release()
        url = f"http://127.0.0.1:{serve.port}/v2/health/ready"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            assert serve.process.poll() is None, serve.output()
            time.sleep(0.2)
        else:
            raise AssertionError(f"not ready:\n{serve.output()}")


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_listen_queue_is_the_backlog_flag(models: Models, start_server, server):
    running = start_server(models, "digits:1", "--no-auth", "--server", server, "--backlog", "200")
    port = _address(running)[1]
    listing = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert listing[0] == "LISTEN" and listing[2] == "200", listing  # Send-Q: the backlog


def test_body_timeout_flag_overrides_the_serve_section(models: Models, start_server, run_keel):
    running = start_server(models, "digits:1", "--no-auth", "--body-timeout-s", "1.5")
    with running.client() as client:
        assert client.get("/v1/models/digits").json()["serve"]["body_timeout_s"] == 1.5
    with socket.create_connection(_address(running), timeout=20) as sock:
        sock.sendall(_BUSY)  # 1 byte of 100, then nothing: 408 after 1.5 s (the default is 30)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert _status(answer) == 408, answer
    bad = run_keel(["serve", "digits:1", "--no-auth", "--body-timeout-s", "0"], models.env, 120)
    assert bad.returncode == 2, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "body_timeout_s" in bad.stderr


def _low_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (400, 400))


def test_a_cap_the_open_file_limit_cannot_hold_is_one_line_and_exit_2(models: Models):
    """Each connection is an open file: a cap past the hard limit would fail later, one
    accept at a time; the default shrinks to fit (here 400 - 128 = 272) and serves."""
    command = [sys.executable, "-m", "keel", "serve", "digits:1", "--no-auth", "--port", "0"]
    refused = subprocess.run(
        [*command, "--max-connections", "1000"], env=models.env, capture_output=True,
        text=True, timeout=120, preexec_fn=_low_file_limit,
    )  # fmt: skip
    assert refused.returncode == 2, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "--max-connections 1000" in lines[0] and "ulimit -n" in lines[0]

    port = free_port()
    serving = subprocess.Popen(
        [*command[:-1], str(port)], env=models.env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, preexec_fn=_low_file_limit,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while serving.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                url = f"http://127.0.0.1:{port}/v2/health/ready"
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"not serving with the default cap (exit {serving.returncode})")
    finally:
        serving.terminate()
        serving.wait(30)


_SPAWNED = (
    "import multiprocessing, sys; multiprocessing.set_start_method('spawn'); "
    "from keel.cli import main; sys.argv = ['keel', *sys.argv[1:]]; main()"
)


def test_granian_serves_when_its_workers_are_spawned(models: Models, tmp_path):
    """Under the spawn start method (Python 3.14's default on Linux) granian's workers cannot
    inherit keel's socket, so granian binds the address itself: it must still serve."""
    port = free_port()
    log = tmp_path / "spawned.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", _SPAWNED, "serve", "digits:1", "--no-auth", "--server",
             "granian", "--workers", "2", "--port", str(port)],
            env=models.env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    running = Running(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert process.poll() is None, running.output()
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{running.url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise AssertionError(f"not ready:\n{running.output()}")
        with running.client() as client:
            assert client.get("/v1/models").status_code == 200
    finally:
        assert running.stop() in (0, -signal.SIGTERM), running.output()
