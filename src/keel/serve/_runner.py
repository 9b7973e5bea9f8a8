"""Running the HTTP server on the socket ``keel serve`` bound, in one process or N.

- **uvicorn** (the default) serves :class:`~keel.serve._http.BoundedHttpTools` on that socket; its
  connection cap is ``limit_concurrency`` (read by the protocol, which keeps health checks
  answering and closes idle connections to make room). With N workers uvicorn's supervisor
  restarts a worker that dies, and stops them all when one fails to start.
- **granian** is handed the same socket too (left to itself it binds the address again, and a
  port taken between keel's check and that bind was a Rust panic); it speaks HTTP/1 only (in its
  automatic mode it waits for the first bytes to tell HTTP/2 from HTTP/1 with no deadline, so a
  connection that sends nothing stayed open for good); its cap is ``backpressure``: past it,
  connections wait in the listen backlog instead of getting 503. Passing the socket needs the
  ``fork`` start method (Python up to 3.13 on Linux); under another, granian binds the address
  itself and a port taken meanwhile is the one-line error.
- **A worker that cannot start** is reported by :func:`run` as the error to print (its class gives
  the exit code); a server that failed to start without saying why is an internal error.
"""

from __future__ import annotations

import multiprocessing
import socket
from typing import Any

from keel.errors import KeelError
from keel.serve._process import port_in_use
from keel.serve._startup import quiet_servers_after_failure, startup_failure

__all__ = ["APP", "run"]

APP = "keel.serve._process:worker_app"
_UNEXPLAINED = "the server failed to start; the lines above say why"


def run(
    server: str, listener: socket.socket, *, workers: int, max_connections: int, backlog: int
) -> KeelError | None:
    """Serve on ``listener`` until stopped; the error to report if a server process failed."""
    quiet_servers_after_failure()
    run_server = _granian if server == "granian" else _uvicorn
    failed = run_server(listener, workers, max_connections, backlog)
    failure = startup_failure()
    if failure is None and failed:
        failure = KeelError(_UNEXPLAINED)
    return failure


def _uvicorn(listener: socket.socket, workers: int, max_connections: int, backlog: int) -> bool:
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    from keel.serve._http import BoundedHttpTools

    config = uvicorn.Config(
        APP, factory=True, workers=workers, log_level="warning", access_log=False,
        loop="uvloop", http=BoundedHttpTools, proxy_headers=False, timeout_graceful_shutdown=15,
        limit_concurrency=max_connections, backlog=backlog,
    )  # fmt: skip
    if workers > 1:
        supervisor = Multiprocess(config, sockets=[listener])
        supervisor.run()  # returns when stopped, or when a worker failed to start
        return any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
    try:
        uvicorn.Server(config).run(sockets=[listener])
    except SystemExit as stop:  # uvicorn's exit when the app failed to start
        return stop.code not in (None, 0)
    return False


def _granian(listener: socket.socket, workers: int, max_connections: int, backlog: int) -> bool:
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels

    from keel.serve._http import granian_http1

    options: dict[str, Any] = {
        "interface": Interfaces.ASGI, "workers": workers, "factory": True, "log_access": False,
        "log_level": LogLevels.warning, "http": HTTPModes.http1, "http1_settings": granian_http1(),
        "backlog": backlog, "backpressure": max_connections,
    }  # fmt: skip
    host, port = listener.getsockname()[:2]
    if multiprocessing.get_start_method() == "fork":
        server = _on_socket(listener)(APP, address=host, port=port, **options)
    else:  # the workers are spawned and cannot inherit the socket: granian binds it again
        listener.close()
        from granian import Granian

        server = Granian(APP, address=host, port=port, **options)
    try:
        server.serve()
    except SystemExit as stop:  # a worker died: granian stops them all and exits 1
        return stop.code not in (None, 0)
    except RuntimeError as err:
        if "Address already in use" in str(err):
            raise port_in_use(host, port) from None
        raise
    return False


def _on_socket(listener: socket.socket) -> Any:
    """granian's server class, serving on ``listener`` rather than binding its own socket.

    granian builds its socket in ``_init_shared_socket`` (the name and the three attributes below
    are granian 2's); on Linux its workers then bind one each, elsewhere they share the one in
    ``_shd``: that sharing is what this uses, with keel's socket."""
    from granian import Granian
    from granian.net import SocketHolder

    if not hasattr(Granian, "_init_shared_socket"):
        raise KeelError(
            "this granian cannot be handed a socket (granian 2 could): use --server uvicorn"
        )

    class OnSocket(Granian):  # type: ignore[misc, valid-type]
        def _init_shared_socket(self) -> None:
            self._ssp = None
            self._shd = SocketHolder(listener.fileno(), False, self.backlog)
            self._sfd = listener.fileno()
            self._sso = listener

    return OnSocket
