"""`keel serve` held still between its own checks and its server's start, for real.

`keel serve` verifies every REF and binds its port before it writes its first line on stderr
("verified …"), and starts its server (uvicorn or granian, whose processes load the models again)
only after. Its stderr here is a pipe of one page that the test filled itself, so that first write
blocks until the test reads: while it waits, the test changes the world exactly in between
(promotes a version and corrupts its blob, removes the workspace, locks the database), then lets
it go on. Nothing is mocked or timed: the process is parked in the kernel's pipe write.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.serve.conftest import Models, free_port

_F_SETPIPE_SZ, _F_GETPIPE_SZ = 1031, 1032  # fcntl commands (Linux)


@dataclass
class Paused:
    process: subprocess.Popen[bytes]
    port: int
    _read: int
    _filler: int
    _out: bytearray = field(default_factory=bytearray)
    _drain: threading.Thread | None = None

    def release(self) -> None:
        """Let `keel serve` write (and go on): read what the test filled, then everything."""
        os.read(self._read, self._filler)

        def drain() -> None:
            while chunk := os.read(self._read, 65536):
                self._out.extend(chunk)

        self._drain = threading.Thread(target=drain, daemon=True)
        self._drain.start()

    def wait(self, timeout: float) -> int:
        """The exit status (AssertionError with the output if it runs past ``timeout``)."""
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"keel serve still runs after {timeout} s:\n{self.output()}"
            ) from None
        if self._drain is not None:
            self._drain.join(10)
        return int(self.process.returncode)

    def output(self) -> str:
        return bytes(self._out).decode(errors="replace")

    def opened(self, name: str) -> bool:
        """True once this process or one of its children holds a file called ``name`` open."""
        pids = [self.process.pid, *_children(self.process.pid)]
        for pid in pids:
            try:
                fds = list(Path(f"/proc/{pid}/fd").iterdir())
            except OSError:
                continue
            for fd in fds:
                try:
                    if os.readlink(fd).endswith(f"/{name}"):
                        return True
                except OSError:
                    continue
        return False


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _waiting_in(pid: int) -> str:
    """Where in the kernel ``pid`` waits ("0" while it runs)."""
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return ""


@contextmanager
def paused_serve(models: Models, *args: str, env: dict[str, str] | None = None) -> Iterator[Paused]:
    """`keel serve ARGS --port <free>` parked at its first line, after its own checks."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the pipe size and /proc are Linux's")
    read, write = os.pipe()
    fcntl.fcntl(write, _F_SETPIPE_SZ, 4096)
    filler = fcntl.fcntl(write, _F_GETPIPE_SZ)
    os.write(write, b"\0" * filler)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "keel", "serve", *args, "--port", str(port)],
        stdout=write, stderr=write, env={**models.env, **(env or {})},
    )  # fmt: skip
    os.close(write)
    paused = Paused(process, port, read, filler)
    try:
        deadline = time.monotonic() + 120
        seen: set[str] = set()
        while "pipe_write" not in (where := _waiting_in(process.pid)):
            seen.add(where)
            if process.poll() is not None or time.monotonic() > deadline:
                paused.release()
                paused.wait(30)
                if seen <= {"", "0"}:
                    pytest.skip("this kernel does not say where a process waits (wchan)")
                raise AssertionError(f"keel serve did not pause:\n{paused.output()}")
            time.sleep(0.01)
        yield paused
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        os.close(read)
