"""``[data] text_encoding = "auto"`` is decided by the spec's model."""

from __future__ import annotations

import pytest

from keel.data.config import DataConfig
from keel.spec._model import Spec


def _spec(**extra: object) -> Spec:
    return Spec.model_validate({"name": "t", "data": {"source": "x.csv", "target": "y"}, **extra})


@pytest.mark.parametrize(
    ("model", "encoding"),
    [(None, "tfidf"), ({"name": "mlp"}, "tfidf"), ({"name": "rnn"}, "auto"),
     ({"name": "transformer"}, "auto")],
)  # fmt: skip
def test_auto_reads_a_lone_text_as_tokens_only_for_a_sequence_model(model, encoding):
    spec = _spec(**({} if model is None else {"model": model}))
    assert spec.data.text_encoding == encoding


def test_a_chosen_encoding_is_kept_and_a_config_object_is_resolved_too():
    spec = _spec(model={"name": "rnn"}, data={"source": "x.csv", "target": "y",
                                               "text_encoding": "tfidf"})  # fmt: skip
    assert spec.data.text_encoding == "tfidf"
    built = Spec(name="t", data=DataConfig(source="x.csv", target="y"))
    assert built.data.text_encoding == "tfidf"
