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
) -> None:
    """Load and split the spec's data and run the checks of [data.checks]: duplicates,
    conflicting labels, train/test leakage, missing values, constant columns, imbalance and
    outliers. Writes data_check.json under .keel/checks/; exit 2 when a check set to "error"
    finds something."""
    from keel._io import write_json_atomic
    from keel.data import summarize
    from keel.data._checks import check_dataset
    from keel.pipeline._prepare import clean
    from keel.spec import load_spec
    from keel.workspace import Workspace

    def run() -> tuple[dict[str, Any], Path, Any]:
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
        return doc, path, result

    doc, path, result = _guard(run)
    if as_json:
        print(json.dumps({**doc, "written": str(path)}))
    else:
        _print(doc, path)
    if result.errors:
        first = result.errors[0]
        fail(DataError(f"data check {first.check}: {first.message}"))


def _print(doc: dict[str, Any], path: Path) -> None:
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
