"""The `[gates]` section of a spec: the conditions a version must meet to be promoted.

```toml
[gates]
require = ["test.accuracy >= 0.97", "test.ece <= 0.05", "cv.accuracy.std < 0.02"]
```

Each condition is checked for its form when the spec is read; whether its figure exists is known
only once the figures are recorded, so a condition naming an unknown figure fails its gate then.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field

from keel._config import Config
from keel.errors import SpecError
from keel.registry._gates import Condition, parse_condition

__all__ = ["GatesConfig"]


def _condition(text: str) -> str:
    try:
        condition = parse_condition(text)
    except SpecError as err:
        raise ValueError(str(err)) from None
    if not math.isfinite(condition.threshold):  # '1e999' reads as inf, which JSON cannot hold
        raise ValueError(
            f"gate condition {text!r} has a threshold past the largest float; "
            "write a finite number, e.g. 'test.rmse <= 1e6'"
        )
    return text.strip()


ConditionText = Annotated[str, AfterValidator(_condition)]


class GatesConfig(Config):
    """Release gates: every condition must hold before a version is promoted."""

    require: list[ConditionText] = Field(
        default_factory=list,
        description="conditions 'FIGURE OP NUMBER', e.g. 'test.accuracy >= 0.97'",
    )

    @property
    def conditions(self) -> list[Condition]:
        """The parsed conditions, in the order given."""
        return [parse_condition(text) for text in self.require]
