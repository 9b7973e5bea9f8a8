"""Registering a finished run as the next version of its model."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from keel.pipeline._lineage import lineage
from keel.spec import LoadedSpec

if TYPE_CHECKING:
    from keel.pipeline._run import RunResult
    from keel.registry import ModelVersion, Registry

KINDS = {
    "model.safetensors": "weights",
    "preprocess.json": "preprocessing",
    "preprocess.safetensors": "preprocessing",
    "report.html": "report",
}


def register_run(
    registry: Registry, result: RunResult, loaded: LoadedSpec, *, data_source: str
) -> ModelVersion:
    """Store the run's predictor files and report, signed, with metrics, gates and lineage."""
    assert result.predictor is not None  # a finished run always has one
    files = dict(result.predictor.to_files())
    if result.report is not None and result.report.is_file():
        files["report.html"] = result.report.read_bytes()
    spec: dict[str, Any] = loaded.spec.model_dump(mode="json")
    return registry.register(
        loaded.spec.name,
        files,
        kinds=KINDS,
        spec=spec,
        preprocessing=json.loads(files["preprocess.json"]),
        metrics=result.metrics,
        gates=result.gates,
        lineage=lineage(
            spec_text=loaded.text,
            spec_dir=loaded.base_dir,
            data_digest=result.data_digest,
            data_source=data_source,
            seed=loaded.spec.seed,
            run_id=result.run_id,
            actor=registry.actor,
            data_extra=result.data_lineage,
        ),
    )
