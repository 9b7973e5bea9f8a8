"""The `[evaluate]` section of a spec."""

from __future__ import annotations

from pydantic import Field

from keel._config import Config


class EvaluateConfig(Config):
    """What is measured after training."""

    cv_folds: int = Field(0, ge=0, le=50, description="k-fold cross-validation; 0 turns it off")
    ece_bins: int = Field(15, ge=2, le=100, description="bins of the expected calibration error")
