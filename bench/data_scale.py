"""Scaling the data operators: the Ray engine against the local one, and streaming against loading.

1. ``[data] engine = "ray"`` against ``"local"`` on the same data, in one process: near dedup of
   ``--docs`` texts (the corpus of ``bench/dedup.py``, planted near copies included) with
   ``engine.dedup(series, near=True)``, and PII masking of a text frame of ``--pii-mb`` MB (the
   support tickets of ``bench/pii.py``) with ``engine.scrub``. Ray's start-up (``ray.init`` with
   ``--num-cpus`` CPUs) is timed on its own; then Ray's first call, and rounds alternating a local
   call and a warm Ray call (medians). The outputs must be identical: keep masks and dedup report
   digests, scrubbed frames and PII reports.
2. ``[data] chunk_rows`` streaming against ``load_dataset``: a CSV of ``--csv-mb`` MB (a text
   column, three numeric columns, a label; ``--dup`` of the rows are exact copies of others). Each
   subject runs in a child process that first runs it on a small file (every lazy import loaded),
   then on the big one; the figure is the growth of the peak resident size (``VmHWM``) over the
   warm-up's, and the wall time of the big run. ``clean_chunked`` reads chunks of 5,000 rows with
   exact dedup and the data checks, and writes the kept rows; ``load_dataset`` (the baseline)
   only reads and types the whole file. A third row is the in-memory path doing that work too
   (``keel.pipeline._prepare.clean``: load, exact dedup, split, checks).

Ratios are against the baseline measured in the same run (local engine, in-memory load): on a
shared machine the absolute times move, the ratios much less.

    python bench/data_scale.py            # 100,000 docs, 25 MB of PII text, a 50 MB CSV
    python bench/data_scale.py --quick    # 20,000 docs, 5 MB, 15 MB
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv

from keel.data._engine import LocalEngine
from keel.data.config import RayConfig
from keel.data.pii import PiiConfig


def _bench(name: str) -> ModuleType:
    """Another script of this folder as a module (bench/ is no package), for its generator."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", Path(__file__).with_name(name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


corpus = _bench("dedup.py").corpus  # texts with planted near copies
ticket_rows = _bench("pii.py").rows  # support tickets with planted personal data

# -- Ray against local ------------------------------------------------------------------------


def timed(run: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def versus(
    local: Callable[[], Any], ray: Callable[[], Any], rounds: int
) -> tuple[float, float, float, Any, Any]:
    """Ray's first call, then ``rounds`` of (local, warm Ray): (first, local median, warm
    median, the local result, Ray's last result)."""
    first, ray_out = timed(ray)
    local_s: list[float] = []
    ray_s: list[float] = []
    local_out = None
    for _ in range(rounds):
        seconds, local_out = timed(local)
        local_s.append(seconds)
        seconds, ray_out = timed(ray)
        ray_s.append(seconds)
    return first, statistics.median(local_s), statistics.median(ray_s), local_out, ray_out


def engines(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Part 1: near dedup and PII scrubbing, local and on Ray, same data, same process."""
    from keel.data._ray import RayEngine, start_ray

    started = time.perf_counter()
    texts, _, planted = corpus(args.docs, 0.10, args.seed)
    series = pd.Series(texts)
    tickets, pii_values = ticket_rows(args.pii_mb, 3.0, args.seed)
    frame = pd.DataFrame({"ticket": tickets, "n": np.arange(len(tickets))})
    mb = sum(len(t.encode()) + 1 for t in tickets) / 1e6
    print(
        f"part 1: {len(texts):,} docs ({len(planted):,} planted near copies); {len(tickets):,} "
        f"tickets, {mb:.1f} MB, {pii_values:,} PII values; generated in "
        f"{time.perf_counter() - started:.1f} s"
    )

    config = RayConfig(num_cpus=args.num_cpus, block_rows=args.block_rows)
    import ray

    init_s, _ = timed(lambda: start_ray(config))
    print(
        f"ray {ray.__version__}: ray.init(num_cpus={config.num_cpus}) {init_s:.2f} s; "
        f"block_rows {config.block_rows:,} ({-(-len(series) // config.block_rows)} blocks of docs, "
        f"{-(-len(frame) // config.block_rows)} of tickets)"
    )
    local, remote = LocalEngine(), RayEngine(config)
    results: list[dict[str, Any]] = []
    try:
        local.dedup(series[:500], near=True)  # warm: band choice and probe tables are cached
        first, local_s, warm_s, (l_keep, l_rep), (r_keep, r_rep) = versus(
            lambda: local.dedup(series, near=True),
            lambda: remote.dedup(series, near=True),
            args.rounds,
        )
        same = bool(np.array_equal(l_keep, r_keep)) and l_rep.digest == r_rep.digest
        kept = f"{int(l_keep.sum()):,} of {len(l_keep):,} kept"
        results.append(
            dict(
                name="near dedup",
                size=f"{len(series):,} docs",
                init=init_s,
                first=first,
                warm=warm_s,
                local=local_s,
                same=same,
                note=kept,
            )
        )

        pii = PiiConfig(enabled=True)
        env: dict[str, str] = {}
        local.scrub(frame.iloc[:200], pii, env)
        first, local_s, warm_s, (l_frame, l_rep), (r_frame, r_rep) = versus(
            lambda: local.scrub(frame, pii, env),
            lambda: remote.scrub(frame, pii, env),
            args.rounds,
        )
        same = l_frame.equals(r_frame) and l_frame.dtypes.equals(r_frame.dtypes)
        same = same and l_rep == r_rep
        found = f"{sum(l_rep.found.values()):,} values masked"
        results.append(
            dict(
                name="PII scrub (mask)",
                size=f"{mb:.1f} MB",
                init=init_s,
                first=first,
                warm=warm_s,
                local=local_s,
                same=same,
                note=found,
            )
        )
    finally:
        ray.shutdown()
    for r in results:
        print(f"{r['name']}: {r['note']}; identical: {'yes' if r['same'] else 'NO'}")
    return results


# -- chunked streaming against in-memory load -------------------------------------------------

_CHILD = """
import json, sys, time
from pathlib import Path
from keel.data import load_dataset
from keel.data._chunked import clean_chunked
from keel.data.config import DataConfig
from keel.pipeline._prepare import clean
from keel.spec import Spec

mode, small, big = sys.argv[1:4]

def run(path):
    cfg = DataConfig(source=Path(path).name, target="label", chunk_rows=5000,
                     columns={"note": "text"}, dedup={"exact": True},
                     checks={"near_duplicates": "off"})
    base = Path(path).parent
    if mode == "chunked":
        done = clean_chunked(cfg, base, out=Path(path).with_suffix(".out.csv"))
        return done.rows_out
    if mode == "clean":  # the same work in memory: load, dedup, split, checks
        spec = Spec(name="big", data=cfg.model_copy(update={"chunk_rows": None}),
                    model={"name": "mlp"})
        return len(clean(spec, base).dataset.target)
    return len(load_dataset(cfg, base_dir=base).target)

def peak_kb():  # VmHWM: this process's peak resident size (ru_maxrss counts the parent's too)
    line = next(x for x in open("/proc/self/status") if x.startswith("VmHWM:"))
    return int(line.split()[1])

run(small)  # warm-up: every lazily imported module is loaded, the pools are set up
base = peak_kb()
started = time.perf_counter()
rows = run(big)
seconds = time.perf_counter() - started
print(json.dumps({"grown_kb": peak_kb() - base, "seconds": seconds, "rows": rows}))
"""


def write_csv(folder: Path, mb: float, dup: float, seed: int) -> tuple[Path, Path, int, int]:
    """A CSV of about ``mb`` MB (tickets as the text, numbers, a label; ``dup`` of the rows are
    copies of earlier ones) and a 200-row one for the warm-up: (big, small, rows, copies)."""
    tickets, _ = ticket_rows(mb * 0.93, 3.0, seed)  # the other columns add ~7%
    rng = np.random.default_rng(seed)
    n = len(tickets)
    table = pd.DataFrame(
        {
            "note": tickets,
            "a": rng.normal(0, 1, n).round(4),
            "b": rng.integers(0, 1000, n),
            "c": rng.exponential(3.0, n).round(3),
            "label": np.where(rng.random(n) < 0.7, "yes", "no"),
        }
    )
    copies = round(n * dup)
    source = np.arange(n)
    for i in np.sort(rng.choice(np.arange(1, n), copies, replace=False)):
        source[i] = source[rng.integers(0, i)]  # a copy of an earlier row (as it ends up)
    arrow = pa.Table.from_pandas(table.iloc[source], preserve_index=False)
    big, small = folder / "big.csv", folder / "small.csv"
    pcsv.write_csv(arrow, big)
    pcsv.write_csv(arrow.slice(0, 200), small)
    return big, small, n, copies


def child(mode: str, small: Path, big: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(small), str(big)], capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"{mode} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def streaming(args: argparse.Namespace) -> dict[str, Any]:
    """Part 2: peak memory growth and wall time, in-memory load against chunked clean."""
    with tempfile.TemporaryDirectory(prefix="keel-bench-") as tmp:
        started = time.perf_counter()
        big, small, n, copies = write_csv(Path(tmp), args.csv_mb, args.dup, args.seed)
        size_mb = big.stat().st_size / 1e6
        print(
            f"part 2: CSV of {size_mb:.1f} MB, {n:,} rows ({copies:,} of them copies of earlier "
            f"rows); written in {time.perf_counter() - started:.1f} s"
        )
        memory = child("memory", small, big)
        chunked = child("chunked", small, big)
        cleaned = child("clean", small, big)
    print(
        f"load_dataset: {memory['rows']:,} rows; clean_chunked: {chunked['rows']:,} rows kept "
        f"({n - chunked['rows']:,} exact duplicates removed); in-memory clean: "
        f"{cleaned['rows']:,} kept"
    )
    return dict(size_mb=size_mb, memory=memory, chunked=chunked, clean=cleaned)


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 docs, 5 MB PII, 15 MB CSV")
    parser.add_argument("--docs", type=int, default=None, help="near dedup docs (100,000)")
    parser.add_argument("--pii-mb", type=float, default=None, help="MB of PII text (25)")
    parser.add_argument("--csv-mb", type=float, default=None, help="MB of CSV to stream (50)")
    parser.add_argument("--dup", type=float, default=0.05, help="share of rows copied in the CSV")
    parser.add_argument("--rounds", type=int, default=None, help="local/warm Ray rounds (3; 2)")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument(
        "--block-rows", type=int, default=RayConfig().block_rows, help="[data.ray] block_rows"
    )
    parser.add_argument("--skip", choices=["ray", "chunked"], default=None, help="skip a part")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    q = args.quick
    args.docs = args.docs or (20_000 if q else 100_000)
    args.pii_mb = args.pii_mb or (5.0 if q else 25.0)
    args.csv_mb = args.csv_mb or (15.0 if q else 50.0)
    args.rounds = args.rounds or (2 if q else 3)
    if args.docs < 1000 or args.pii_mb <= 0 or args.csv_mb <= 0 or not 0 <= args.dup < 0.5:
        parser.error("need --docs >= 1000, --pii-mb > 0, --csv-mb > 0 and 0 <= --dup < 0.5")
    if args.skip != "chunked" and not Path("/proc/self/status").exists():
        parser.error("part 2 reads VmHWM from /proc/self/status (Linux); pass --skip chunked")

    print(
        f"keel data scale benchmark: python={platform.python_version()} pandas={pd.__version__} "
        f"cpus={os.cpu_count()} load average {os.getloadavg()[0]:.1f}"
    )
    ray_rows = engines(args) if args.skip != "ray" else []
    stream = streaming(args) if args.skip != "chunked" else None

    if ray_rows:
        print(
            f"\nRay ({args.num_cpus} CPUs) against local; warm and local: median of "
            f"{args.rounds} alternating rounds"
        )
        header = (
            f"| {'operator':<17} | {'data':>12} | {'ray.init s':>10} | {'ray 1st s':>9} | "
            f"{'ray warm s':>10} | {'local s':>7} | {'ray/local':>9} | {'identical':>9} |"
        )
        print(header)
        print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
        for r in ray_rows:
            print(
                f"| {r['name']:<17} | {r['size']:>12} | {r['init']:>10.2f} | {r['first']:>9.2f} | "
                f"{r['warm']:>10.2f} | {r['local']:>7.2f} | {r['warm'] / r['local']:>9.2f} | "
                f"{'yes' if r['same'] else 'NO':>9} |"
            )
    if stream:
        mem, chk = stream["memory"], stream["chunked"]
        print(
            f"\nStreaming a {stream['size_mb']:.1f} MB CSV: peak RSS growth over a warm-up "
            "(VmHWM), wall time of the big run"
        )
        header = f"| {'subject':<34} | {'peak MB':>8} | {'x file':>6} | {'wall s':>7} |"
        print(header)
        print("|" + "|".join("-" * len(c) for c in header.split("|")[1:-1]) + "|")
        for label, run in (
            ("load_dataset (in memory)", mem),
            ("clean_chunked (5,000 rows, exact)", chk),
            ("in-memory clean (+dedup, checks)", stream["clean"]),
        ):
            peak = run["grown_kb"] * 1024 / 1e6
            print(
                f"| {label:<34} | {peak:>8.1f} | {peak / stream['size_mb']:>6.2f} | "
                f"{run['seconds']:>7.2f} |"
            )
        full = stream["clean"]
        print(
            f"ratios chunked/in-memory: memory {chk['grown_kb'] / mem['grown_kb']:.2f}, "
            f"time {chk['seconds'] / mem['seconds']:.2f} (against the in-memory clean, which "
            f"also dedups and checks: memory {chk['grown_kb'] / full['grown_kb']:.2f}, time "
            f"{chk['seconds'] / full['seconds']:.2f})"
        )
    if not all(r["same"] for r in ray_rows):
        raise SystemExit("Ray's output differs from the local engine's (identical: NO above)")


if __name__ == "__main__":
    main()
