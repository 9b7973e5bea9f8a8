"""Live progress of a training run: a rich bar over epochs and batches, or nothing at all."""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["NullProgress", "RichProgress", "open_progress"]


class NullProgress:
    """The progress hooks the training loop calls; this one shows nothing."""

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def epoch_start(self) -> None:
        return None

    def batch(self, losses: list[torch.Tensor]) -> None:
        """After each batch, with the epoch's batch losses so far."""
        return None

    def epoch_end(self, row: dict[str, Any]) -> None:
        return None


class RichProgress(NullProgress):
    """Two bars on stderr: epochs (with the last train loss and monitored metric) and batches.

    The running train loss on the batch bar is read at most twice a second, so the bar costs no
    per-batch synchronisation.
    """

    REFRESH_S = 0.5

    def __init__(self, *, epochs: int, batches: int, done: int, monitor: str) -> None:
        self.monitor_key = "val_loss" if monitor == "loss" else f"val_{monitor}"
        self.batches = batches
        self._bar = Progress(
            TextColumn("{task.description:>7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"),
            console=Console(stderr=True),
        )
        self._epochs = self._bar.add_task("epoch", total=epochs, completed=done, info="")
        self._batches = self._bar.add_task("batch", total=batches, info="")
        self._shown = 0.0

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._bar.remove_task(self._batches)  # what stays on screen: the epoch bar and its metrics
        self._bar.stop()

    def epoch_start(self) -> None:
        self._bar.reset(self._batches, total=self.batches, info="")

    def batch(self, losses: list[torch.Tensor]) -> None:
        now = time.monotonic()
        if now - self._shown >= self.REFRESH_S:
            self._shown = now
            running = float(torch.stack(losses).mean())
            self._bar.update(self._batches, advance=1, info=f"loss {running:.4f}")
        else:
            self._bar.advance(self._batches)

    def epoch_end(self, row: dict[str, Any]) -> None:
        info = f"train_loss {row['train_loss']:.4f}"
        value = row.get(self.monitor_key)
        if value is not None:
            info += f"  {self.monitor_key} {value:.4f}"
        self._bar.update(self._epochs, advance=1, info=info)


def open_progress(
    show: bool, *, epochs: int, batches: int, done: int, monitor: str
) -> NullProgress:
    """A rich progress display, or a silent one when ``show`` is false."""
    if not show:
        return NullProgress()
    return RichProgress(epochs=epochs, batches=batches, done=done, monitor=monitor)
