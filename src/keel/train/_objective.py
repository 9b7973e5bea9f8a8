"""What the trainer minimises: the data loss (weighted cross-entropy or MSE) + L1/L2 penalties."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from keel.errors import SpecError

__all__ = [
    "Criterion",
    "baseline_loss",
    "class_weights",
    "make_criterion",
    "penalised_params",
    "penalty",
]

Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def class_weights(
    spec: str | Mapping[str, float],
    y: torch.Tensor,
    *,
    task: str,
    n_classes: int,
    class_names: Sequence[str] | None,
) -> torch.Tensor | None:
    """Per-class loss weights from ``[train] class_weights`` (None: unweighted).

    ``"balanced"`` weighs class c by ``n / (k · count_c)`` over the training labels (a class absent
    from them gets 1); a mapping gives weights by class name, unnamed classes keep 1.
    """
    if spec == "none":
        return None
    if task != "classification":
        raise SpecError(
            "[train] class_weights applies to classification only: remove it for a regression "
            "target"
        )
    if isinstance(spec, str):  # "balanced", the one other literal
        counts = torch.bincount(y, minlength=n_classes).double()
        weights = torch.where(counts > 0, len(y) / (n_classes * counts.clamp(min=1)), 1.0)
        return weights.float()
    if class_names is None:
        raise SpecError(
            "[train] class_weights by class name needs the class names of the target: "
            'pass class_names, or use class_weights = "balanced"'
        )
    index = {str(name): i for i, name in enumerate(class_names)}
    unknown = sorted(set(spec) - set(index))
    if unknown:
        raise SpecError(
            f"[train] class_weights names unknown class(es) {', '.join(map(repr, unknown))}: "
            f"the classes are {', '.join(map(repr, index))}"
        )
    weights = torch.ones(n_classes)
    for name, weight in spec.items():
        weights[index[name]] = float(weight)
    return weights


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    if out.ndim == y.ndim + 1 and out.shape[-1] == 1:
        out = out.squeeze(-1)
    return F.mse_loss(out, y)


def make_criterion(task: str, weights: torch.Tensor | None) -> Criterion:
    """Cross-entropy on logits (optionally class-weighted) or mean squared error."""
    if task == "classification":
        if weights is None:
            return F.cross_entropy
        return lambda logits, y: F.cross_entropy(logits, y, weight=weights)
    return _mse


def penalised_params(model: nn.Module) -> list[nn.Parameter]:
    """The weight matrices and kernels (ndim ≥ 2) — not biases, not norm scales and shifts."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]


def penalty(params: Sequence[torch.Tensor], l1: float, l2: float) -> torch.Tensor:
    """``l1 · Σ|w| + l2 · Σw²`` over ``params``."""
    total = torch.zeros(())
    for p in params:
        if l1:
            total = total + l1 * p.abs().sum()
        if l2:
            total = total + l2 * p.square().sum()
    return total


def baseline_loss(criterion: Criterion, y: torch.Tensor, *, task: str, n_classes: int) -> float:
    """The loss of a model that ignores its input: the class prior, or the mean target."""
    if task == "classification":
        prior = torch.bincount(y, minlength=n_classes).float() / len(y)
        logits = prior.clamp(min=1e-12).log().expand(len(y), n_classes)
        return float(criterion(logits, y))
    return float(criterion(y.mean(dim=0).expand_as(y), y))
