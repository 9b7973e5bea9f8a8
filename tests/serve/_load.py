"""A small HTTP/1.1 load generator on raw asyncio streams (keep-alive), for the load tests.

``closed_loop`` keeps ``concurrency`` requests in flight; ``open_loop`` offers a fixed rate
whatever the answers (what overload looks like), opening connections as needed up to a cap.
Every answer is kept as ``(status, body)``; a connection error is recorded as status 0.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field


def request_bytes(
    path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Results:
    answers: list[tuple[int, bytes]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def statuses(self) -> Counter[int]:
        return Counter(status for status, _ in self.answers)

    @property
    def per_second(self) -> float:
        ok = sum(1 for status, _ in self.answers if status == 200)
        return ok / self.seconds if self.seconds else 0.0


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> _Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, raw: bytes) -> tuple[int, bytes, bool]:
        """One request; (status, body, keep the connection)."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, body, headers.get("connection", "").lower() != "close"

    def close(self) -> None:
        self.writer.close()


async def _one(port: int, raw: bytes, pool: list[_Connection], out: Results) -> None:
    """One request; a pooled connection the server closed while idle (keep-alive timeout) is
    retried once on a fresh connection, as HTTP clients do."""
    for attempt in range(2):
        reused = bool(pool) and attempt == 0
        conn = pool.pop() if reused else None
        try:
            if conn is None:
                conn = await _Connection.open(port)
            status, body, keep = await conn.send(raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            if conn is not None:
                conn.close()
            if reused:
                continue
            out.answers.append((0, b""))
            return
        out.answers.append((status, body))
        if keep:
            pool.append(conn)
        else:
            conn.close()
        return


async def closed_loop(port: int, raw: bytes, *, concurrency: int, seconds: float) -> Results:
    out = Results()
    pool: list[_Connection] = []
    deadline = time.monotonic() + seconds
    start = time.monotonic()

    async def worker() -> None:
        while time.monotonic() < deadline:
            await _one(port, raw, pool, out)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    out.seconds = time.monotonic() - start
    for conn in pool:
        conn.close()
    return out


async def open_loop(
    port: int, raw: bytes, *, rate: float, seconds: float, max_in_flight: int = 512
) -> Results:
    """Offer ``rate`` requests per second for ``seconds`` (requests past ``max_in_flight``
    waiting answers are counted as status -1: the generator could not offer them)."""
    out = Results()
    pool: list[_Connection] = []
    tasks: set[asyncio.Task[None]] = set()
    start = time.monotonic()
    sent = 0
    while (now := time.monotonic()) - start < seconds:
        due = int((now - start) * rate) - sent
        for _ in range(max(0, due)):
            sent += 1
            if len(tasks) >= max_in_flight:
                out.answers.append((-1, b""))
                continue
            task = asyncio.create_task(_one(port, raw, pool, out))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(0.005)
    if tasks:
        await asyncio.gather(*tasks)
    out.seconds = time.monotonic() - start
    for conn in pool:
        conn.close()
    return out
