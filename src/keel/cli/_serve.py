"""`keel serve REF…`: verify each model, then serve it over HTTP (v2 and v1 routes)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from typing import Any

import typer

from keel._config import MAX_THREADS, flag_range
from keel.cli._app import _guard, app, err_console, fail
from keel.errors import UserError
from keel.serve.config import ServeConfig


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check(refs: list[str], overrides: dict[str, Any], auth: bool) -> tuple[list[str], str]:
    """Verify every reference before binding; the lines to print and the predictions folder."""
    from keel.registry import RegistrySettings, open_registry
    from keel.serve._served import serve_settings
    from keel.workspace import Workspace

    settings = RegistrySettings.from_env()
    lines = []
    with open_registry(settings, create=False) as registry:
        for ref in refs:
            found = registry.verify(ref)  # IntegrityError (exit 3) names the file
            serve_settings(found.manifest.spec, overrides)  # a bad [serve] value: exit 2
            lines.append(f"{ref} → {found.record.name}:{found.record.version}")
        live = [  # keys the server would accept: not revoked, statement and signature intact
            k
            for k in registry.store.list_api_keys()
            if not k.revoked and registry.api_key_refusal(k) is None
        ]
    if auth and not live:
        err_console.print(
            "[yellow]warning:[/] no API keys exist, so every request but health will get 401; "
            "create one with `keel keys create --role reader`"
        )
    workspace = Workspace.find(home=settings.home, create=False)
    return lines, str(workspace.root / "predictions")


_DAY = 86_400.0  # seconds: the longest wait a flag may ask for (threading waits overflow far past)


@app.command(rich_help_panel="Serve")
def serve(
    refs: list[str] = typer.Argument(..., help="models to serve: digits@production, digits:3"),
    host: str = typer.Option("127.0.0.1", "--host", help="address to bind"),
    port: int = typer.Option(8080, "--port", min=0, max=65535),
    workers: int = typer.Option(1, "--workers", min=1, max=64, help="server processes"),
    server: str = typer.Option("uvicorn", "--server", help="uvicorn or granian"),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="no API keys (only on a loopback address)"
    ),
    max_batch_size: int | None = typer.Option(None, help="[serve] max_batch_size"),
    max_delay_ms: float | None = typer.Option(None, help="[serve] max_delay_ms"),
    max_queue: int | None = typer.Option(None, help="[serve] max_queue (rows)"),
    timeout_s: float | None = typer.Option(None, help="[serve] timeout_s"),
    max_rows: int | None = typer.Option(None, help="[serve] max_rows per request"),
    rate_limit: float | None = typer.Option(
        None, **flag_range(ServeConfig, "rate_limit"), help="requests/s per key; 0 = unlimited"
    ),
    burst: int | None = typer.Option(
        None, **flag_range(ServeConfig, "burst"), help="token bucket size per key"
    ),
    max_body_bytes: int | None = typer.Option(
        None, **flag_range(ServeConfig, "max_body_bytes"), help="larger request bodies get 413"
    ),
    body_timeout_s: float | None = typer.Option(
        None, help="[serve] body_timeout_s: seconds a request body may take to arrive; then 408"
    ),
    log_sample: float | None = typer.Option(
        None, help="fraction of requests written to the prediction log"
    ),
    log_format: str | None = typer.Option(None, help="prediction log format: parquet or jsonl"),
    watch_s: float = typer.Option(
        2.0, min=0, max=_DAY, help="seconds between registry checks for promotions; 0 = never"
    ),
    access_log: bool = typer.Option(True, help="one JSON line per request on stderr"),
    threads: int | None = typer.Option(
        None, min=1, max=MAX_THREADS, help="torch threads per worker (default: cores / workers)"
    ),
    registry_timeout_s: float = typer.Option(
        10.0,
        min=0.1,
        max=_DAY,
        help="seconds a registry call (key check, promote) may take; then 503",
    ),
    load_timeout_s: float = typer.Option(
        120.0, min=0.1, max=_DAY, help="seconds loading a version may take; then the old one stays"
    ),
    max_connections: int | None = typer.Option(
        None,
        min=1,
        max=1_000_000,
        help="open connections per worker (default 1024). uvicorn: past it the longest-idle "
        "one is closed, else requests get 503 (health checks still answer); granian: new ones "
        "wait in the listen queue",
    ),
    backlog: int = typer.Option(
        2048, min=1, max=65535, help="connections waiting to be accepted (the listen queue)"
    ),
) -> None:
    """Serve verified models: Open Inference Protocol (v2), raw records (v1), /metrics, /docs."""
    from keel.serve._app import CONFIG_ENV, configure_logging
    from keel.serve._process import PARENT_ENV, bind, connection_cap, shared_folder, sweep_stale
    from keel.serve._runner import run
    from keel.serve._server import ServerOptions
    from keel.serve._startup import FAILURE_ENV

    def prepare() -> tuple[ServerOptions, list[str]]:
        if server not in ("uvicorn", "granian"):
            raise UserError(f"--server {server!r} is not known: use uvicorn or granian")
        if no_auth and not _loopback(host):
            raise UserError(
                f"--no-auth refuses to bind {host}: without keys the server only listens on "
                "loopback (127.0.0.1 or ::1); drop --no-auth and use `keel keys create`"
            )
        log: dict[str, Any] = {}
        if log_sample is not None:
            log["sample"] = log_sample
        if log_format is not None:
            log["format"] = log_format
        overrides: dict[str, Any] = {
            "max_batch_size": max_batch_size, "max_delay_ms": max_delay_ms,
            "max_queue": max_queue, "timeout_s": timeout_s, "max_rows": max_rows,
            "body_timeout_s": body_timeout_s, "prediction_log": log or None,
        }  # fmt: skip
        overrides = {k: v for k, v in overrides.items() if v is not None}
        lines, predictions = _check(refs, overrides, not no_auth)
        options = ServerOptions(
            refs=tuple(refs), overrides=overrides, auth=not no_auth, rate_limit=rate_limit,
            burst=burst, max_body_bytes=max_body_bytes, watch_s=watch_s,
            predictions_dir=predictions, access_log=access_log,
            threads=threads or max(1, (os.cpu_count() or 1) // workers),
            registry_timeout_s=registry_timeout_s, load_timeout_s=load_timeout_s,
        )  # fmt: skip
        return options, lines

    options, lines = _guard(prepare)
    cap = _guard(lambda: connection_cap(max_connections))  # open-file limit too low: exit 2
    listener = _guard(lambda: bind(host, port, backlog))  # a port in use: one line, exit 2
    port = listener.getsockname()[1]
    os.environ[CONFIG_ENV] = json.dumps(options.to_json())
    os.environ[PARENT_ENV] = str(os.getpid())  # the workers die with this process
    configure_logging(access_log)
    auth = "API keys" if options.auth else "[yellow]OFF (--no-auth, loopback only)[/]"
    for line in lines:
        err_console.print(f"verified {line}")
    err_console.print(
        f"serving on http://{host}:{port} ({server}, {workers} worker(s)); auth: {auth}; "
        "docs at /docs"
    )
    sweep_stale()  # the shared folders of servers that were killed
    from keel.serve._metrics import MULTIPROCESS_ENV
    from keel.serve._shared_limits import SHARED_ENV, create_table

    # Another process (granian's worker, or N workers) may fail to start: it says why in a file
    # here. With N workers, /metrics and rate limits cover them all through this folder too.
    alone = workers == 1 and server == "uvicorn"  # the app runs in this very process
    with contextlib.nullcontext(None) if alone else shared_folder() as shared:
        if shared is None:
            os.environ.pop(FAILURE_ENV, None)  # this process keeps its own; none inherited
        else:
            os.environ[FAILURE_ENV] = str(shared / "failed")
        if shared is not None and workers > 1:
            (shared / "metrics").mkdir()
            create_table(shared)
            os.environ[MULTIPROCESS_ENV] = str(shared / "metrics")
            os.environ[SHARED_ENV] = str(shared)
        failure = _guard(
            lambda: run(server, listener, workers=workers, max_connections=cap, backlog=backlog)
        )
    if failure is not None:  # a worker could not start: its one line, its exit code
        fail(failure)
