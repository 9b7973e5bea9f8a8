"""`keel run`: spec → data → train → evaluate → report, in one run folder."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from keel import __version__
from keel._io import write_bytes_atomic, write_json_atomic
from keel.data import summarize
from keel.errors import SpecError, UserError
from keel.evaluate import Evaluation, linear_reference_loss
from keel.models import build_model, count_parameters
from keel.pipeline._artifacts import save_model_files
from keel.pipeline._cv import cross_validate
from keel.pipeline._metrics import full_metrics, monitor_metrics
from keel.pipeline._prepare import Prepared, prepare
from keel.report import write_report
from keel.spec import LoadedSpec, load_spec
from keel.train import TrainResult, predict_outputs, train
from keel.workspace import Workspace


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
    parameters: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
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
        }


def spec_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
    status = (
        json.loads((run_dir / "status.json").read_text())
        if (run_dir / "status.json").is_file()
        else {}
    )
    if status.get("state") == "complete":
        raise UserError(f"run {resume} already finished; start a new run without --resume")
    if status.get("spec_sha256") != spec_digest(loaded.text):
        raise SpecError(
            f"{loaded.path}: the spec differs from the one run {resume} started with; "
            f"resume with {run_dir / 'spec.toml'} or start a new run"
        )
    return resume, run_dir


def _evaluate(
    result: TrainResult, prep: Prepared, loaded: LoadedSpec
) -> tuple[Evaluation, np.ndarray]:
    spec = loaded.spec
    metrics = full_metrics(
        prep.dataset.task, prep.dataset.classes, prep.target, spec.evaluate.ece_bins
    )
    task = prep.dataset.task
    bs = spec.train.eval_batch_size
    precision = spec.train.precision

    def outputs(x: np.ndarray) -> np.ndarray:
        return predict_outputs(result.model, x, task=task, batch_size=bs, precision=precision)

    test_out = outputs(prep.test.x)
    val = metrics(prep.val.y, outputs(prep.val.x)) if prep.val is not None else {}
    return Evaluation(val=val, test=metrics(prep.test.y, test_out), cv={}), test_out


def run(
    spec_path: str | Path,
    *,
    resume: str | None = None,
    quiet: bool = False,
    home: str | None = None,
) -> RunResult:
    """Run a spec end to end. ``resume`` continues a killed run from its last checkpoint."""
    started = time.perf_counter()
    loaded = load_spec(spec_path)
    spec = loaded.spec
    prep = prepare(spec, loaded.base_dir)  # every data error surfaces before anything is written

    torch.manual_seed(spec.seed)
    model = build_model(spec.model, prep.preprocessor.input_spec, prep.n_outputs)
    ws = Workspace.find(home=home)
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
        result = train(
            model,
            (prep.train.x, prep.train.y),
            (prep.val.x, prep.val.y) if prep.val is not None else None,
            spec.train,
            task=task,
            n_classes=prep.n_outputs if task == "classification" else 0,
            seed=spec.seed,
            metric_fn=monitor,
            class_names=prep.dataset.classes,
            checkpoint_dir=run_dir / "checkpoints",
            resume=resume is not None,
            progress=not quiet,
            reference_loss=reference,
        )
        evaluation, test_out = _evaluate(result, prep, loaded)
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
    save_model_files(run_dir, result.model, prep)
    report = None
    if spec.report.enabled:
        test_true = prep.test.y if task == "classification" else prep.target.inverse(prep.test.y)
        shown = test_out if task == "classification" else prep.target.inverse(test_out)
        report = write_report(
            run_dir / "report.html",
            title=spec.report.title or f"{spec.name} — {run_id}",
            spec_text=loaded.text,
            data_summary=summarize(prep.dataset, prep.split),
            history=result.history,
            metrics=metrics,
            diagnosis=diagnosis,
            task=task,
            class_names=prep.dataset.classes,
            test_true=test_true,
            test_outputs=shown,
            ece_bins=spec.evaluate.ece_bins,
            best_epoch=result.best_epoch,
            monitor=result.monitor,
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
        parameters=count_parameters(result.model),
        seconds=time.perf_counter() - started,
    )
    write_json_atomic(
        run_dir / "metrics.json",
        {**out.to_dict(), "keel_version": __version__, "history": result.history},
    )
    write_json_atomic(
        run_dir / "status.json", {"state": "complete", "spec_sha256": spec_digest(loaded.text)}
    )
    return out
