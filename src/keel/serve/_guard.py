"""Who may call what, and how often: API keys with roles, and a token bucket per caller.

Roles are ranked: ``reader`` (infer, metadata, metrics) < ``operator`` (+ reload, promote,
rollback of served models) < ``admin`` (+ manage keys). Health routes are open. A key is sent as
``Authorization: Bearer keel_…`` (or ``X-API-Key: keel_…``). Checked keys are cached for
``ttl_s`` seconds so the metadata store is not asked on every request; a key revoked through this
server is refused at once, one revoked elsewhere (``keel keys revoke``) within ``ttl_s``. A key
refused as an integrity failure (its row not signed as it stands, or revoked outside the
database while its row says live: ``UntrustedKey``) gets the same 401, and is logged once per key.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from keel.errors import KeelError, UserError
from keel.registry._apikeys import AuthError, UntrustedKey
from keel.registry.types import ApiKeyRecord
from keel.serve._headers import header_values

__all__ = ["ROLE_RANK", "Caller", "Forbidden", "KeyCache", "RateLimited", "TokenBuckets"]

ROLE_RANK = {"reader": 1, "operator": 2, "admin": 3}
log = logging.getLogger("keel.serve")


class Forbidden(UserError):
    """A valid key whose role is below what the route needs."""

    http_status = 403


class RateLimited(UserError):
    """The caller spent its token bucket: 429 with ``Retry-After``."""

    http_status = 429

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Caller:
    """Who is calling: a key (id, role) or, with ``--no-auth``, the client address."""

    id: str
    role: str
    key_id: str | None = None

    @property
    def actor(self) -> str:
        return f"api-key:{self.key_id}" if self.key_id else f"no-auth:{self.id}"

    def require(self, role: str, what: str) -> None:
        if ROLE_RANK[self.role] < ROLE_RANK[role]:
            raise Forbidden(
                f"API key {self.key_id} has role {self.role}; {what} needs {role} or above: "
                f"create one with `keel keys create --role {role}`"
            )


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key in ``Authorization: Bearer …`` or ``X-API-Key``, or None.

    The one place both request paths read a key, so they cannot disagree: a request with two
    ``Authorization`` or two ``X-API-Key`` headers, or both headers with different keys, is
    refused (one layer could read the first copy and another the last)."""
    auth = _only(headers, "authorization")
    given = _only(headers, "x-api-key")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthError(
                "the Authorization header must read 'Bearer keel_…' with a key from "
                "`keel keys create`"
            )
        key = value.strip()
        if given is not None and given.strip() != key:
            raise AuthError(
                "Authorization and X-API-Key carry different keys; send the key in one of them"
            )
        return key
    return given or None


def _only(headers: Mapping[str, str], name: str) -> str | None:
    values = header_values(headers, name)
    if len(values) > 1:
        raise AuthError(f"the {name} header is sent {len(values)} times; send one key, once")
    return values[0] if values else None


class KeyCache:
    """Checks keys through ``check`` (the store lookup, run off the event loop) and remembers
    both good and bad answers for ``ttl_s`` seconds, keyed by the key's sha256."""

    def __init__(
        self,
        check: Callable[[str], Awaitable[ApiKeyRecord]],
        *,
        ttl_s: float = 5.0,
        max_entries: int = 10_000,
    ) -> None:
        self._check = check
        self.ttl_s = ttl_s
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, ApiKeyRecord | KeelError]] = OrderedDict()
        self._reported: OrderedDict[str, None] = OrderedDict()  # untrusted key ids logged

    async def caller(self, key: str | None) -> Caller:
        if not key:
            raise AuthError(
                "this route needs an API key: send 'Authorization: Bearer keel_…' (create one "
                "with `keel keys create --role reader`)"
            )
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        now = time.monotonic()
        hit = self._entries.get(digest)
        if hit is None or hit[0] <= now:
            try:
                answer: ApiKeyRecord | KeelError = await self._check(key)
            except AuthError as err:
                answer = err
                if isinstance(err, UntrustedKey):
                    self._report(err)
            self._entries[digest] = (now + self.ttl_s, answer)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            hit = self._entries[digest]
        answer = hit[1]
        if isinstance(answer, KeelError):
            raise AuthError(str(answer))
        return Caller(id=answer.key_id, role=answer.role, key_id=answer.key_id)

    def _report(self, err: UntrustedKey) -> None:
        """Log an untrusted key once (per key id, the last ``max_entries`` remembered)."""
        if err.key_id in self._reported:
            return
        self._reported[err.key_id] = None
        while len(self._reported) > self._max:
            self._reported.popitem(last=False)
        log.error("integrity failure: %s", err)

    def forget(self) -> None:
        """Drop every cached answer (after a key is revoked here)."""
        self._entries.clear()


def burst_of(rate: float, burst: int) -> float:
    """A bucket's size: ``burst``, or one second of ``rate`` (at least 1) when 0."""
    return float(burst or max(1, math.ceil(rate)))


def refilled(tokens: float, last: float, now: float, rate: float, burst: float) -> float:
    """The tokens of a bucket at ``now`` that held ``tokens`` at ``last``."""
    return min(burst, tokens + max(0.0, now - last) * rate)


def refused(rate: float, tokens: float) -> RateLimited:
    """The 429 for a caller whose bucket holds ``tokens`` (< 1), with when to retry."""
    wait = math.ceil((1.0 - tokens) / rate)
    return RateLimited(
        f"rate limit of {rate:g} requests/s for this key reached; retry in {wait} s",
        retry_after_s=max(1, wait),
    )


class TokenBuckets:
    """One bucket per caller: ``rate`` tokens per second up to ``burst``; 0 = unlimited."""

    def __init__(self, rate: float, burst: int = 0, *, max_callers: int = 100_000) -> None:
        self.rate = float(rate)
        self.burst = burst_of(rate, burst)
        self._max = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, caller: str, now: float | None = None) -> None:
        """Spend one token of ``caller``'s bucket or raise :class:`RateLimited`."""
        if self.rate <= 0:
            return
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.get(caller, (self.burst, now))
        tokens = refilled(tokens, last, now, self.rate, self.burst)
        if tokens < 1.0:
            self._buckets[caller] = (tokens, now)
            raise refused(self.rate, tokens)
        self._buckets[caller] = (tokens - 1.0, now)
        self._buckets.move_to_end(caller)
        while len(self._buckets) > self._max:
            self._buckets.popitem(last=False)
