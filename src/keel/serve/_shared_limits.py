"""Per-key rate limits shared by every worker of one ``keel serve --workers N``.

Each worker keeps its own event loop, so in-process token buckets would let a key through at N
times its rate. :class:`SharedTokenBuckets` keeps the buckets in one memory-mapped file that
``keel serve`` creates before the workers start: a fixed table of slots (key hash, tokens, time of
the last refill), probed linearly from the key's hash, updated under an exclusive ``flock`` on the
file (two system calls per request, microseconds). Times are ``time.monotonic()``, one clock for
every process on the machine. When the probe window of a key is full, the slot refilled longest
ago is reused: its key starts again with a full bucket, as a key that was never seen.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import mmap
import os
import struct
import time
from pathlib import Path

from keel.serve._guard import burst_of, refilled, refused

__all__ = ["SHARED_ENV", "SharedTokenBuckets", "create_table"]

SHARED_ENV = "KEEL_SERVE_SHARED"  # the folder `keel serve --workers N` shares with its workers
TABLE = "rate-limits.bin"
SLOTS = 1 << 16  # keys tracked at once (1.5 MiB)
PROBE = 32  # slots tried per key before the stalest is reused
_SLOT = struct.Struct("<Qdd")  # key hash (0: empty), tokens, last refill (monotonic seconds)


def create_table(folder: Path) -> Path:
    """The zeroed table file every worker maps (made once, before the workers start)."""
    path = folder / TABLE
    with path.open("wb") as handle:
        handle.truncate(SLOTS * _SLOT.size)
    return path


def _key(caller: str) -> int:
    digest = int.from_bytes(hashlib.blake2b(caller.encode(), digest_size=8).digest(), "little")
    return digest or 1  # 0 marks an empty slot


class SharedTokenBuckets:
    """:class:`~keel.serve._guard.TokenBuckets` over the shared table: ``rate`` tokens per second
    up to ``burst`` per caller, across every worker; 0 = unlimited."""

    def __init__(self, path: Path, rate: float, burst: int = 0) -> None:
        self.rate = float(rate)
        self.burst = burst_of(rate, burst)
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, SLOTS * _SLOT.size)

    def take(self, caller: str, now: float | None = None) -> None:
        """Spend one token of ``caller``'s bucket or raise :class:`RateLimited`."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        key = _key(caller)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            offset = self._slot(key)
            found, tokens, last = _SLOT.unpack_from(self._map, offset)
            if found != key:
                tokens, last = self.burst, now
            tokens = refilled(tokens, last, now, self.rate, self.burst)
            allowed = tokens >= 1.0
            _SLOT.pack_into(self._map, offset, key, tokens - 1.0 if allowed else tokens, now)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        if not allowed:
            raise refused(self.rate, tokens)

    def _slot(self, key: int) -> int:
        """The byte offset of ``key``'s slot: its own, else the first empty one, else the stalest
        of the probe window (under the lock)."""
        start = key % SLOTS
        stalest, stalest_at = 0, math.inf
        for i in range(PROBE):
            offset = ((start + i) % SLOTS) * _SLOT.size
            found, _, last = _SLOT.unpack_from(self._map, offset)
            if found == key or found == 0:
                return offset
            if last < stalest_at:
                stalest, stalest_at = offset, last
        return stalest

    def close(self) -> None:
        self._map.close()
        os.close(self._fd)
