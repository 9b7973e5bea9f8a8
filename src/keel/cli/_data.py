"""`keel data check SPEC`: the data checks of a spec, without training."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel.cli._app import _guard, app, err_console, fail
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
    """Load and split the spec's data and run the checks of [data.checks]: duplicates,
    conflicting labels, train/test leakage, missing values, constant columns, imbalance and
    outliers. Writes <name>-<time>.json and a data report (.html, with figures) under
    .keel/checks/; exit 2 when a check set to "error" finds something."""
    from keel._io import write_json_atomic
    from keel.data import summarize
    from keel.data._checks import check_dataset
    from keel.pipeline._data_report import write_check_report
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec
    from keel.workspace import Workspace

    def run() -> tuple[dict[str, Any], Path, Path | None, Any]:
        loaded = load_spec(spec)
        s = loaded.spec
        cleaned = clean(s, loaded.base_dir)
        dataset, split = cleaned.dataset, cleaned.split
        result = cleaned.check or check_dataset(dataset, split, s.data.checks)
        doc = {"spec": str(spec), "summary": summarize(dataset, split), **result.to_dict()}
        if cleaned.pii is not None:
            doc["pii"] = cleaned.pii.to_dict()
        if cleaned.dedup is not None:
            doc["dedup"] = cleaned.dedup.to_lineage()
        folder = Workspace.find().root / "checks"
        path = folder / f"{s.name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        write_json_atomic(path, doc)
        report = None
        if html:
            report = write_check_report(
                path.with_suffix(".html"), spec=s, spec_text=loaded.text, summary=doc["summary"],
                cleaned=cleaned, check=result,
            )  # fmt: skip
        return doc, path, report, result

    doc, path, report, result = _guard(run)
    if as_json:
        print(json.dumps({**doc, "written": str(path), "report": str(report) if report else None}))
    else:
        _print(doc, path, report)
    if result.errors:
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
