"""`keel validate SPEC`: check a spec without running it."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from keel.cli._app import _guard, app
from keel.errors import one_line


@app.command(rich_help_panel="Train and evaluate")
def validate(
    spec: Path = typer.Argument(..., help="the spec file (.toml)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Check a spec: keys, types and values. Exit 2 with one line naming the problem."""
    from keel.spec import load_spec

    loaded = _guard(lambda: load_spec(spec))
    if as_json:
        print(json.dumps({"valid": True, "spec": loaded.spec.model_dump(mode="json")}))
    else:
        s = loaded.spec
        print(one_line(f"{spec}: valid ({s.name}: model {s.model.name}, data {s.data.source})"))
