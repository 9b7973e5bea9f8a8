"""``[train.pseudo_label]``: self-training rounds over the ``[data.unlabeled]`` rows.

Round 0 trains on the labeled rows, exactly as a run without pseudo-labelling would. Each later
round asks the last model, through the same :class:`~keel.predictor.Predictor` evaluation uses,
for class probabilities on the rows still unlabeled, accepts those at or above the threshold
(:func:`keel.train._pseudo.select_confident`), adds them with their predicted labels to the
training rows for good, and trains again: a fresh network from the same initial weights
(``reset = true``, the default: the new model is not anchored to the mistakes the previous one
memorised, and every round is the same procedure on more rows) or the last one, further.
Validation and test rows are never pseudo-labelled; the preprocessing stays the one fitted on
the labeled rows. A round that accepts no row ends the loop (retraining would change nothing).
The run keeps the round whose model scored best on validation (the early-stopping metric), so
pseudo-labelling that drifts off course cannot leave a worse model than the labeled rows gave.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from keel.pipeline._artifacts import make_predictor
from keel.pipeline._prepare import Prepared
from keel.spec import Spec
from keel.train import CHECKPOINT_NAME, TrainResult
from keel.train._pseudo import select_confident
from keel.train._stopping import resolve_mode

__all__ = ["PseudoReport", "PseudoRound", "best_round", "fit_rounds"]

# fit(model, (x, y), checkpoint_dir, resume) → the trained result; the caller's train() call
Fit = Callable[[nn.Module, tuple[np.ndarray, np.ndarray], Path | None, bool], TrainResult]


@dataclass(frozen=True)
class PseudoRound:
    """One round: what was labeled before it trained, and how its model scored on validation."""

    round: int
    accepted: int  # rows labeled at the start of this round (0 for round 0)
    per_class: dict[str, int]
    training_rows: int
    remaining: int  # rows still unlabeled after this round's labeling
    accuracy: float | None  # of this round's pseudo labels against the hidden ones (fraction)
    epochs: int
    best_epoch: int
    best_score: float | None  # the early-stopping metric on validation

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class PseudoReport:
    """Every round of a pseudo-labelled run, for lineage, the report and metrics.json."""

    threshold: float
    reset: bool
    monitor: str
    unlabeled: int
    rounds: list[PseudoRound] = field(default_factory=list)
    accuracy: float | None = None  # of every accepted pseudo label (fraction mode)
    kept: int = 0  # the round whose model the run keeps (best on validation)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.rounds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": self.threshold, "reset": self.reset, "monitor": self.monitor,
            "unlabeled_rows": self.unlabeled, "accepted": self.accepted,
            "accuracy": self.accuracy, "kept_round": self.kept,
            "rounds": [r.to_dict() for r in self.rounds],
        }  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """The report's data-summary entry: one line per round."""
        out: dict[str, Any] = {
            "threshold": self.threshold,
            "unlabeled rows": self.unlabeled,
            "accepted": self.accepted,
            "network each round": "fresh" if self.reset else "continued",
            "kept": f"round {self.kept} (best validation {self.monitor})",
        }
        if self.accuracy is not None:
            out["pseudo-label accuracy"] = round(self.accuracy, 4)
        for r in self.rounds:
            score = "—" if r.best_score is None else f"{r.best_score:.4g}"
            acc = "" if r.accuracy is None else f", {r.accuracy:.1%} correct"
            out[f"round {r.round}"] = (
                f"+{r.accepted} rows{acc} → {r.training_rows} training rows; "
                f"val {self.monitor} {score} (epoch {r.best_epoch})"
            )
        return out


def _round(
    k: int, result: TrainResult, accepted: int, per_class: dict[str, int], rows: int,
    remaining: int, accuracy: float | None,
) -> PseudoRound:  # fmt: skip
    return PseudoRound(
        round=k, accepted=accepted, per_class=per_class, training_rows=rows, remaining=remaining,
        accuracy=accuracy, epochs=result.epochs_run, best_epoch=result.best_epoch,
        best_score=result.best_score,
    )  # fmt: skip


def best_round(rounds: list[PseudoRound], mode: str) -> int:
    """The round with the best validation score (``mode`` "min" or "max"); ties and rounds
    without a score go to the earlier round; with no scores at all, the last round."""
    scored = [(r.best_score, r.round) for r in rounds if r.best_score is not None]
    if not scored:
        return rounds[-1].round
    sign = 1.0 if mode == "min" else -1.0
    return min(scored, key=lambda sr: (sign * sr[0], sr[1]))[1]


def _checkpoints(base: Path | None, k: int) -> Path | None:
    """Round 0 keeps the run's usual checkpoint folder; round k has its own below it."""
    return None if base is None else base if k == 0 else base / f"round-{k}"


def fit_rounds(
    prep: Prepared,
    spec: Spec,
    model: nn.Module,
    fit: Fit,
    *,
    checkpoints: Path | None = None,
    resume: bool = False,
) -> tuple[TrainResult, PseudoReport | None]:
    """Train ``model`` on the labeled rows, then pseudo-label and retrain as the spec says.

    Without ``[data.unlabeled]`` this is the one ``fit`` call. A resumed run resumes each round
    that left a checkpoint; labeling is deterministic, so the rounds before it repeat exactly.
    """
    xy = (prep.train.x, prep.train.y)
    pool, cfg = prep.unlabeled, spec.train.pseudo_label
    if pool is None or cfg.rounds == 0:
        return fit(model, xy, checkpoints, resume), None
    initial = copy.deepcopy(model)  # reset: every round starts from these weights
    classes = prep.dataset.classes
    result = fit(model, xy, checkpoints, resume)
    report = PseudoReport(cfg.threshold, cfg.reset, result.monitor, len(pool))
    report.rounds.append(_round(0, result, 0, {}, len(xy[1]), len(pool), None))
    results = [result]
    left = np.arange(len(pool))  # positions into the pool not yet labeled
    x, y = xy
    right = total = 0
    for k in range(1, cfg.rounds + 1):
        if not len(left):
            break
        predictor = make_predictor(result.model, prep.preprocessor, prep.target, spec, prep.dataset)
        picked = select_confident(
            predictor.predict_outputs(pool.x[left]), threshold=cfg.threshold,
            max_per_round=cfg.max_per_round, max_per_class=cfg.max_per_class,
        )  # fmt: skip
        if not len(picked):
            break
        chosen = left[picked.rows]
        accuracy = None
        if pool.hidden is not None:
            hits = int((pool.hidden[chosen] == picked.labels).sum())
            right, total = right + hits, total + len(chosen)
            accuracy = hits / len(chosen)
        x = np.concatenate([x, pool.x[chosen]])
        y = np.concatenate([y, picked.labels.astype(y.dtype)])
        left = np.setdiff1d(left, chosen, assume_unique=True)
        counts = picked.per_class(len(classes))
        per_class = {c: int(n) for c, n in zip(classes, counts, strict=True) if n}
        here = _checkpoints(checkpoints, k)
        again = resume and here is not None and (here / CHECKPOINT_NAME).is_file()
        net = copy.deepcopy(initial if cfg.reset else result.model)  # earlier rounds stay intact
        result = fit(net, (x, y), here, again)
        results.append(result)
        report.rounds.append(_round(k, result, len(chosen), per_class, len(y), len(left), accuracy))
    report.accuracy = right / total if total else None
    es = spec.train.early_stopping
    report.kept = best_round(report.rounds, resolve_mode(es.metric, es.mode))
    result = results[report.kept]
    for row in result.history:
        row["round"] = report.kept
    return result, report
