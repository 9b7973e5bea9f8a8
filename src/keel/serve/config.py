"""The `[serve]` section of a spec: how `keel serve` batches, limits and logs one model.

The section travels with the registered version (it is part of the spec in the manifest), so a
served model gets the settings it was released with; `keel serve` flags override them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from keel._config import MAX_ROWS, Config


class PredictionLogConfig(Config):
    """``[serve.prediction_log]``: which answered requests are kept, and how files rotate."""

    sample: float = Field(0.0, ge=0.0, le=1.0, description="fraction of requests logged; 0 = off")
    format: Literal["parquet", "jsonl"] = "parquet"
    rotate_rows: int = Field(10_000, ge=1, le=MAX_ROWS, description="rows per file at most")
    rotate_s: float = Field(60.0, gt=0, le=30 * 86_400, description="seconds per file at most")
    flush_s: float = Field(1.0, gt=0, le=3600, description="seconds between writes")
    max_buffer_rows: int = Field(
        100_000, ge=1, le=MAX_ROWS, description="rows waiting to be written; past it: dropped"
    )


class ServeConfig(Config):
    """Dynamic batching, limits and the prediction log for one served model."""

    max_batch_size: int = Field(32, ge=1, le=65_536, description="rows per batch at most")
    max_delay_ms: float = Field(
        0.0, ge=0, le=10_000, description="the oldest request's wait for more; 0 = none (Triton's)"
    )
    max_queue: int = Field(
        1024, ge=1, le=MAX_ROWS, description="rows waiting at most; past it: 429"
    )
    timeout_s: float = Field(10.0, gt=0, le=3600, description="a request's deadline; past it: 503")
    rate_limit: float = Field(
        0.0, ge=0, le=1e6,
        description="requests per second per API key (token bucket); 0 = unlimited",
    )  # fmt: skip
    burst: int = Field(
        0, ge=0, le=MAX_ROWS, description="token bucket size; 0 = one second of rate_limit"
    )
    max_body_bytes: int = Field(8 * 2**20, ge=1024, le=2**30, description="larger bodies get 413")
    max_rows: int = Field(
        1024, ge=1, le=MAX_ROWS, description="rows in one request at most; more get 413"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600,
        description="seconds a request body may take to arrive once its key is accepted; 408",
    )  # fmt: skip
    unknown_category: Literal["error", "ignore"] = Field(
        "error",
        description="a category the model never saw: refuse the record (error) or encode it as "
        "no known category (ignore); keel.load's Predictor follows the same setting",
    )
    prediction_log: PredictionLogConfig = Field(default_factory=PredictionLogConfig)
