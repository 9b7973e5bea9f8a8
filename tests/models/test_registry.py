"""The public surface of keel.models: names, lookup errors, parameter counts, input checks."""

from __future__ import annotations

import typing

import pytest
import torch

import keel.models
from keel.data.types import InputSpec
from keel.errors import KeelError, SpecError
from keel.models import (
    MODEL_NAMES,
    MLPConfig,
    ModelConfig,
    available_models,
    build_model,
    count_parameters,
    get_builder,
)


def test_exported_members_are_the_public_api() -> None:
    exported = {name for name in dir(keel.models) if not name.startswith("_")}
    modules = {"config"}  # the section config module is imported by the spec package
    assert exported - modules == set(keel.models.__all__)


def test_every_configurable_model_has_a_builder() -> None:
    (union, _) = typing.get_args(ModelConfig)
    config_names = {cls.model_fields["name"].default for cls in typing.get_args(union)}
    assert available_models() == list(MODEL_NAMES)
    assert set(available_models()) == config_names


def test_unknown_name_suggests_the_closest_and_lists_all() -> None:
    with pytest.raises(SpecError) as caught:
        get_builder("transfomer")
    message = str(caught.value)
    assert "'transfomer'" in message
    assert "did you mean 'transformer'?" in message
    for name in MODEL_NAMES:
        assert name in message
    assert "\n" not in message


def test_unknown_name_without_a_close_match_lists_all() -> None:
    with pytest.raises(SpecError, match="choose one of mlp, cnn, rnn, transformer") as caught:
        get_builder("xgboost")
    assert "did you mean" not in str(caught.value)


def test_count_parameters_counts_every_value() -> None:
    model = build_model(MLPConfig(width=4, depth=1), InputSpec("tabular", (3,)), 2)
    assert count_parameters(model) == (3 * 4 + 4) + (4 * 2 + 2)
    model.net[1].weight.requires_grad_(False)
    assert count_parameters(model) == 26
    assert count_parameters(model, trainable_only=True) == 26 - 12


@pytest.mark.parametrize(
    ("spec", "n_outputs"),
    [
        (InputSpec("image", (8, 8)), 3),  # image shape must be (C, H, W)
        (InputSpec("tabular", (0,)), 3),
        (InputSpec("tabular", (4,)), 0),
    ],
)
def test_inconsistent_input_spec_is_an_internal_error(spec: InputSpec, n_outputs: int) -> None:
    with pytest.raises(KeelError) as caught:
        build_model(MLPConfig(), spec, n_outputs)
    assert not isinstance(caught.value, SpecError)  # not the user's fault: exit code 1


def test_token_input_without_vocabulary_is_an_internal_error() -> None:
    from keel.models import RNNConfig

    with pytest.raises(KeelError, match="vocab_size"):
        build_model(RNNConfig(), InputSpec("tokens", (8,)), 2)


def test_build_model_returns_a_module_in_training_mode() -> None:
    model = build_model(MLPConfig(), InputSpec("tabular", (4,)), 2)
    assert isinstance(model, torch.nn.Module)
    assert model.training
