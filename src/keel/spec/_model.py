"""The root of a spec: one section per package, each owned by that package."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from keel._config import Config
from keel.data.config import DataConfig
from keel.evaluate.config import EvaluateConfig
from keel.models.config import MLPConfig, ModelConfig
from keel.registry.config import GatesConfig
from keel.report.config import ReportConfig
from keel.serve.config import ServeConfig
from keel.train.config import TrainConfig

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$"
_SEQUENCE_MODELS = ("rnn", "transformer")  # models that read token ids


class Spec(Config):
    """A whole pipeline: data → model → training → evaluation → report."""

    name: str = Field(pattern=NAME_PATTERN, description="model name, e.g. digits")
    description: str = ""
    seed: int = Field(0, ge=0, le=2**32 - 1)
    data: DataConfig
    model: ModelConfig = Field(default_factory=MLPConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    @model_validator(mode="before")
    @classmethod
    def _text_for_the_model(cls, raw: Any) -> Any:
        """``[data] text_encoding = "auto"`` decided by the model: a text column alone is read
        as token ids only for a network that reads sequences (``rnn``, ``transformer``); with
        the MLP, or no ``[model]``, it is read as TF-IDF features. On the BBC corpus with only
        source and target (5 epochs) TF-IDF + MLP scored 0.961 test accuracy in 12 s where the
        GRU over token ids scored 0.431 in 107 s. The registered spec records the choice."""
        if not isinstance(raw, dict):
            return raw
        model = raw.get("model")
        name = model.get("name") if isinstance(model, dict) else getattr(model, "name", None)
        if name in _SEQUENCE_MODELS:
            return raw
        data = raw.get("data")
        if isinstance(data, dict) and data.get("text_encoding", "auto") == "auto":
            return {**raw, "data": {**data, "text_encoding": "tfidf"}}
        if isinstance(data, DataConfig) and data.text_encoding == "auto":
            return {**raw, "data": data.model_copy(update={"text_encoding": "tfidf"})}
        return raw

    @model_validator(mode="after")
    def _pseudo_labels_have_rows(self) -> Spec:
        """``[train.pseudo_label]`` needs ``[data.unlabeled]``, and an unlabeled file needs
        rounds: either alone would silently do nothing. ``fraction`` with rounds = 0 is allowed:
        it is the labeled-only baseline pseudo-labelling is measured against."""
        rounds, wanted = self.train.pseudo_label.rounds, self.data.unlabeled
        if wanted is not None and wanted.source is not None and rounds == 0:
            raise ValueError(
                "[data.unlabeled] source is set but [train.pseudo_label] rounds = 0: set "
                "rounds >= 1 to pseudo-label its rows, or remove [data.unlabeled]"
            )
        if wanted is None and rounds > 0:
            raise ValueError(
                f"[train.pseudo_label] rounds = {rounds} needs unlabeled rows: add "
                "[data.unlabeled] source = FILE or fraction = F, or set rounds = 0"
            )
        return self
