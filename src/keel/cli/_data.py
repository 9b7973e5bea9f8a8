"""`keel data check SPEC`: the data checks of a spec, without training.

The commands' docstrings are their help, read as rich markup: a section is written ``\\[data.pii]``
there, else rich takes it for a style and drops it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel._config import flag_range
from keel.cli._app import _guard, app, err_console, fail
from keel.data.config import DataConfig
from keel.errors import DataError

data_app = typer.Typer(help="Check data before training.", no_args_is_help=True)
app.add_typer(data_app, name="data", rich_help_panel="Train and evaluate")
out = Console(highlight=False)


@data_app.command("check")
def check(
    spec: Path = typer.Argument(..., help="the spec file (.toml)"),
    as_json: bool = typer.Option(False, "--json", help="print the findings as one JSON object"),
    html: bool = typer.Option(True, "--html/--no-html", help="also write the HTML data report"),
) -> None:
    r"""Load and split the spec's data and run the checks of \[data.checks]: duplicates,
    conflicting labels, train/test leakage, missing values, constant columns, imbalance and
    outliers. Writes <name>-<time>.json and a data report (.html, with figures) under
    .keel/checks/; exit 2 when a check set to "error" finds something."""
    from keel.data import summarize
    from keel.data._checks import check_dataset
    from keel.pipeline._data_report import write_check_report
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec

    home = _home()

    def run() -> tuple[dict[str, Any], Path, Path | None, Any]:
        loaded = load_spec(spec)
        s = loaded.spec
        if s.data.chunk_rows:  # a file larger than memory: streamed, no split
            return _streamed(spec, s, loaded.base_dir, None, html, loaded.text, home)
        cleaned = clean(s, loaded.base_dir)
        dataset, split = cleaned.dataset, cleaned.split
        result = cleaned.check or check_dataset(dataset, split, s.data.checks)
        doc = {"spec": str(spec), "summary": summarize(dataset, split), **result.to_dict()}
        doc |= _repairs(cleaned.pii, cleaned.dedup)
        path = _save(s.name, doc, home)
        report = None
        if html:
            report = write_check_report(
                path.with_suffix(".html"), spec=s, spec_text=loaded.text, summary=doc["summary"],
                cleaned=cleaned, check=result,
            )  # fmt: skip
        return doc, path, report, result

    _finish(*_guard(run), as_json=as_json)


def _finish(
    doc: dict[str, Any], path: Path, report: Path | None, result: Any, *, as_json: bool,
    cleaned: Path | None = None,
) -> None:  # fmt: skip
    """Print the findings (or one JSON object); exit 2 when a check set to "error" found one."""
    if as_json:
        print(json.dumps({**doc, "written": str(path), "report": str(report) if report else None}))
    else:
        _print(doc, path, report)
        if cleaned is not None:
            err_console.print(f"cleaned rows: {cleaned}")
    if result is not None and result.errors:
        first = result.errors[0]
        fail(DataError(f"data check {first.check}: {first.message}"))


def _print(doc: dict[str, Any], path: Path, report: Path | None) -> None:
    summary = doc["summary"]
    out.print(
        f"{escape(summary['name'])}: {doc['rows']} rows, task {summary['task']}, "
        f"types {', '.join(f'{k} {v}' for k, v in summary['kinds'].items() if v)}"
    )
    if "dedup" in doc:
        d = doc["dedup"]
        out.print(
            f"removed before the split: {d['exact_removed']} exact and {d['near_removed']} near "
            f"duplicates ({d['rows_in']} → {d['rows_out']} rows)"
        )
    if "pii" in doc:
        found = doc["pii"]["found"]
        listed = ", ".join(f"{k} {v}" for k, v in found.items() if v) or "none"
        out.print(f"personal data scrubbed: {listed}; dropped: {doc['pii']['dropped'] or 'none'}")
    if not doc["findings"]:
        out.print("[green]no findings[/]")
    else:
        table = Table("severity", "check", "finding")
        for f in doc["findings"]:
            color = "red" if f["severity"] == "error" else "yellow"
            table.add_row(f"[{color}]{f['severity']}[/]", f["check"], escape(f["message"]))
        out.print(table)
    err_console.print(f"written: {path}")
    if report is not None:
        err_console.print(f"report: {report}")


def _repairs(pii: Any, dedup: Any) -> dict[str, Any]:
    """The JSON entries of what was changed before the checks (counts only)."""
    out: dict[str, Any] = {}
    if pii is not None:
        out["pii"] = pii.to_dict()
    if dedup is not None:
        out["dedup"] = dedup.to_lineage()
    return out


def _home() -> str | None:
    """``KEEL_HOME``, read once at the edge, as every command reads it."""
    from keel.registry import RegistrySettings

    return RegistrySettings.from_env().home


def _save(name: str, doc: dict[str, Any], home: str | None) -> Path:
    """``doc`` written to ``checks/<name>-<time>.json`` in the workspace (``home``, else the
    `.keel/` nearest the current folder)."""
    from keel._io import write_json_atomic
    from keel.workspace import Workspace

    root = Workspace.find(home=home).root
    return write_json_atomic(root / "checks" / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json", doc)


def _streamed(
    spec: Path, s: Any, base_dir: Path, out_path: Path | None, html: bool, text: str,
    home: str | None,
) -> tuple[dict[str, Any], Path, Path | None, Any]:  # fmt: skip
    """``[data] chunk_rows``: checks, dedup and PII streamed over the file; JSON (and with
    ``html`` the data report) under checks/."""
    from keel.data._chunked import clean_chunked
    from keel.data.types import COLUMN_KINDS as kinds

    done = clean_chunked(s.data, base_dir, seed=s.seed, out=out_path)
    summary = {
        "name": done.name, "source": s.data.source, "rows": done.rows_out, "task": done.task,
        "kinds": {k: sum(v == k for v in done.kinds.values()) for k in kinds},
        "chunks": done.chunks, "rows_in": done.rows_in,
    }  # fmt: skip
    result = done.check
    doc: dict[str, Any] = {"spec": str(spec), "summary": summary, "streamed": True}
    if result is not None:
        doc.update(result.to_dict())
    else:
        doc.update({"rows": done.rows_out, "errors": 0, "warnings": 0, "findings": []})
    doc |= _repairs(done.pii, done.dedup)
    if out_path is not None:
        doc["out"] = str(out_path)
    path = _save(s.name, doc, home)
    report = None
    if html:
        from keel.pipeline._data_report import write_streamed_report

        report = write_streamed_report(
            path.with_suffix(".html"), spec=s, spec_text=text, summary=summary, done=done
        )
    return doc, path, report, result


@data_app.command("clean")
def clean_file(
    spec: Path = typer.Argument(..., help="the spec file (.toml)"),
    out_path: Path = typer.Option(
        ..., "--out", help="where the cleaned rows go (.csv/.parquet/.jsonl)"
    ),
    chunk_rows: int = typer.Option(
        100_000,
        "--chunk-rows",
        **flag_range(DataConfig, "chunk_rows"),
        help="rows per chunk unless the spec sets chunk_rows",
    ),
    as_json: bool = typer.Option(False, "--json", help="print the result as one JSON object"),
    html: bool = typer.Option(True, "--html/--no-html", help="also write the HTML data report"),
) -> None:
    r"""Stream the spec's data file in chunks (memory bounded by the chunk): drop identifiers and
    scrub personal data (\[data.pii]), remove duplicates (\[data.dedup]), run \[data.checks], and
    write the kept rows, typed and scrubbed, to --out. Exit 2 when a check set to "error" finds
    something."""
    from keel.spec import load_spec

    home = _home()

    def run() -> tuple[dict[str, Any], Path, Path | None, Any]:
        loaded = load_spec(spec)
        s = loaded.spec
        if not s.data.chunk_rows:
            s = s.model_copy(update={"data": s.data.model_copy(update={"chunk_rows": chunk_rows})})
        return _streamed(spec, s, loaded.base_dir, out_path, html, loaded.text, home)

    _finish(*_guard(run), as_json=as_json, cleaned=out_path)
