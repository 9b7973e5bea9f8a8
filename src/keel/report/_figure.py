"""Figures without pyplot: object-API ``Figure``s on an Agg canvas, encoded as PNG data URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 100
GRID = {"color": "#d9dde3", "linewidth": 0.6}
INK = "#1f2933"
# The tab10 colours, spelled out so the report does not depend on a colormap registry.
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def color(i: int) -> str:
    """The ``i``-th colour of the palette (it cycles)."""
    return PALETTE[i % len(PALETTE)]


def new_figure(
    width: float,
    height: float,
    *,
    left: float = 0.75,
    right: float = 0.2,
    top: float = 0.4,
    bottom: float = 0.55,
    wspace: float = 0.3,
    hspace: float = 0.3,
) -> Figure:
    """A figure of ``width`` × ``height`` inches on its own Agg canvas (no global state).

    Margins are fixed, in inches: an automatic layout engine would draw every figure twice.
    """
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=left / width,
        right=1.0 - right / width,
        top=1.0 - top / height,
        bottom=bottom / height,
        wspace=wspace,
        hspace=hspace,
    )
    return fig


def style(ax: Any, *, title: str = "", xlabel: str = "", ylabel: str = "") -> None:
    """Light grid, no top/right spines, and the labels."""
    ax.set_title(title, fontsize=11, color=INK, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    ax.grid(True, **GRID)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def to_data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def short(name: str, width: int = 14) -> str:
    """A label cut to ``width`` characters with an ellipsis."""
    return name if len(name) <= width else name[: width - 1] + "…"


def as_float_array(values: list[Any]) -> np.ndarray:
    """Numbers as float64, with ``None`` and anything non-numeric as NaN."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            out[i] = float(v)
    return out
