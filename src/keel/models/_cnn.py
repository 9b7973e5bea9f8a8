"""The convolutional network: conv blocks → pool → dropout → dense head."""

from __future__ import annotations

import torch
from torch import nn

from keel.data.types import InputSpec
from keel.errors import SpecError
from keel.models._blocks import activation, conv_norm, wrong_input
from keel.models.config import CNNConfig

__all__ = ["CNN", "build_cnn", "pool_plan"]


def _pool_kernel(h: int, w: int, pool: int) -> tuple[int, int] | None:
    """The (kh, kw) max-pool kernel at an (h, w) map, None when neither side can shrink.

    A side shorter than ``pool`` is left as it is (kernel 1 along it), so a 1-row map still
    pools along its width.
    """
    kh = pool if h >= pool else 1
    kw = pool if w >= pool else 1
    return None if (kh, kw) == (1, 1) else (kh, kw)


def pool_plan(cfg: CNNConfig, height: int, width: int) -> list[tuple[int, int] | None]:
    """The pool kernel after each conv block (None: no pooling), checked against the image.

    Raises SpecError when a block would pool a map that cannot shrink any further.
    """
    if cfg.pool == 1:
        return [None] * len(cfg.channels)
    plan: list[tuple[int, int] | None] = []
    h, w = height, width
    for block in range(len(cfg.channels)):
        kernel = _pool_kernel(h, w, cfg.pool)
        if kernel is None:
            raise SpecError(
                f"model 'cnn' pools by {cfg.pool} after each of its {len(cfg.channels)} conv "
                f"blocks, but the {height}×{width} image is down to {h}×{w} after {block} of "
                f"them and cannot shrink further; list at most {block} entries in [model] "
                f"channels or lower [model] pool (pool = 1 turns pooling off)"
            )
        plan.append(kernel)
        h, w = h // kernel[0], w // kernel[1]
    return plan


class CNN(nn.Module):
    """Per entry of ``channels``: ``convs_per_block`` × [Conv2d → norm → activation] → MaxPool2d;
    then Dropout → flatten → ``depth`` × [Linear(width) → activation → dropout] → Linear.
    """

    def __init__(self, cfg: CNNConfig, image_shape: tuple[int, int, int], n_outputs: int) -> None:
        super().__init__()
        c_in, h, w = image_shape
        conv: list[nn.Module] = []
        for c_out, kernel in zip(cfg.channels, pool_plan(cfg, h, w), strict=True):
            for _ in range(cfg.convs_per_block):
                conv += [
                    nn.Conv2d(
                        c_in,
                        c_out,
                        cfg.kernel_size,
                        padding="same",
                        bias=cfg.norm != "batch",  # batch norm's shift makes a bias redundant
                    ),
                    conv_norm(cfg.norm, c_out),
                    activation(cfg.activation),
                ]
                c_in = c_out
            if kernel is not None:
                conv.append(nn.MaxPool2d(kernel))
                h, w = h // kernel[0], w // kernel[1]
        self.features = nn.Sequential(*conv)
        head: list[nn.Module] = [nn.Dropout(cfg.dropout), nn.Flatten()]
        width_in = c_in * h * w
        for _ in range(cfg.depth):
            head += [nn.Linear(width_in, cfg.width), activation(cfg.activation)]
            head.append(nn.Dropout(cfg.dropout))
            width_in = cfg.width
        head.append(nn.Linear(width_in, n_outputs))
        self.head = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_cnn(cfg: CNNConfig, spec: InputSpec, n_outputs: int) -> CNN:
    """A CNN over image input of shape (C, H, W)."""
    if spec.kind != "image":
        fix = (
            "use model 'rnn' or 'transformer' for text"
            if spec.kind == "tokens"
            else "set [data] image_shape = [C, H, W] or use model 'mlp'"
        )
        raise wrong_input("cnn", spec, "image input (shape C×H×W)", fix)
    c, h, w = spec.shape
    return CNN(cfg, (c, h, w), n_outputs)
