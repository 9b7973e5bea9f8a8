"""Read the learning curves: is the model overfitting, underfitting, or fine — and what to try next.

:func:`diagnose` is a pure function of the per-epoch history, so it can be tested on synthetic
curves and re-run on any saved history. The rules, in order:

overfitting
    the validation loss reached its minimum before the last ``window`` epochs and stayed above it
    (by more than ``RISE`` of it) through all of them, while the gap between validation and train
    loss grew: a sustained rise, not one noisy epoch.
underfitting
    the best validation loss is no better than ``reference_loss`` (a linear model's validation loss
    on the same features, when the caller has one) by ``MARGIN``; or, without a reference, both
    losses stay high (the final train loss is above ``HIGH`` × the baseline loss — the loss of
    predicting the class prior, or the mean for regression); or the loss (validation when there is
    some, train otherwise) was still falling steeply at the end: by more than ``STEEP`` of the
    baseline (or of its own value, without a baseline) over the last ``window`` epochs.
fine
    otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["HIGH", "MARGIN", "RISE", "STEEP", "Diagnosis", "diagnose"]

RISE = 0.05
MARGIN = 0.02
HIGH = 0.5
STEEP = 0.05

Verdict = Literal["overfitting", "underfitting", "fine"]


@dataclass(frozen=True)
class Diagnosis:
    """A verdict on the learning curves, why, and the concrete spec knob to try next."""

    verdict: Verdict
    message: str
    suggestion: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _now(knobs: Mapping[str, Any], key: str) -> str:
    value = knobs.get(key)
    return "" if value is None else f" (now {value:g})"


def diagnose(
    history: Sequence[Mapping[str, Any]],
    task: str,
    *,
    baseline_loss: float | None = None,
    reference_loss: float | None = None,
    knobs: Mapping[str, Any] | None = None,
    window: int = 3,
) -> Diagnosis:
    """Diagnose a training run from its history rows (``train_loss``, optional ``val_loss``).

    ``baseline_loss`` is the loss of a model that ignores its input (class prior / mean);
    ``reference_loss`` the validation loss of a linear model on the same features;
    ``knobs`` holds current values quoted in the suggestion (``dropout``, ``weight_decay``, ``l2``,
    ``epochs``, ``lr``).
    """
    knobs = knobs or {}
    train = [float(row["train_loss"]) for row in history]
    val = [row.get("val_loss") for row in history]
    has_val = bool(val) and all(v is not None for v in val)
    val = [float(v) for v in val] if has_val else []
    n = len(train)
    if n == 0:
        return Diagnosis("fine", "no epoch was run, so there is nothing to diagnose", "")
    w = min(window, n - 1)
    prior = "the class prior" if task == "classification" else "the mean"

    if has_val and w >= 1:
        i_min = min(range(n), key=val.__getitem__)
        gap = [v - t for v, t in zip(val, train, strict=True)]
        above = val[i_min] + RISE * abs(val[i_min])
        rose = i_min < n - w and all(v > above for v in val[n - w :])
        if rose and gap[-1] > gap[-1 - w] and gap[-1] > gap[i_min]:
            return Diagnosis(
                "overfitting",
                f"validation loss rose from {val[i_min]:.4g} (epoch {i_min + 1}) to "
                f"{val[-1]:.4g} (epoch {n}) while train loss fell to {train[-1]:.4g}: "
                f"the train/validation gap grew from {gap[i_min]:.3g} to {gap[-1]:.3g}",
                f"raise [model] dropout{_now(knobs, 'dropout')} or [train] weight_decay"
                f"{_now(knobs, 'weight_decay')} / l2{_now(knobs, 'l2')}, or lower [model] "
                "width/depth; more training data helps too ([data.augment], or unlabeled rows "
                "with [data.unlabeled] + [train.pseudo_label])",
            )

    longer = (
        f"train longer ([train] epochs{_now(knobs, 'epochs')}), raise [model] width/depth or "
        f"[train] lr{_now(knobs, 'lr')}"
    )
    if has_val and reference_loss is not None and reference_loss > 0:
        best = min(val)
        if best > reference_loss * (1 + MARGIN):
            return Diagnosis(
                "underfitting",
                f"the best validation loss {best:.4g} is worse than a linear model's "
                f"({reference_loss:.4g}) on the same features",
                f"{longer}; lower [model] dropout{_now(knobs, 'dropout')} if it is high",
            )
    elif baseline_loss is not None and baseline_loss > 0:
        high = train[-1] > HIGH * baseline_loss and (not has_val or val[-1] > HIGH * baseline_loss)
        if high:
            return Diagnosis(
                "underfitting",
                f"train loss {train[-1]:.4g} is still {train[-1] / baseline_loss:.0%} of the "
                f"loss of predicting {prior} ({baseline_loss:.4g})",
                f"{longer}; lower [model] dropout{_now(knobs, 'dropout')} if it is high",
            )
    curve, which = (val, "validation") if has_val else (train, "train")
    if w >= 1:
        drop = curve[-1 - w] - curve[-1]
        scale = baseline_loss if baseline_loss else abs(curve[-1 - w])
        if drop > STEEP * scale:
            return Diagnosis(
                "underfitting",
                f"{which} loss was still falling steeply at the end: {curve[-1 - w]:.4g} → "
                f"{curve[-1]:.4g} over the last {w} epochs",
                longer,
            )
    if has_val:
        message = (
            f"the learning curves flattened without a rising validation loss (train loss "
            f"{train[-1]:.4g}, validation loss {val[-1]:.4g})"
        )
    else:
        message = f"the train loss flattened at {train[-1]:.4g} (no validation data to compare)"
    if knobs.get("schedule", "none") == "none":
        hint = "nothing pressing: try a [train] schedule (cosine or onecycle) to squeeze out more"
    else:
        hint = (
            "nothing pressing: more training data is the next lever ([data.augment], or "
            "unlabeled rows with [data.unlabeled] + [train.pseudo_label])"
        )
    return Diagnosis("fine", message, hint)
