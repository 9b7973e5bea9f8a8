"""The ``[data.augment]`` section: random changes to training batches, drawn afresh each epoch."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from keel._config import Config

__all__ = ["AUGMENT_KINDS", "AugmentConfig"]

# Which model input kinds (InputSpec.kind) each key applies to.
AUGMENT_KINDS: dict[str, tuple[str, ...]] = {
    "flip": ("image",),
    "rotate": ("image",),
    "shift": ("image",),
    "noise": ("image", "tabular"),
    "mixup": ("image", "tabular"),
    "delete": ("tokens",),
    "swap": ("tokens",),
}


class AugmentConfig(Config):
    """``[data.augment]``: applied on the fly to training batches only (never validation, test
    or held-out CV folds). Everything is off by default."""

    flip: bool = Field(
        False, description="images: mirror left-right with probability 0.5 (not for digits/text)"
    )
    rotate: float = Field(
        0.0, ge=0.0, le=180.0, description="images: rotate by up to this many degrees either way"
    )
    shift: float = Field(
        0.0, ge=0.0, le=64.0, description="images: shift by up to this many pixels on each axis"
    )
    noise: float = Field(
        0.0, ge=0.0, le=10.0,
        description="images and tabular: Gaussian noise std in the model's input units "
        "(scaled pixels; scaled numeric columns, never one-hot or ordinal categories)",
    )  # fmt: skip
    mixup: float = Field(
        0.0, ge=0.0, le=10.0,
        description="images and tabular: mixup Beta(alpha, alpha) mixing of row pairs; 0 = off",
    )  # fmt: skip
    delete: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="text: drop each word with this probability (at least one word stays)",
    )  # fmt: skip
    swap: float = Field(
        0.0, ge=0.0, le=1.0,
        description="text: swap neighbouring words, each pair with this probability",
    )  # fmt: skip

    def active(self) -> dict[str, Any]:
        """The keys that change batches, with their values (empty: augmentation is off)."""
        return {k: v for k, v in self.model_dump().items() if v}
