"""What each architecture is made of, how it reads each input kind, and when it refuses one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from keel.data.types import InputSpec
from keel.errors import SpecError
from keel.models import CNNConfig, MLPConfig, RNNConfig, TransformerConfig, build_model

from .conftest import IMAGE, TABULAR, TOKENS, batch


def _count(model: nn.Module, kind: type[nn.Module]) -> int:
    return sum(isinstance(m, kind) for m in model.modules())


# --- mlp ---------------------------------------------------------------------------------------


def test_mlp_stacks_depth_hidden_layers_of_width() -> None:
    model = build_model(MLPConfig(width=12, depth=3, norm="layer"), TABULAR, 4)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (5, 12),
        (12, 12),
        (12, 12),
        (12, 4),
    ]
    assert _count(model, nn.LayerNorm) == 3


def test_mlp_with_no_hidden_layer_is_linear() -> None:
    model = build_model(MLPConfig(depth=0), IMAGE, 2)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2 * 8 * 6, 2)]


# --- cnn ---------------------------------------------------------------------------------------


def test_cnn_blocks_follow_channels_and_convs_per_block() -> None:
    cfg = CNNConfig(channels=[4, 8], convs_per_block=2, kernel_size=5, norm="layer")
    model = build_model(cfg, IMAGE, 3)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in convs] == [
        (2, 4, (5, 5)),
        (4, 4, (5, 5)),
        (4, 8, (5, 5)),
        (8, 8, (5, 5)),
    ]
    groups = [m for m in model.modules() if isinstance(m, nn.GroupNorm)]
    assert [g.num_groups for g in groups] == [1, 1, 1, 1]
    assert _count(model, nn.MaxPool2d) == 2


def test_cnn_batch_norm_replaces_the_conv_bias() -> None:
    model = build_model(CNNConfig(norm="batch"), IMAGE, 3)
    assert _count(model, nn.BatchNorm2d) == 2
    assert all(m.bias is None for m in model.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 28, 28), (3, 32, 32)])
def test_default_cnn_reads_digits_mnist_and_colour_images(shape: tuple[int, int, int]) -> None:
    model = build_model(CNNConfig(), InputSpec("image", shape), 10).eval()
    with torch.no_grad():
        assert model(torch.randn(2, *shape)).shape == (2, 10)


def test_cnn_pools_only_along_a_side_long_enough() -> None:
    spec = InputSpec("image", (1, 1, 16))  # a 1-row signal still pools along its width
    model = build_model(CNNConfig(channels=[4, 4, 4]), spec, 2)
    pools = [m.kernel_size for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert pools == [(1, 2), (1, 2), (1, 2)]
    assert model(torch.randn(3, 1, 1, 16)).shape == (3, 2)


def test_cnn_pooling_past_one_pixel_names_channels_and_pool() -> None:
    with pytest.raises(SpecError) as caught:
        build_model(CNNConfig(channels=[8, 8, 8, 8]), InputSpec("image", (1, 8, 8)), 10)
    message = str(caught.value)
    assert "8×8" in message and "1×1 after 3" in message
    assert "[model] channels" in message and "[model] pool" in message
    with pytest.raises(SpecError, match="28×28 image is down to 1×1 after 2"):
        build_model(CNNConfig(pool=4, channels=[8, 8, 8]), InputSpec("image", (1, 28, 28)), 10)


def test_cnn_without_pooling_keeps_any_depth() -> None:
    model = build_model(CNNConfig(channels=[4] * 6, pool=1), InputSpec("image", (1, 4, 4)), 2)
    assert _count(model, nn.MaxPool2d) == 0
    assert model(torch.randn(2, 1, 4, 4)).shape == (2, 2)


# --- rnn ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnn_cell_layers_and_directions(cell: str) -> None:
    cfg = RNNConfig(cell=cell, width=10, depth=3, bidirectional=True, dropout=0.2)
    rnn = build_model(cfg, TOKENS, 2).rnn
    assert isinstance(rnn, nn.GRU if cell == "gru" else nn.LSTM)
    assert (rnn.hidden_size, rnn.num_layers, rnn.bidirectional, rnn.dropout) == (10, 3, True, 0.2)


def test_rnn_single_layer_has_no_inter_layer_dropout() -> None:
    model = build_model(RNNConfig(depth=1, dropout=0.3), TOKENS, 2)
    assert model.rnn.dropout == 0.0
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3]


def test_rnn_reads_images_row_by_row_and_tables_feature_by_feature() -> None:
    torch.manual_seed(0)
    image_model = build_model(RNNConfig(), IMAGE, 2).eval()
    seen: list[torch.Tensor] = []
    image_model.rnn.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    x = batch(IMAGE, 1)
    with torch.no_grad():
        image_model(x)
    assert seen[0].shape == (1, 8, 2 * 6)  # H steps of C·W values
    for row in range(8):
        assert torch.equal(seen[0][0, row], x[0, :, row, :].flatten())
    tab_model = build_model(RNNConfig(), TABULAR, 2)
    tab_model.rnn.register_forward_pre_hook(lambda _, args: seen.append(args[0]))
    tab_model(batch(TABULAR, 3))
    assert seen[1].shape == (3, 5, 1)  # F steps of one value
    token_model = build_model(RNNConfig(embedding_dim=7), TOKENS, 2)
    assert token_model.embedding.num_embeddings == 30
    assert token_model.embedding.embedding_dim == 7
    assert token_model.embedding.padding_idx == 0


# --- transformer -------------------------------------------------------------------------------


def test_transformer_depth_heads_and_feed_forward() -> None:
    cfg = TransformerConfig(width=24, depth=3, heads=3, ff_mult=4)
    model = build_model(cfg, TOKENS, 2)
    assert len(model.blocks) == 3
    for block in model.blocks:
        assert block.attention.num_heads == 3 and block.attention.batch_first
        assert block.feed_forward[0].out_features == 96
    assert model.cls is not None
    assert build_model(cfg.model_copy(update={"pooling": "mean"}), TOKENS, 2).cls is None


def test_transformer_tabular_input_has_one_learnt_token_per_feature() -> None:
    model = build_model(TransformerConfig(width=16, heads=2), TABULAR, 2)
    assert model.embed.weight.shape == (5, 16) and model.embed.bias.shape == (5, 16)
    x = batch(TABULAR, 1)
    tokens, padding = model._tokens(x)
    assert tokens.shape == (1, 5, 16) and not padding.any()
    assert torch.allclose(tokens[0, 2], x[0, 2] * model.embed.weight[2] + model.embed.bias[2])


def test_transformer_image_input_has_one_token_per_row() -> None:
    model = build_model(TransformerConfig(width=16, heads=2), IMAGE, 2)
    tokens, _ = model._tokens(batch(IMAGE, 3))
    assert tokens.shape == (3, 8, 16)


@pytest.mark.parametrize(("width", "heads"), [(64, 5), (30, 4)])
def test_transformer_width_not_divisible_by_heads(width: int, heads: int) -> None:
    with pytest.raises(SpecError, match=rf"width = {width} is not divisible by \[model\] heads"):
        build_model(TransformerConfig(width=width, heads=heads), TOKENS, 2)


def test_transformer_refuses_longer_sequences_than_it_was_built_for() -> None:
    from keel.errors import DataError

    model = build_model(TransformerConfig(), TOKENS, 2)
    with pytest.raises(DataError, match="sequences of 12 steps but got 13"):
        model(torch.ones(1, 13, dtype=torch.long))


# --- input kinds an architecture refuses -------------------------------------------------------


def test_cnn_on_tabular_input_says_how_to_fix_it() -> None:
    with pytest.raises(SpecError) as caught:
        build_model(CNNConfig(), TABULAR, 2)
    message = str(caught.value)
    assert message.startswith("model 'cnn' needs image input (shape C×H×W)")
    assert "set [data] image_shape = [C, H, W] or use model 'mlp'" in message


@pytest.mark.parametrize("cfg", [CNNConfig(), MLPConfig()], ids=["cnn", "mlp"])
def test_token_input_points_to_sequence_models(cfg: CNNConfig | MLPConfig) -> None:
    with pytest.raises(SpecError, match="use model 'rnn' or 'transformer'"):
        build_model(cfg, TOKENS, 2)
