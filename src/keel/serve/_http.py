"""Bounds on what a client may send before its request reaches the app: the request head.

uvicorn with httptools sets no limit on the request line or the headers, and httptools joins a
header value that arrives in pieces by concatenation, so one 80 MB header line costs seconds of
event-loop time (every other connection waits) before any route or key check sees it. It also sets
no deadline on a head that trickles in a byte at a time (slowloris) or never starts.
:class:`BoundedHttpTools` is uvicorn's httptools protocol with those bounds, checked as bytes
arrive:

- the request target (URL) at most :data:`MAX_TARGET` bytes, else ``414``;
- the whole head (request line and headers) at most :data:`MAX_HEAD` bytes and
  :data:`MAX_FIELDS` header fields, else ``431``;
- the head complete within :data:`HEAD_TIMEOUT_S` seconds (checked every second) of the
  connection opening (first request) or of its first byte (later requests on a kept-alive
  connection), else ``408`` (or a plain close when nothing was sent).

Each refusal is ``{"error": "…"}`` and closes the connection. The bytes of a head are counted
after every socket read, so at most one read past the bound is parsed; the target, the field count
and the exact size are checked when the head is complete. Bodies are not heads: their limits are
the routes' (``max_body_bytes``). ``--server granian`` gets the same
bounds from its own HTTP/1 settings (:func:`granian_http1`): hyper answers 431 past its buffer and
closes a head that is not complete in time.

**Connections** per process are capped (uvicorn's ``limit_concurrency``, ``keel serve
--max-connections``); uvicorn's own check answers 503 to every request once that many are open,
idle or not, so a client holding idle connections would starve everyone, health checks included.
Here, a connection past the cap closes the connection that has been idle the longest (no request
in progress: a keep-alive wait, or a head not begun), as nginx reuses idle keep-alive connections;
only when every other connection has a request in progress does the newcomer's request get 503
(``Retry-After``, then close), and health checks (:data:`HEALTH`) are answered even then.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httptools
import orjson
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

__all__ = [
    "HEAD_TIMEOUT_S",
    "HEALTH",
    "MAX_FIELDS",
    "MAX_HEAD",
    "MAX_TARGET",
    "BoundedHttpTools",
    "granian_http1",
]

MAX_TARGET = 8 * 1024  # bytes in the request target (path and query)
MAX_HEAD = 64 * 1024  # bytes in the request line and every header together
MAX_FIELDS = 100  # header fields
HEAD_TIMEOUT_S = 10.0  # seconds for a request head to arrive in full
_TICK_S = 1.0  # how often a connection checks its head's deadline
HEALTH = frozenset({b"/v2/health/live", b"/v2/health/ready"})  # answered past the connection cap


class _Refused(Exception):
    """A head past a bound: the status and the one-line reason to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _too_large_head(what: str) -> _Refused:
    return _Refused(431, f"request headers too large: {what}; send fewer or smaller headers")


def _head_size(target: bytes, headers: list[tuple[bytes, bytes]]) -> int:
    """The bytes of a parsed head: request line and fields (as sent, give or take spaces)."""
    return len(target) + 16 + sum(len(name) + len(value) + 4 for name, value in headers)


class BoundedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads (size, field count, time).

    Per request it adds a few attribute updates (the head's deadline is checked by one timer per
    connection, every :data:`_TICK_S`, not armed and cancelled per request); the connection cap
    costs one comparison per connection until it is reached."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reading_head = True  # from the end of one message to the end of the next head
        self._head_bytes = 0  # bytes read since the last message ended
        self._head_due: float | None = None  # when the head being read must be complete
        self._began = False  # the head being read has started arriving
        self._tick: asyncio.TimerHandle | None = None
        self._cap: int | None = self.limit_concurrency  # the connection cap: ours, not uvicorn's
        self.limit_concurrency = None
        self._idle_since = 0.0  # when the last response ended (or the connection opened)
        self._over_cap = False  # opened past the cap with no idle connection to close

    # -- the connection --------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._idle_since = now = self.loop.time()
        self._head_due = now + HEAD_TIMEOUT_S  # the first head: from connecting
        self._tick = self.loop.call_later(_TICK_S, self._check_due)
        if self._cap is not None and len(self.connections) > self._cap:
            self._make_room()

    def _make_room(self) -> None:
        """Past the cap: close the connection idle the longest, if any is idle."""
        idle = [
            c
            for c in self.connections
            if c is not self and isinstance(c, BoundedHttpTools) and c._idle
        ]
        if idle:
            min(idle, key=lambda c: c._idle_since).transport.close()
        else:
            self._over_cap = True

    @property
    def _idle(self) -> bool:
        """No request in progress: waiting for a head that has not begun."""
        return (
            self._reading_head
            and not self._began
            and (self.cycle is None or self.cycle.response_complete)
            and not self.transport.is_closing()
        )

    def on_response_complete(self) -> None:
        self._idle_since = self.loop.time()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's parse loop, plus the head bounds (a refusal answers and closes)."""
        self._unset_keepalive_if_required()
        if self._reading_head:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            if isinstance(err.__context__, _Refused):
                self._answer(err.__context__.status, str(err.__context__))
            else:
                self._answer(400, "invalid HTTP request")
            return
        except httptools.HttpParserError:
            self._answer(400, "invalid HTTP request")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._reading_head and self._head_bytes > MAX_HEAD:
            self._answer(431, str(_too_large_head(f"more than {MAX_HEAD // 1024} KiB")))

    # -- parser callbacks ------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._began = True
        if self._head_due is None:
            self._head_due = self.loop.time() + HEAD_TIMEOUT_S

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._began = False
        self._head_due = None
        if len(self.url) > MAX_TARGET:
            raise _Refused(414, f"the request target is longer than {MAX_TARGET // 1024} KiB")
        if len(self.headers) > MAX_FIELDS:
            raise _too_large_head(f"more than {MAX_FIELDS} fields")
        if self._head_bytes > MAX_HEAD and _head_size(self.url, self.headers) > MAX_HEAD:
            raise _too_large_head(f"more than {MAX_HEAD // 1024} KiB")  # came in one read
        if self._over_cap and self._still_over_cap():
            raise _Refused(
                503,
                f"the server holds its most connections ({self._cap}), each with a request in "
                "progress; retry shortly",
            )
        super().on_headers_complete()

    def _still_over_cap(self) -> bool:
        """Still past the cap (room may have been made), and not a health check."""
        assert self._cap is not None
        if len(self.connections) <= self._cap:
            self._over_cap = False
            return False
        return self.url.split(b"?", 1)[0] not in HEALTH

    def on_message_complete(self) -> None:
        self._reading_head = True
        self._head_bytes = 0
        super().on_message_complete()

    # -- refusals --------------------------------------------------------------------------------

    def _check_due(self) -> None:
        """Every tick: cut off a head that is overdue (408, or a plain close if none began)."""
        self._tick = None
        if self.transport.is_closing():
            return
        due = self._head_due
        if due is not None and self._reading_head and self.loop.time() >= due:
            if self.cycle is not None and not self.cycle.response_complete:
                self.cycle.keep_alive = False  # a pipelined head stalls: close after this answer
            elif not self._began:
                self.transport.close()  # connected and sent nothing: nothing to answer
                return
            else:
                self._answer(408, f"the request head did not arrive within {HEAD_TIMEOUT_S:g} s")
                return
        self._tick = self.loop.call_later(_TICK_S, self._check_due)

    def _answer(self, status: int, message: str) -> None:
        """Answer ``status`` with ``{"error": message}`` and close the connection."""
        self._reading_head = False
        body = orjson.dumps({"error": message})
        head = [STATUS_LINE[status]]
        head += [
            name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers
        ]
        if status == 503:
            head.append(b"retry-after: 1\r\n")
        head += [
            b"content-type: application/json\r\n",
            b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        self.transport.close()


def granian_http1() -> Any:
    """granian's HTTP/1 settings with the same head bounds (hyper counts its read buffer)."""
    from granian.http import HTTP1Settings

    return HTTP1Settings(
        header_read_timeout=int(HEAD_TIMEOUT_S * 1000),
        max_buffer_size=MAX_HEAD + MAX_TARGET,
    )
