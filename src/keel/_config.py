"""The base of every typed config section: strict, frozen pydantic models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Config(BaseModel):
    """A spec section: unknown keys are errors, values are validated once, then frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
