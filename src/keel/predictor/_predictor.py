"""The one inference path: fitted preprocessing + network (+ target decoding) in one object.

Evaluation measures a model through :class:`Predictor` and the registry, explainers, monitoring
and the server load the same object from the same bytes, so what was measured is what is served:
``Predictor.from_files(p.to_files())`` gives bit-identical outputs to ``p``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from pydantic import TypeAdapter
from torch import nn

from keel._config import parse
from keel.data import InputSpec, Preprocessor, TargetEncoder
from keel.errors import IntegrityError, UserError
from keel.models import ModelConfig, build_model
from keel.predictor._describe import describe_inputs, describe_model_input, describe_output
from keel.predictor._files import FORMAT, decode, encode
from keel.predictor._inputs import check_model_input, records_frame
from keel.predictor._policy import InputPolicy, UnknownCategory, check_unknown_category
from keel.train import get_precision
from keel.train import predict_outputs as forward_outputs

__all__ = ["Predictor"]

_MODEL_CONFIG: TypeAdapter[Any] = TypeAdapter(ModelConfig)


def _model_config(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    return parse(
        _MODEL_CONFIG, {"name": "mlp", **value}, where="model config",
        fix="pass the [model] section the model was trained with", skip=1,
    )  # fmt: skip


def _names(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise IntegrityError("preprocess.json's 'discarded' must be a list of column names")
    return value


class Predictor:
    """Raw records in, predictions out. Build it with :meth:`from_parts` or :meth:`from_files`."""

    def __init__(
        self,
        model: nn.Module,
        preprocessor: Preprocessor,
        target: TargetEncoder,
        *,
        task: str,
        classes: list[str],
        model_config: ModelConfig | dict[str, Any],
        precision: str = "fp32",
        batch_size: int = 1024,
        name: str | None = None,
        version: int | None = None,
        discarded: Sequence[str] = (),
        unknown_category: UnknownCategory = "error",
    ) -> None:
        if task not in ("classification", "regression"):
            raise UserError(f"task {task!r} is not known: use 'classification' or 'regression'")
        if task != target.task:
            raise UserError(f"task {task!r} does not match the target encoder's {target.task!r}")
        if task == "classification" and list(classes) != target.classes:
            raise UserError(
                f"classes {list(classes)} differ from the target encoder's {target.classes}; "
                "pass the classes the model was trained on, in the same order"
            )
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        get_precision(precision)  # an unknown precision is a SpecError naming the valid ones
        self.model = model
        self.preprocessor = preprocessor
        self.target = target
        self.task = task
        self.classes = list(classes) if task == "classification" else []
        self.model_config = _model_config(model_config)
        self.precision = precision
        self.batch_size = int(batch_size)
        self.name = name
        self.version = version
        self._features_meta = preprocessor.to_state()[0]
        self.discarded = sorted({str(c) for c in discarded} - set(preprocessor.columns))
        self.unknown_category = check_unknown_category(unknown_category)

    @property
    def unknown_category(self) -> UnknownCategory:
        """What a category the model never saw does: ``"error"`` or ``"ignore"`` (encoded as no
        known category). Recorded in the files from ``[serve] unknown_category``."""
        return self._policy.unknown_category

    @unknown_category.setter
    def unknown_category(self, value: UnknownCategory) -> None:
        self._policy = InputPolicy.from_description(
            {
                "inputs": describe_inputs(self._features_meta),
                "discarded": self.discarded,
                "unknown_category": check_unknown_category(value),
            }
        )

    @property
    def policy(self) -> InputPolicy:
        """What raw records may carry, leave out and hold (shared with ``keel serve``)."""
        return self._policy

    # -- building ---------------------------------------------------------------------------------

    @classmethod
    def from_parts(
        cls,
        model: nn.Module,
        preprocessor: Preprocessor,
        target: TargetEncoder,
        *,
        task: str,
        classes: list[str],
        model_config: ModelConfig | dict[str, Any],
        precision: str = "fp32",
        batch_size: int = 1024,
        name: str | None = None,
        version: int | None = None,
        discarded: Sequence[str] = (),
        unknown_category: UnknownCategory = "error",
    ) -> Predictor:
        """A predictor over an in-memory network (e.g. the one training just returned).

        ``discarded`` names raw columns a record may carry that the model does not read (the
        target, ignored columns); ``unknown_category`` is ``[serve] unknown_category``."""
        return cls(
            model, preprocessor, target, task=task, classes=classes, model_config=model_config,
            precision=precision, batch_size=batch_size, name=name, version=version,
            discarded=discarded, unknown_category=unknown_category,
        )  # fmt: skip

    def to_files(self) -> dict[str, bytes]:
        """``model.safetensors``, ``preprocess.json`` and ``preprocess.safetensors``: the exact
        bytes a run folder and the registry store. No pickle; the same predictor, the same bytes."""
        settings = {
            "precision": self.precision,
            "batch_size": self.batch_size,
            "model": self.model_config.model_dump(mode="json"),
            "discarded": list(self.discarded),
            "unknown_category": self.unknown_category,
        }
        return encode(self.model, self.preprocessor, self.target, settings)

    @classmethod
    def from_files(
        cls,
        files: Mapping[str, bytes],
        *,
        model_config: ModelConfig | dict[str, Any] | None = None,
        precision: str | None = None,
        batch_size: int | None = None,
        name: str | None = None,
        version: int | None = None,
    ) -> Predictor:
        """Rebuild from :meth:`to_files`'s bytes (already verified by the caller).

        The network is built by :func:`keel.models.build_model` from ``model_config`` and gets
        the stored weights with ``strict=True``. ``model_config``, ``precision`` and
        ``batch_size`` default to what the files recorded. IntegrityError names a file that is
        missing, unreadable, or does not fit the others.
        """
        parts = decode(files)
        recorded = parts.settings
        if recorded.get("format", FORMAT) != FORMAT:
            raise IntegrityError(
                f"preprocess.json has predictor format {recorded.get('format')!r}, this keel "
                f"reads {FORMAT!r}; load it with the keel version that saved it"
            )
        config = model_config if model_config is not None else recorded.get("model")
        if config is None:
            raise UserError("the files do not record a model config; pass model_config")
        config = _model_config(config)
        target = parts.target
        with torch.device("meta"):  # no memory and no random init for weights about to arrive
            model = build_model(config, parts.preprocessor.input_spec, target.n_outputs)
        try:
            model.load_state_dict(parts.state, strict=True, assign=True)
        except RuntimeError as err:
            detail = " ".join(str(err).split())[:300]
            raise IntegrityError(
                f"model.safetensors does not fit the [model] config {config.name!r} ({detail}); "
                "load it with the config it was trained with"
            ) from None
        model.eval()
        return cls(
            model, parts.preprocessor, target, task=target.task, classes=target.classes,
            model_config=config, precision=precision or recorded.get("precision", "fp32"),
            batch_size=batch_size or int(recorded.get("batch_size", 1024)),
            name=name, version=version, discarded=_names(recorded.get("discarded", [])),
            unknown_category=recorded.get("unknown_category", "error"),
        )  # fmt: skip

    # -- what it reads and returns ----------------------------------------------------------------

    @property
    def columns(self) -> list[str]:
        """The raw columns a record must have, in the order a raw array holds them."""
        return self.preprocessor.columns

    @property
    def input_spec(self) -> InputSpec:
        """What one preprocessed sample looks like to the network."""
        return self.preprocessor.input_spec

    def describe(self) -> dict[str, Any]:
        """JSON-able metadata: name, version, task, classes, raw inputs, model input, output."""
        return {
            "name": self.name,
            "version": self.version,
            "task": self.task,
            "classes": list(self.classes),
            "inputs": describe_inputs(self._features_meta),
            "discarded": list(self.discarded),
            "unknown_category": self.unknown_category,
            "model_input": describe_model_input(self.input_spec),
            "output": describe_output(self.task, self.classes),
            "model": self.model_config.model_dump(mode="json"),
            "precision": self.precision,
            "batch_size": self.batch_size,
        }

    # -- inference --------------------------------------------------------------------------------

    def transform(self, records: Any) -> np.ndarray:
        """Raw records → the model input ``(n, *input_spec.shape)``."""
        frame = records_frame(records, self._policy)
        return self.preprocessor.transform(frame)

    def _model_input(self, records: Any, preprocessed: bool) -> np.ndarray:
        x = records if preprocessed else self.transform(records)
        return check_model_input(x, self.input_spec, self.preprocessor.feature_names)

    def _outputs(self, x: np.ndarray) -> np.ndarray:
        out = forward_outputs(
            self.model, x, task=self.task, batch_size=self.batch_size, precision=self.precision
        )
        return out if self.task == "classification" else self.target.inverse(out)

    def predict_outputs(self, x: np.ndarray) -> np.ndarray:
        """Model input → probabilities ``(n, k)``, or regression values ``(n,)`` in the target's
        own units. Eval mode, no grad, ``batch_size`` rows at a time, the training precision."""
        return self._outputs(self._model_input(x, preprocessed=True))

    def predict_proba(self, records: Any, *, preprocessed: bool = False) -> np.ndarray:
        """Class probabilities ``(n, k)`` in the order of :attr:`classes`."""
        if self.task != "classification":
            raise UserError(
                "predict_proba() is for classifiers; this model does regression: use predict()"
            )
        return self._outputs(self._model_input(records, preprocessed))

    def predict(self, records: Any, *, preprocessed: bool = False) -> np.ndarray:
        """Class labels (strings, dtype object) or regression values (float64)."""
        out = self._outputs(self._model_input(records, preprocessed))
        if self.task == "classification":
            return np.asarray(self.classes, dtype=object)[np.argmax(out, axis=1)]
        return out

    def __repr__(self) -> str:
        ref = f"{self.name}:{self.version}" if self.name else "unregistered"
        return (
            f"Predictor({ref}, {self.task}, model={self.model_config.name}, "
            f"input={self.input_spec.kind}{tuple(self.input_spec.shape)})"
        )
