"""Registry performance: verified loading against plain sha256, and registrations per second.

1. Load + verify of a ~200 MB model (a real keel :class:`~keel.predictor.Predictor`: iris
   preprocessing and an MLP sized to ``--size-mb``) registered into a temporary workspace,
   against ``hashlib.file_digest`` over the same weight blob on disk. ``registry.load`` checks the
   manifest's signature and every file's sha256, then builds the torch model; ``registry.verify``
   only checks (streamed). Two more rows split the load: the verified read (``get`` +
   ``read_files``) and ``Predictor.from_files`` over already verified buffers. Page cache warm
   for all. Target: sha256/load >= 0.8, i.e. loading with verification costs at most 1.25x
   hashing the bytes alone.
2. Registrations per second of small (iris-sized) predictors on SQLite and on PostgreSQL, each
   with fresh weights (as a new training run gives), next to the raw ``create_version`` rate of the
   metadata store alone (which signs the version statement in its transaction), so the cost of
   the files shows.

The machine is noisy, so the subjects run side by side, interleaved over rounds (the order
rotates each round), and medians are reported; ratios are the figures to read, not seconds.

    python bench/registry.py                 # 5 rounds, 200 MB, 200 registrations per backend
    python bench/registry.py --quick         # 2 rounds, 50 MB, 40 registrations

PostgreSQL: ``KEEL_TEST_PG_URL``, else the server ``scripts/postgres.sh start`` runs; a fresh
database is created for the run and dropped after it. Where none answers, that row is skipped with
the reason printed.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import math
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from keel.data import Preprocessor, TargetEncoder, load_dataset
from keel.data.config import DataConfig
from keel.models import build_model
from keel.models.config import MLPConfig
from keel.predictor import Predictor
from keel.registry import Registry, RegistrySettings, open_registry

ROOT = Path(__file__).resolve().parents[1]
PG_DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/keel_test"
MODEL_FILE = "model.safetensors"
DEPTH = 4  # hidden layers of the large MLP: depth-1 square width x width matrices carry the bytes
SMALL = MLPConfig(width=64, depth=2)  # an iris-sized model: ~20 KB of weights


# -- models ------------------------------------------------------------------------------------


class Iris:
    """Fitted iris preprocessing and target, shared by every predictor built here."""

    def __init__(self) -> None:
        cfg = DataConfig(source="builtin:iris")
        dataset = load_dataset(cfg, base_dir=ROOT)
        self.pre = Preprocessor.fit(dataset.features, dataset.schema, cfg)
        self.target = TargetEncoder.fit(dataset.target, dataset.task, dataset.classes)
        self.task = dataset.task
        self.classes = list(dataset.classes)

    def predictor(self, config: MLPConfig, seed: int) -> Predictor:
        torch.manual_seed(seed)
        model = build_model(config, self.pre.input_spec, self.target.n_outputs)
        return Predictor.from_parts(
            model, self.pre, self.target, task=self.task, classes=self.classes,
            model_config=config,
        )  # fmt: skip


def large_config(size_mb: float) -> MLPConfig:
    """An MLP whose fp32 weights take about ``size_mb`` MB (1e6 bytes)."""
    width = math.sqrt(size_mb * 1e6 / 4 / (DEPTH - 1))
    return MLPConfig(width=max(64, round(width / 64) * 64), depth=DEPTH)


def spec_of(config: MLPConfig, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "model": config.model_dump(mode="json"),
        "train": {"precision": "fp32"},
    }


def register(registry: Registry, name: str, files: dict[str, bytes], spec: dict[str, Any]) -> str:
    version = registry.register(
        name, files, spec=spec, preprocessing={}, metrics={"test": {"accuracy": 0.9}},
        gates=[], lineage={"bench": True},
    )  # fmt: skip
    return version.ref


# -- timing ------------------------------------------------------------------------------------


Timed = Callable[[], object]


def interleaved(
    subjects: dict[str, Timed],
    rounds: int,
    setups: dict[str, Callable[[], Timed]] | None = None,
) -> dict[str, list[float]]:
    """Seconds of each subject per round; the order rotates every round. ``setups[key]``, when
    given, runs untimed before each run of ``key`` and returns what is timed instead. Results are
    dropped (and garbage collected) outside the timed region."""
    setups = setups or {}
    times: dict[str, list[float]] = {key: [] for key in subjects}
    order = list(subjects)
    for r in range(rounds):
        for key in order[r % len(order) :] + order[: r % len(order)]:
            run = setups[key]() if key in setups else subjects[key]
            gc.collect()
            started = time.perf_counter()
            result = run()
            times[key].append(time.perf_counter() - started)
            del result, run
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


@contextmanager
def workspace(prefix: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- 1. load + verify vs sha256 ----------------------------------------------------------------


def huge_pages() -> str:
    """The kernel's transparent huge page mode (verified reads into fresh buffers depend on it)."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    chosen = text[text.find("[") + 1 : text.find("]")] if "[" in text else text.strip()
    return chosen or "unknown"


def bench_load(iris: Iris, size_mb: float, rounds: int) -> None:
    config = large_config(size_mb)
    predictor = iris.predictor(config, seed=0)
    files = predictor.to_files()
    del predictor
    weights = len(files[MODEL_FILE])
    with workspace("keel-bench-load-") as home:
        registry = open_registry(RegistrySettings(home=str(home), user="bench"), create=True)
        try:
            ref = register(registry, "big", files, spec_of(config, "big"))
            del files
            manifest = registry.get(ref).manifest
            digest = next(f.digest for f in manifest.files if f.name == MODEL_FILE)
            blob = home / "artifacts" / "sha256" / digest[:2] / digest
            if not blob.is_file():  # the layout this benchmark assumes: say so rather than lie
                raise SystemExit(f"weight blob not found at {blob}; the artifact layout changed")

            def sha256() -> str:
                with blob.open("rb") as stream:
                    actual = hashlib.file_digest(stream, "sha256").hexdigest()
                if actual != digest:
                    raise SystemExit(f"{blob} hashes to {actual}, not {digest}")
                return actual

            version = registry.get(ref)
            spec = version.manifest.spec

            def build() -> Timed:  # untimed: verified read; timed: the torch model over it
                files = registry.read_files(version)
                return lambda: Predictor.from_files(
                    files, model_config=spec["model"], precision=spec["train"]["precision"]
                )

            subjects: dict[str, Timed] = {
                "load": lambda: registry.load(ref),
                "verify": lambda: registry.verify(ref),
                "sha256": sha256,
                "read": lambda: registry.read_files(registry.get(ref)),
                "build": build,  # replaced each round by what its setup returns
            }
            setups = {"build": build}
            interleaved(subjects, 1, setups)  # warm: page cache, lazy imports, allocator
            t = {k: median(v) for k, v in interleaved(subjects, rounds, setups).items()}
        finally:
            registry.close()
    mb = weights / 1e6
    print(
        f"\n1. load + verify vs plain sha256: MLP width={config.width} depth={config.depth}, "
        f"{MODEL_FILE} {mb:.1f} MB, torch threads={torch.get_num_threads()}, "
        f"median of {rounds} interleaved rounds, page cache warm, transparent huge pages: "
        f"{huge_pages()}"
    )
    header = f"{'subject':<34} {'ms':>8} {'MB/s':>8} {'sha256/subject':>15} {'target':>8}"
    print(header)
    print("-" * len(header))
    rows = [
        ("sha256 (hashlib.file_digest)", t["sha256"], ""),
        ("registry.load (verify + build)", t["load"], ">= 0.8"),
        ("registry.verify (streamed)", t["verify"], ""),
        ("  load part: get + read_files", t["read"], ""),
        ("  load part: Predictor.from_files", t["build"], ""),
    ]
    for label, seconds, target in rows:
        print(
            f"{label:<34} {seconds * 1e3:>8.1f} {mb / seconds:>8.0f} "
            f"{t['sha256'] / seconds:>15.3f} {target:>8}"
        )
    verdict = "met" if t["sha256"] / t["load"] >= 0.8 else "NOT met"
    print(f"target sha256/load >= 0.8: {verdict} ({t['sha256'] / t['load']:.3f})")


# -- 2. registrations per second ---------------------------------------------------------------


def small_files(iris: Iris, count: int) -> list[dict[str, bytes]]:
    """The files of ``count`` iris-sized predictors: fresh weights each, shared preprocessing."""
    return [iris.predictor(SMALL, seed=1000 + i).to_files() for i in range(count)]


def rate_row(
    label: str, settings: RegistrySettings, files: list[dict[str, bytes]], rounds: int
) -> None:
    """Registrations/s and raw create_version/s of one backend, interleaved over rounds."""
    registry = open_registry(settings, create=True)
    try:
        spec = spec_of(SMALL, "small")
        register(registry, "warm", files[0], spec)  # first-use costs (connections, tables)
        per_round = max(1, len(files) // rounds)
        batches = iter([files[i * per_round : (i + 1) * per_round] for i in range(rounds)])
        digests = (f"{i:064x}" for i in range(1, 1 << 62))  # unique fake manifest digests

        def registrations() -> None:
            for one in next(batches):
                register(registry, "small", one, spec)

        def raw() -> None:
            for _ in range(per_round):
                registry.store.create_version(
                    "raw", manifest_digest=next(digests), sign=registry.keys.sign,
                    created_by="bench", gates_passed=True, metrics={"test": {"accuracy": 0.9}},
                )  # fmt: skip

        times = interleaved({"register": registrations, "raw": raw}, rounds)
        reg = per_round / median(times["register"])
        raw_rate = per_round / median(times["raw"])
        print(
            f"{label:<12} {reg:>14.1f} {1e3 / reg:>13.2f} {raw_rate:>16.1f} "
            f"{1e3 / raw_rate:>11.2f} {reg / raw_rate:>14.3f}"
        )
    finally:
        registry.close()


def pg_database() -> tuple[str | None, str, Callable[[], None]]:
    """(URL of a fresh database or None, why not, drop it)."""
    from sqlalchemy import create_engine, text

    from keel.registry._sql import parse_url

    url = parse_url(os.environ.get("KEEL_TEST_PG_URL") or PG_DEFAULT_URL)
    where = url.render_as_string(hide_password=True)
    engine = create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"keel_bench_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        engine.dispose()
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        return None, f"not reachable at {where} ({reason}): run scripts/postgres.sh start", _noop

    def drop() -> None:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    return url.set(database=name).render_as_string(hide_password=False), "", drop


def _noop() -> None:
    return None


def bench_registrations(iris: Iris, count: int, rounds: int) -> None:
    files = small_files(iris, count)
    size = sum(len(b) for b in files[0].values()) / 1e3
    per_round = max(1, count // rounds)
    print(
        f"\n2. registrations of iris-sized predictors ({SMALL.width}x{SMALL.depth} MLP, "
        f"{len(files[0])} files, {size:.0f} KB, fresh weights each): {per_round} per round x "
        f"{rounds} interleaved rounds, medians"
    )
    header = (
        f"{'store':<12} {'registrations/s':>14} {'ms/register':>13} {'create_version/s':>16} "
        f"{'ms/version':>11} {'register/raw':>14}"
    )
    print(header)
    print("-" * len(header))
    with workspace("keel-bench-sqlite-") as home:
        rate_row("sqlite", RegistrySettings(home=str(home), user="bench"), files, rounds)
    url, why, drop = pg_database()
    if url is None:
        print(f"{'postgresql':<12} skipped: PostgreSQL {why}")
        return
    try:
        with workspace("keel-bench-pg-") as home:
            settings = RegistrySettings(home=str(home), registry_url=url, user="bench")
            rate_row("postgresql", settings, files, rounds)
    finally:
        drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5)")
    parser.add_argument("--size-mb", type=float, default=None, help="weights (default 200 MB)")
    parser.add_argument(
        "--registrations", type=int, default=None, help="per store, over all rounds (default 200)"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    parser.add_argument("--quick", action="store_true", help="2 rounds, 50 MB, 40 registrations")
    args = parser.parse_args()
    rounds = (2 if args.quick else 5) if args.rounds is None else args.rounds
    size_mb = (50.0 if args.quick else 200.0) if args.size_mb is None else args.size_mb
    count = (40 if args.quick else 200) if args.registrations is None else args.registrations
    if rounds < 1 or size_mb <= 0 or count < rounds:
        parser.error("need --rounds >= 1, --size-mb > 0 and --registrations >= --rounds")
    torch.set_num_threads(args.threads)
    print(
        f"keel registry benchmark: torch={torch.__version__} threads={args.threads} "
        f"cpus={os.cpu_count()}"
    )
    iris = Iris()
    bench_load(iris, size_mb, rounds)
    bench_registrations(iris, count, rounds)


if __name__ == "__main__":
    main()
