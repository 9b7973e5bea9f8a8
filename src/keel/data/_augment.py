"""On-the-fly augmentation of training batches, as whole-batch torch operations.

Images: a random left-right flip, one rotation and shift per image (one ``affine_grid`` /
``grid_sample`` pass, bilinear, zeros outside), Gaussian noise. Tabular: Gaussian noise on the
scaled numeric columns (one-hot and ordinal category codes are left alone). Token ids: random word
deletion (the rest move forward, padding stays at the end, at least one word stays) and swaps of
neighbouring words. Images and tabular rows can also be mixed pairwise (mixup, Zhang et al. 2018):
the batch then carries two targets and the weight of the first. Every draw comes from the
generator passed in, so a batch is a function of (batch, generator state).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from keel.data._media import PAD
from keel.data.augment_config import AUGMENT_KINDS, AugmentConfig
from keel.data.types import InputSpec
from keel.errors import SpecError

__all__ = [
    "Augmenter",
    "Batch",
    "affine",
    "build_augmenter",
    "delete_tokens",
    "mixup",
    "noise_columns",
    "swap_tokens",
]


class Batch(NamedTuple):
    """An augmented batch. Without mixup ``y_b`` is None and ``lam`` is 1; with it the loss is
    ``lam * loss(out, y_a) + (1 - lam) * loss(out, y_b)``."""

    x: torch.Tensor
    y_a: torch.Tensor
    y_b: torch.Tensor | None
    lam: float


def affine(images: torch.Tensor, degrees: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Rotate each ``(C, H, W)`` image by ``degrees[i]`` (counter-clockwise on screen) about its
    centre and move it by ``shift[i] = (dx, dy)`` pixels (right, down), in one resampling pass.
    Pixels from outside the image are 0."""
    n, _, h, w = images.shape
    a = torch.deg2rad(degrees.to(images.dtype))
    cos, sin = torch.cos(a), torch.sin(a)
    # affine_grid maps each output point to the input point it samples, in [-1, 1] coordinates
    # per axis: the inverse of the motion, with the aspect ratio undone so rotation stays rigid.
    theta = torch.empty(n, 2, 3, dtype=images.dtype)
    theta[:, 0, 0] = cos
    theta[:, 0, 1] = -sin * h / w
    theta[:, 1, 0] = sin * w / h
    theta[:, 1, 1] = cos
    dx = shift[:, 0].to(images.dtype) * 2 / w
    dy = shift[:, 1].to(images.dtype) * 2 / h
    theta[:, 0, 2] = -(theta[:, 0, 0] * dx + theta[:, 0, 1] * dy)
    theta[:, 1, 2] = -(theta[:, 1, 0] * dx + theta[:, 1, 1] * dy)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _lengths(ids: torch.Tensor) -> torch.Tensor:
    return (ids != PAD).sum(dim=1)


def delete_tokens(ids: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Drop each word of ``(B, T)`` padded ids with probability ``p``; the kept words move to the
    front in order, padding fills the end, and a row that had words keeps at least one."""
    real = ids != PAD
    keep = real & (torch.rand(ids.shape, generator=generator) >= p)
    emptied = real.any(dim=1) & ~keep.any(dim=1)
    if emptied.any():  # keep one random word of each row that lost them all
        score = torch.rand(ids.shape, generator=generator).masked_fill(~real, -1.0)
        keep[emptied, score[emptied].argmax(dim=1)] = True
    t = ids.shape[1]
    position = torch.arange(t).expand_as(ids)
    order = torch.argsort(torch.where(keep, position, position + t), dim=1)  # kept words first
    moved = torch.gather(ids, 1, order)
    return moved.masked_fill(position >= keep.sum(dim=1, keepdim=True), PAD)


def swap_tokens(ids: torch.Tensor, p: float, generator: torch.Generator) -> torch.Tensor:
    """Swap neighbouring words of ``(B, T)`` padded ids: the pairs (0,1), (2,3), ... then (1,2),
    (3,4), ..., each with probability ``p``; padding never moves."""
    out = ids
    t = ids.shape[1]
    for offset in (0, 1):
        left = torch.arange(offset, t - 1, 2)
        if len(left) == 0:
            continue
        right = left + 1
        both = (out[:, left] != PAD) & (out[:, right] != PAD)
        hit = both & (torch.rand(both.shape, generator=generator) < p)
        index = torch.arange(t).repeat(len(ids), 1)
        index[:, left] = torch.where(hit, right, left)
        index[:, right] = torch.where(hit, left, right)
        out = torch.gather(out, 1, index)
    return out


def mixup(
    x: torch.Tensor, y: torch.Tensor, alpha: float, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
    """Each row mixed with a random partner: ``lam * x + (1 - lam) * x[perm]``, one
    ``lam ~ Beta(alpha, alpha)`` per batch. Returns ``(x_mixed, y, y[perm], lam)``."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    perm = torch.randperm(len(x), generator=generator)
    return lam * x + (1.0 - lam) * x[perm], y, y[perm], lam


@dataclass(frozen=True)
class Augmenter:
    """``[data.augment]`` for one input kind; call it on a training batch with a generator."""

    cfg: AugmentConfig
    kind: str
    task: str = "classification"
    columns: torch.Tensor | None = None  # tabular: bool mask of the columns noise touches

    def __call__(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> Batch:
        c = self.cfg
        if self.kind == "tokens":
            if c.delete:
                x = delete_tokens(x, c.delete, generator)
            if c.swap:
                x = swap_tokens(x, c.swap, generator)
            return Batch(x, y, None, 1.0)
        if self.kind == "image":
            x = self._geometry(x, generator)
        if c.noise:
            noise = torch.randn(x.shape, generator=generator, dtype=x.dtype) * c.noise
            x = x + (noise if self.columns is None else noise * self.columns)
        if not c.mixup:
            return Batch(x, y, None, 1.0)
        x, y_a, y_b, lam = mixup(x, y, c.mixup, generator)
        if self.task == "regression":  # mixed inputs, mixed targets
            return Batch(x, lam * y_a + (1.0 - lam) * y_b, None, 1.0)
        return Batch(x, y_a, y_b, lam)

    def _geometry(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        c, n = self.cfg, len(x)
        if c.flip:
            flip = torch.rand(n, generator=generator) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        if c.rotate or c.shift:
            degrees = (torch.rand(n, generator=generator) * 2 - 1) * c.rotate
            shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * c.shift
            x = affine(x, degrees, shift)
        return x

    def describe(self) -> dict[str, Any]:
        """The active keys and values (and how many tabular columns get noise)."""
        out = self.cfg.active()
        if self.columns is not None and self.cfg.noise:
            out["noise_columns"] = int(self.columns.sum())
        return out


def noise_columns(
    feature_names: list[str], categorical: list[str], texts: Sequence[str] = ()
) -> list[bool]:
    """Per encoded tabular column, whether it is continuous (gets noise): not a one-hot
    ``col=value`` column, an ordinal code of a categorical column, nor a ``col~word`` weight of
    a text column."""
    cats, words = set(categorical), set(texts)
    return [
        name.partition("=")[0] not in cats and name.partition("~")[0] not in words
        for name in feature_names
    ]


def build_augmenter(
    cfg: AugmentConfig,
    spec: InputSpec,
    *,
    task: str,
    continuous: list[bool] | None = None,
) -> Augmenter | None:
    """The augmenter for ``spec``'s input kind, or None when nothing is switched on.

    A key that does not apply to the kind is a :class:`SpecError`, raised before training."""
    active = cfg.active()
    if not active:
        return None
    for key in active:
        if spec.kind not in AUGMENT_KINDS[key]:
            allowed = ", ".join(k for k, kinds in AUGMENT_KINDS.items() if spec.kind in kinds)
            raise SpecError(
                f"[data.augment] {key} does not apply to {spec.kind} input; remove it "
                f"(keys for {spec.kind}: {allowed})"
            )
    if spec.kind == "image" and cfg.shift >= min(spec.shape[1:]):
        raise SpecError(
            f"[data.augment] shift = {cfg.shift:g} pixels moves a {spec.shape[1]}x{spec.shape[2]} "
            "image out of view; use fewer pixels than its side"
        )
    columns = None
    if spec.kind == "tabular" and continuous is not None:
        if cfg.noise and not any(continuous):
            raise SpecError(
                "[data.augment] noise needs numeric columns; these inputs are all categorical: "
                "remove noise"
            )
        columns = torch.tensor(continuous, dtype=torch.float32)
    return Augmenter(cfg, spec.kind, task, columns)
