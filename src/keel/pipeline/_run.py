"""`keel run`: spec → data → train → evaluate → report, in one run folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from keel import __version__
from keel._io import NotRegularFile, open_regular, write_bytes_atomic, write_json_atomic
from keel.data import summarize
from keel.errors import SpecError, UserError
from keel.evaluate import Evaluation, linear_reference_loss
from keel.models import build_model, count_parameters
from keel.pipeline._artifacts import make_predictor, measure, save_model_files, true_values
from keel.pipeline._cv import cross_validate
from keel.pipeline._data_report import data_figures, repairs
from keel.pipeline._metrics import full_metrics, monitor_metrics
from keel.pipeline._prepare import Prepared, prepare
from keel.pipeline._pseudo import PseudoReport, fit_rounds
from keel.pipeline._register import register_run
from keel.registry import RegistrySettings, open_registry
from keel.registry._gates import evaluate_gates, figures_from_metrics
from keel.report import write_report
from keel.spec import LoadedSpec, load_spec
from keel.train import train
from keel.workspace import Workspace

if TYPE_CHECKING:
    from keel.predictor import Predictor
    from keel.registry import Registry
    from keel.train import TrainResult


@dataclass
class RunResult:
    """What a finished run produced."""

    run_id: str
    run_dir: Path
    metrics: dict[str, Any]
    report: Path | None
    diagnosis: dict[str, str]
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    data_digest: str = ""
    data_lineage: dict[str, Any] = field(default_factory=dict)  # checks (and repairs) of the data
    parameters: int = 0
    seconds: float = 0.0
    gates: list[dict[str, Any]] = field(default_factory=list)
    version: str | None = None  # "name:N" once registered
    predictor: Predictor | None = field(default=None, repr=False, compare=False)

    @property
    def gates_passed(self) -> bool:
        """Whether every ``[gates]`` condition held (true when the spec sets none)."""
        return all(g["passed"] for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; the predictor is not included (its files are in ``run_dir``)."""
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "metrics": self.metrics,
            "report": str(self.report) if self.report else None,
            "diagnosis": self.diagnosis,
            "best_epoch": self.best_epoch,
            "epochs_run": len(self.history),
            "data_digest": self.data_digest,
            "parameters": self.parameters,
            "seconds": round(self.seconds, 3),
            "gates": self.gates,
            "version": self.version,
            "data": self.data_lineage,
        }


def spec_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _run_status(path: Path) -> dict[str, Any]:
    """A resumed run's status ({} without one), opened only as a regular file (no check-then-open
    race: a FIFO swapped in would hang the read) and bounded; one line if keel did not write it."""
    try:
        with open_regular(path, follow_symlinks=False) as handle:
            status = json.loads(handle.read(65_536))
    except FileNotFoundError:
        return {}
    except (NotRegularFile, ValueError):
        status = None
    if not isinstance(status, dict):
        raise UserError(f"{path} is not a run status keel wrote: start a new run without --resume")
    return status


def _open_run_dir(ws: Workspace, loaded: LoadedSpec, resume: str | None) -> tuple[str, Path]:
    if resume is None:
        run_id = ws.new_run_id(loaded.spec.name)
        run_dir = ws.run_dir(run_id)
        run_dir.mkdir(parents=True)
        write_bytes_atomic(run_dir / "spec.toml", loaded.text.encode())
        write_json_atomic(
            run_dir / "status.json", {"state": "running", "spec_sha256": spec_digest(loaded.text)}
        )
        return run_id, run_dir
    run_dir = ws.run_dir(resume, must_exist=True)
    status = _run_status(run_dir / "status.json")
    if status.get("state") == "complete":
        raise UserError(f"run {resume} already finished; start a new run without --resume")
    if status.get("spec_sha256") != spec_digest(loaded.text):
        raise SpecError(
            f"{loaded.path}: the spec differs from the one run {resume} started with; "
            f"resume with {run_dir / 'spec.toml'} or start a new run"
        )
    return resume, run_dir


def _evaluate(
    predictor: Predictor, prep: Prepared, loaded: LoadedSpec
) -> tuple[Evaluation, np.ndarray]:
    """Validation and test metrics of the predictor that will be saved, and its test outputs."""
    bins = loaded.spec.evaluate.ece_bins
    test, test_out = measure(predictor, prep.dataset, prep.test, bins)
    val = measure(predictor, prep.dataset, prep.val, bins)[0] if prep.val is not None else {}
    return Evaluation(val=val, test=test, cv={}), test_out


def _gates(loaded: LoadedSpec, metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The spec's ``[gates]`` judged on this run's figures."""
    results = evaluate_gates(loaded.spec.gates.require, figures_from_metrics(metrics))
    return [r.to_dict() for r in results]


def run(
    spec_path: str | Path,
    *,
    resume: str | None = None,
    quiet: bool = False,
    home: str | None = None,
    register: bool = True,
    settings: RegistrySettings | None = None,
) -> RunResult:
    """Run a spec end to end and register the model as the next version of ``spec.name``.

    ``resume`` continues a killed run from its last checkpoint (a run whose registration failed
    resumes straight to registering). ``settings`` default to the environment (``KEEL_HOME``,
    ``KEEL_REGISTRY_URL``, ...); ``home`` overrides the workspace.
    """
    started = time.perf_counter()
    settings = settings or RegistrySettings.from_env()
    if home is not None:
        settings = replace(settings, home=home)
    loaded = load_spec(spec_path)
    prep = prepare(
        loaded.spec, loaded.base_dir
    )  # every data error surfaces before anything is written
    registry = open_registry(settings) if register else None  # so does a bad registry URL
    try:
        return _execute(
            loaded, prep, settings, registry, resume=resume, quiet=quiet, started=started
        )
    finally:
        if registry is not None:
            registry.close()


def _data_summary(prep: Prepared, pseudo: PseudoReport | None = None) -> dict[str, Any]:
    summary = summarize(prep.dataset, prep.split)
    if prep.check is not None:
        found = prep.check.findings
        summary["checks"] = {
            "errors": len(prep.check.errors),
            "warnings": len(prep.check.warnings),
            "findings": [f"{f.severity}: {f.check}: {f.message}" for f in found] or ["none"],
        }
    summary |= repairs(prep.pii, prep.dedup)
    if prep.balance is not None and prep.balance.method != "none":
        b = prep.balance.to_dict(prep.dataset.classes)
        summary["training rows balanced"] = {
            "method": b["method"], "before": b["before"], "after": b["after"],
            "synthetic rows": b["synthetic"],
        }  # fmt: skip
    if prep.augment is not None:
        summary["training batches augmented"] = prep.augment.describe()
    if pseudo is not None:
        summary["pseudo-labelled rows"] = pseudo.summary()
    return summary


def _execute(
    loaded: LoadedSpec,
    prep: Prepared,
    settings: RegistrySettings,
    registry: Registry | None,
    *,
    resume: str | None,
    quiet: bool,
    started: float,
) -> RunResult:
    spec = loaded.spec
    torch.manual_seed(spec.seed)
    model = build_model(spec.model, prep.preprocessor.input_spec, prep.n_outputs)
    ws = Workspace.find(home=settings.home)
    run_id, run_dir = _open_run_dir(ws, loaded, resume)
    try:
        task = prep.dataset.task
        monitor = monitor_metrics(
            full_metrics(task, prep.dataset.classes, prep.target, spec.evaluate.ece_bins)
        )
        reference = None
        if prep.val is not None and spec.train.class_weights == "none":
            reference = linear_reference_loss(
                prep.train.x, prep.train.y, prep.val.x, prep.val.y,
                task=task, n_classes=prep.n_outputs, seed=spec.seed,
            )  # fmt: skip

        def fit(
            net: torch.nn.Module, xy: tuple[np.ndarray, np.ndarray], checkpoints: Path | None,
            resumed: bool,
        ) -> TrainResult:  # fmt: skip
            return train(
                net,
                xy,
                (prep.val.x, prep.val.y) if prep.val is not None else None,
                spec.train,
                task=task,
                n_classes=prep.n_outputs if task == "classification" else 0,
                seed=spec.seed,
                metric_fn=monitor,
                class_names=prep.dataset.classes,
                checkpoint_dir=checkpoints,
                resume=resumed,
                progress=not quiet,
                reference_loss=reference,
                augment=prep.augment,
            )

        result, pseudo = fit_rounds(  # [train.pseudo_label]: rounds of fit; otherwise one
            prep, spec, model, fit, checkpoints=run_dir / "checkpoints", resume=resume is not None
        )
        predictor = make_predictor(result.model, prep.preprocessor, prep.target, spec, prep.dataset)
        evaluation, test_out = _evaluate(predictor, prep, loaded)
        if prep.folds:
            evaluation.cv = cross_validate(
                prep, spec, epochs=max(result.best_epoch, 1), quiet=quiet
            )
    except UserError:
        if resume is None:
            shutil.rmtree(run_dir, ignore_errors=True)
        raise

    metrics = evaluation.to_dict()
    diagnosis = result.diagnosis.to_dict()
    save_model_files(run_dir, predictor)
    report = None
    if spec.report.enabled:
        classification = task == "classification"
        test_true = prep.test.y if classification else true_values(prep.dataset, prep.test.rows)
        report = write_report(
            run_dir / "report.html",
            title=spec.report.title or f"{spec.name} — {run_id}",
            spec_text=loaded.text,
            data_summary=_data_summary(prep, pseudo),
            history=result.history,
            metrics=metrics,
            diagnosis=diagnosis,
            task=task,
            class_names=prep.dataset.classes,
            test_true=test_true,
            test_outputs=test_out,
            ece_bins=spec.evaluate.ece_bins,
            best_epoch=result.best_epoch,
            monitor=result.monitor,
            data_figures=data_figures(prep.dataset, prep.split, prep.check, spec),
        )
    out = RunResult(
        run_id=run_id,
        run_dir=run_dir,
        metrics=metrics,
        report=report,
        diagnosis=diagnosis,
        history=result.history,
        best_epoch=result.best_epoch,
        data_digest=prep.dataset.digest,
        data_lineage=prep.lineage() | ({"pseudo_label": pseudo.to_dict()} if pseudo else {}),
        parameters=count_parameters(result.model),
        seconds=time.perf_counter() - started,
        gates=_gates(loaded, metrics),
        predictor=predictor,
    )
    if registry is not None:
        out.version = register_run(registry, out, loaded, data_source=spec.data.source).ref
    if prep.check is not None:
        write_json_atomic(run_dir / "data_check.json", prep.check.to_dict())
    write_json_atomic(
        run_dir / "metrics.json",
        {**out.to_dict(), "keel_version": __version__, "history": result.history},
    )
    write_json_atomic(
        run_dir / "status.json", {"state": "complete", "spec_sha256": spec_digest(loaded.text)}
    )
    return out
