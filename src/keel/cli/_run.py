"""`keel run SPEC`: train, evaluate and report."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel.cli._app import _guard, app, err_console


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "—" if value is None else str(value)


def summary_table(metrics: dict) -> Table:
    """val | test | cv (mean ± std) for every scalar metric."""
    table = Table(title="metrics", show_lines=False)
    table.add_column("metric")
    for part in ("val", "test", "cv"):
        if metrics.get(part):
            table.add_column(part, justify="right")
    names = [
        k for k, v in metrics.get("test", {}).items() if isinstance(v, float | int) or v is None
    ]
    for name in names:
        if name == "n":
            continue
        row = [name]
        for part in ("val", "test"):
            if metrics.get(part):
                row.append(_fmt(metrics[part].get(name)))
        if metrics.get("cv"):
            cv = metrics["cv"].get(name)
            row.append(f"{cv['mean']:.4f} ± {cv['std']:.4f}" if cv else "—")
        table.add_row(*row)
    return table


def gate_lines(gates: list[dict]) -> list[str]:
    """``✓ test.accuracy >= 0.97 (0.983)``; a failed gate without a value also says why."""
    lines = []
    for gate in gates:
        value = gate.get("value")
        mark = "[green]✓[/]" if gate["passed"] else "[red]✗[/]"
        detail = f"({value:.4g})" if value is not None else f"— {escape(gate['reason'])}"
        lines.append(f"{mark} {escape(gate['condition'])} {detail}")
    return lines


@app.command(rich_help_panel="Train and evaluate")
def run(
    spec: Path = typer.Argument(..., help="the spec file (.toml)"),
    resume: str | None = typer.Option(None, "--resume", help="continue the killed run RUN_ID"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars"),
    no_register: bool = typer.Option(
        False, "--no-register", help="train and report only; do not register a version"
    ),
) -> None:
    """Train and evaluate the model a spec describes, write its report, register it."""
    from keel.pipeline import run as run_pipeline
    from keel.registry import RegistrySettings

    settings = RegistrySettings.from_env()  # the environment is read here, at the edge
    result = _guard(
        lambda: run_pipeline(
            spec, resume=resume, quiet=quiet, register=not no_register, settings=settings
        )
    )
    if as_json:
        print(json.dumps(result.to_dict()))
        return
    out = Console(highlight=False)
    out.print(summary_table(result.metrics))
    diagnosis = result.diagnosis
    out.print(f"[bold]diagnosis:[/] {diagnosis['verdict']} — {escape(diagnosis['message'])}")
    if diagnosis.get("suggestion"):
        out.print(f"[bold]try next:[/] {escape(diagnosis['suggestion'])}")
    if result.gates:
        passed = sum(g["passed"] for g in result.gates)
        out.print(f"[bold]gates:[/] {passed} of {len(result.gates)} passed")
        for line in gate_lines(result.gates):
            out.print(f"  {line}")
    out.print(f"run [bold]{result.run_id}[/] in {result.seconds:.1f} s")
    if result.report:
        out.print(f"report: {result.report}")
    if result.version:
        out.print(f"registered [bold]{result.version}[/]")
    err_console.file.flush()
