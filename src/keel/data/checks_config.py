"""The `[data.checks]` section: which data findings warn, which stop a run, and their thresholds."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel._config import Config

Severity = Literal["off", "warn", "error"]


class ChecksConfig(Config):
    """Each check is ``off`` (not run at all), ``warn`` (reported) or ``error`` (exit 2 before
    training). The first five report what loading repaired; ``off`` leaves a repair unreported
    (it is still made), ``error`` stops the run instead."""

    enabled: bool = Field(True, description="run the checks as the first stage of `keel run`")
    # what loading repaired (keel.data._repairs): warn reports it, error refuses the repair
    target_gaps: Severity = Field("warn", description="rows without a target, dropped")
    feature_gaps: Severity = Field(
        "warn", description='gaps imputed (+ indicators), or rows dropped by missing = "drop"'
    )
    stray_values: Severity = Field("warn", description="strings in numbers, read as missing")
    identifier_columns: Severity = Field("warn", description="a value per row: dropped")
    date_columns: Severity = Field("warn", description="dates read as days, year, month, weekday")
    duplicates: Severity = Field("warn", description="rows repeated exactly (features + target)")
    near_duplicates: Severity = Field("warn", description="rows nearly repeating another")
    empty_texts: Severity = Field(
        "warn", description="texts without words (only spaces, punctuation or emoji)"
    )
    conflicting_labels: Severity = Field("warn", description="same features, different targets")
    leakage: Severity = Field("warn", description="test rows whose features are in training")
    leakage_feature: Severity = Field(
        "warn", description="a feature that alone predicts the target (derived from it?)"
    )
    missing: Severity = Field("warn", description="a column missing more than max_missing")
    constant_columns: Severity = Field("warn", description="a column with one value only")
    imbalance: Severity = Field("warn", description="a class rarer than min_class_fraction")
    outliers: Severity = Field("warn", description="rows with a value far out (robust z-score)")
    near_threshold: float | None = Field(
        None,
        gt=0.0,
        le=1.0,
        description="similarity for near_duplicates; default 0.8 texts, 0.9 rows",
    )
    max_missing: float = Field(0.2, ge=0.0, le=1.0, description="fraction of a column's rows")
    max_duplicates: float = Field(0.0, ge=0.0, le=1.0, description="fraction of rows tolerated")
    min_class_fraction: float = Field(0.05, ge=0.0, le=1.0)
    outlier_z: float = Field(
        8.0, gt=0.0, le=1e6, description="|x - median| / (1.4826·MAD) above this"
    )
    max_outliers: float = Field(0.01, ge=0.0, le=1.0, description="fraction of rows tolerated")
    leakage_auc: float = Field(
        0.99, gt=0.5, le=1.0, description="leakage_feature: one feature's out-of-sample ROC AUC"
    )
    leakage_r2: float = Field(
        0.98, gt=0.0, le=1.0, description="leakage_feature: one feature's out-of-sample R²"
    )


# every check, in the order the checkers run them and report their findings
CHECKS: tuple[str, ...] = tuple(
    name for name, f in ChecksConfig.model_fields.items() if f.annotation == Severity
)
