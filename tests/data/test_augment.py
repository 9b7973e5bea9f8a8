"""[data.augment]: random changes to training batches, vectorised, seeded, off by default."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import keel
from keel.data._augment import (
    Augmenter,
    affine,
    build_augmenter,
    delete_tokens,
    mixup,
    noise_columns,
    swap_tokens,
)
from keel.data.augment_config import AugmentConfig
from keel.data.types import InputSpec
from keel.errors import SpecError
from keel.pipeline._prepare import prepare
from keel.pipeline._run import _data_summary
from keel.spec import load_spec

IMAGE = InputSpec("image", (1, 8, 8))
TABULAR = InputSpec("tabular", (6,))
TOKENS = InputSpec("tokens", (12,), vocab_size=50)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tokens(n: int = 64, t: int = 12, seed: int = 0) -> torch.Tensor:
    """Padded id rows of random lengths 0..t (ids 2..49, 0 is padding)."""
    g = gen(seed)
    ids = torch.randint(2, 50, (n, t), generator=g)
    lengths = torch.randint(0, t + 1, (n, 1), generator=g)
    return ids.masked_fill(torch.arange(t) >= lengths, 0)


def augmenter(spec: InputSpec, task: str = "classification", **keys) -> Augmenter:
    aug = build_augmenter(AugmentConfig(**keys), spec, task=task)
    assert aug is not None
    return aug


def assert_padded_at_end(ids: torch.Tensor) -> None:
    real = ids != 0
    assert torch.equal(real, torch.arange(ids.shape[1]) < real.sum(dim=1, keepdim=True))


# --- shapes, seeds, identity ------------------------------------------------------------------

CASES = {
    "image": (IMAGE, {"flip": True, "rotate": 10.0, "shift": 1.0, "noise": 0.1, "mixup": 0.4}),
    "tabular": (TABULAR, {"noise": 0.1, "mixup": 0.2}),
    "tokens": (TOKENS, {"delete": 0.2, "swap": 0.3}),
}


def batch(spec: InputSpec, n: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    y = torch.arange(n) % 3
    if spec.kind == "tokens":
        return tokens(n), y
    return torch.rand((n, *spec.shape), generator=gen(9)), y


@pytest.mark.parametrize("kind", list(CASES))
def test_shape_dtype_kept_and_same_seed_same_batch(kind):
    spec, keys = CASES[kind]
    aug = augmenter(spec, **keys)
    x, y = batch(spec)
    first, again, other = aug(x, y, gen(1)), aug(x, y, gen(1)), aug(x, y, gen(2))
    assert first.x.shape == x.shape and first.x.dtype == x.dtype
    assert first.y_a.dtype == y.dtype
    assert torch.equal(first.x, again.x) and first.lam == again.lam
    assert not torch.equal(first.x, other.x)
    assert not torch.equal(first.x, x)


def test_everything_off_by_default_means_no_augmenter():
    assert AugmentConfig().active() == {}
    for spec in (IMAGE, TABULAR, TOKENS):
        assert build_augmenter(AugmentConfig(), spec, task="classification") is None


def test_zero_motion_and_zero_settings_are_identity():
    x = torch.rand(5, 3, 7, 9, generator=gen())
    still = affine(x, torch.zeros(5), torch.zeros(5, 2))
    torch.testing.assert_close(still, x, atol=1e-6, rtol=0)
    ids = tokens()
    assert torch.equal(delete_tokens(ids, 0.0, gen()), ids)
    assert torch.equal(swap_tokens(ids, 0.0, gen()), ids)
    out = Augmenter(AugmentConfig(), "image")(x, torch.zeros(5), gen())
    assert out.x is x and out.y_b is None and out.lam == 1.0


# --- images -----------------------------------------------------------------------------------


def lit(row: int, col: int, h: int = 8, w: int = 8) -> torch.Tensor:
    x = torch.zeros(1, 1, h, w)
    x[0, 0, row, col] = 1.0
    return x


@pytest.mark.parametrize(
    ("shift", "moved_to"), [((1.0, 0.0), (3, 4)), ((0.0, 1.0), (4, 3)), ((-2.0, 1.0), (4, 1))]
)
def test_shift_moves_a_lit_pixel_by_whole_pixels(shift, moved_to):
    out = affine(lit(3, 3), torch.zeros(1), torch.tensor([shift]))
    torch.testing.assert_close(out, lit(*moved_to), atol=1e-5, rtol=0)


def test_rotation_turns_about_the_centre_and_keeps_shape_of_non_square_images():
    # a quarter turn counter-clockwise on screen: right of centre goes to above centre
    out = affine(lit(3, 5), torch.tensor([90.0]), torch.zeros(1, 2))
    torch.testing.assert_close(out, lit(2, 3), atol=1e-5, rtol=0)
    # a half turn of a 6x10 image lands the pixel point-mirrored through the centre
    out = affine(lit(1, 2, 6, 10), torch.tensor([180.0]), torch.zeros(1, 2))
    torch.testing.assert_close(out, lit(4, 7, 6, 10), atol=1e-5, rtol=0)
    # a quarter turn of a 6x10 image stays rigid: 2.5 px right of centre goes 2.5 px above it
    out = affine(lit(2, 7, 6, 10), torch.tensor([90.0]), torch.zeros(1, 2))
    torch.testing.assert_close(out, lit(0, 4, 6, 10), atol=1e-5, rtol=0)


def test_flip_mirrors_about_half_the_images():
    aug = augmenter(IMAGE, flip=True)
    x = lit(2, 1).repeat(400, 1, 1, 1)
    out = aug(x, torch.zeros(400), gen()).x
    mirrored = out[:, 0, 2, 6] == 1
    assert torch.all(mirrored | (out[:, 0, 2, 1] == 1))
    assert 150 < int(mirrored.sum()) < 250


def test_image_noise_has_the_requested_std():
    aug = augmenter(IMAGE, noise=0.2)
    x = torch.rand(500, 1, 8, 8, generator=gen())
    delta = aug(x, torch.zeros(500), gen(3)).x - x
    assert float(delta.mean()) == pytest.approx(0.0, abs=0.01)
    assert float(delta.std()) == pytest.approx(0.2, rel=0.03)


# --- tabular ----------------------------------------------------------------------------------


def test_tabular_noise_skips_encoded_categories():
    names = ["age", "income", "city=Lima", "city=Oslo", "member", "pc1"]
    continuous = noise_columns(names, categorical=["city", "member"])
    assert continuous == [True, True, False, False, False, True]
    texts = noise_columns(["age", "city=Oslo", "note~late"], ["city"], texts=["note"])
    assert texts == [True, False, False]  # a text column's TF-IDF weights get no noise
    aug = build_augmenter(
        AugmentConfig(noise=0.5), TABULAR, task="classification", continuous=continuous
    )
    x = torch.rand(2000, 6, generator=gen())
    out = aug(x, torch.zeros(2000), gen(1)).x
    delta = out - x
    assert torch.equal(delta[:, 2:5], torch.zeros(2000, 3))
    assert float(delta[:, [0, 1, 5]].std()) == pytest.approx(0.5, rel=0.03)
    assert aug.describe() == {"noise": 0.5, "noise_columns": 3}


def test_mixup_mixes_rows_and_targets_with_one_weight():
    x, y = torch.eye(16), torch.arange(16)
    out_x, y_a, y_b, lam = mixup(x, y, 0.4, gen(5))
    assert 0.0 < lam < 1.0 and torch.equal(y_a, y)
    assert sorted(y_b.tolist()) == list(range(16))  # a permutation of the batch
    for i in range(16):
        expected = lam * x[i] + (1 - lam) * x[y_b[i]]
        torch.testing.assert_close(out_x[i], expected)
    lams = [mixup(x, y, 1.0, gen(s))[3] for s in range(400)]  # Beta(1, 1) is uniform
    assert np.mean(lams) == pytest.approx(0.5, abs=0.05)


def test_mixup_classification_keeps_two_targets_regression_mixes_them():
    x, y = torch.rand(32, 6, generator=gen()), torch.arange(32)
    cls = augmenter(TABULAR, mixup=0.4)(x, y, gen(1))
    assert cls.y_b is not None and 0 < cls.lam < 1 and torch.equal(cls.y_a, y)
    yr = torch.linspace(0, 1, 32)
    reg = augmenter(TABULAR, task="regression", mixup=0.4)(x, yr, gen(1))
    assert reg.y_b is None and reg.lam == 1.0
    torch.testing.assert_close(reg.y_a, cls.lam * yr + (1 - cls.lam) * yr[cls.y_b])


# --- tokens -----------------------------------------------------------------------------------


def test_deletion_keeps_order_padding_at_end_and_a_word_per_row():
    ids = tokens(300)
    out = delete_tokens(ids, 0.3, gen(1))
    assert out.shape == ids.shape and out.dtype == torch.int64
    assert_padded_at_end(out)
    before, after = (ids != 0).sum(1), (out != 0).sum(1)
    assert torch.all((after >= 1) | (before == 0))
    assert torch.all(after[before == 0] == 0)  # an empty text stays empty
    for row_in, row_out in zip(ids.tolist(), out.tolist(), strict=True):
        it = iter(row_in)
        assert all(tok in it for tok in row_out if tok)  # an in-order subsequence
    assert 1 - float(after.sum() / before.sum()) == pytest.approx(0.3, abs=0.04)
    nearly_all = delete_tokens(ids, 1 - 1e-7, gen(2))
    assert torch.all(((nearly_all != 0).sum(1) == 1) | (before == 0))


def test_swap_permutes_words_within_their_row_and_never_moves_padding():
    ids = tokens(300)
    out = swap_tokens(ids, 0.5, gen(1))
    assert torch.equal(out != 0, ids != 0)
    assert torch.equal(out.sort(dim=1).values, ids.sort(dim=1).values)
    assert not torch.equal(out, ids)
    moved = (out != ids).float().sum() / (ids != 0).sum()
    assert 0.3 < float(moved) < 0.9


# --- spec errors and the pipeline -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "keys", "message"),
    [
        (TABULAR, {"rotate": 10.0}, "rotate does not apply to tabular input"),
        (TOKENS, {"noise": 0.1}, "noise does not apply to tokens input"),
        (IMAGE, {"delete": 0.1}, "delete does not apply to image input"),
        (TOKENS, {"mixup": 0.2}, "mixup does not apply to tokens input"),
        (IMAGE, {"shift": 8.0}, "out of view"),
    ],
)
def test_a_key_that_does_not_fit_the_input_is_one_line(spec, keys, message):
    with pytest.raises(SpecError, match=message) as info:
        build_augmenter(AugmentConfig(**keys), spec, task="classification")
    assert "\n" not in str(info.value)


def test_all_categorical_table_refuses_noise():
    with pytest.raises(SpecError, match="all categorical"):
        build_augmenter(AugmentConfig(noise=0.1), TABULAR, task="x", continuous=[False] * 6)


SPEC = """
name = "aug"
seed = 1
[data]
source = "builtin:iris"
split = {{ val = 0.2, test = 0.2 }}
augment = {{ {augment} }}
[model]
name = "mlp"
width = 8
depth = 1
[train]
epochs = 2
batch_size = 16
threads = 1
early_stopping = {{ enabled = false }}
[evaluate]
cv_folds = 2
[report]
enabled = false
"""


def spec_file(tmp_path: Path, augment: str) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC.format(augment=augment))
    return path


def test_prepare_refuses_an_image_key_on_tabular_data_before_training(tmp_path):
    loaded = load_spec(spec_file(tmp_path, "rotate = 10"))
    with pytest.raises(SpecError, match=r"\[data.augment\] rotate does not apply to tabular"):
        prepare(loaded.spec, loaded.base_dir)
    loaded = load_spec(spec_file(tmp_path, "noise = 0.1"))
    prep = prepare(loaded.spec, loaded.base_dir)
    summary = _data_summary(prep)  # the report's data section says what training saw
    assert summary["training batches augmented"] == {"noise": 0.1, "noise_columns": 4}


def test_unknown_key_is_refused_by_load_and_validate(tmp_path, keel_cli):
    path = spec_file(tmp_path, "rotation = 10")
    with pytest.raises(SpecError, match=r"data\.augment\.rotation.*did you mean 'rotate'"):
        load_spec(path)
    done = keel_cli("validate", path)
    assert done.returncode == 2 and "data.augment.rotation" in done.stderr + done.stdout


def test_run_trains_on_augmented_batches_and_records_it(tmp_path, keel_home):
    result = keel.run(spec_file(tmp_path, "noise = 0.1, mixup = 0.2"), quiet=True, register=False)
    assert result.data_lineage["augment"] == {"noise": 0.1, "mixup": 0.2, "noise_columns": 4}
    assert len(result.metrics["cv"]["accuracy"]["folds"]) == 2
    plain = keel.run(spec_file(tmp_path, ""), quiet=True, register=False)
    assert "augment" not in plain.data_lineage
    assert result.history[-1]["train_loss"] != plain.history[-1]["train_loss"]
