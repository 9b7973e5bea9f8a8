"""The ``[data.pii]`` section of a spec: which personal data to find and what to do with it."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from keel._config import Config, parse
from keel.data.pii._detect import ENTITIES, Entity

__all__ = ["ACTIONS", "Action", "ColumnAction", "PiiConfig", "parse_pii_config"]

Action = Literal["mask", "redact", "pseudonym"]
ColumnAction = Literal["mask", "redact", "pseudonym", "skip"]
ACTIONS: tuple[str, ...] = ("mask", "redact", "pseudonym")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def _env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise ValueError(
            "must be an environment variable name: a letter or '_', then letters, digits or '_' "
            "(at most 128), e.g. KEEL_PII_KEY"
        )
    return name


EnvName = Annotated[
    str,
    AfterValidator(_env_name),
    Field(json_schema_extra={"pattern": f"^{_ENV_NAME.pattern}$"}),
]


class PiiConfig(Config):
    """Personal data detection and scrubbing of the loaded table, before anything else sees it.

    Every entity found is replaced by the action chosen for its column (``columns``), else for its
    entity (``actions``), else ``action``. ``mask`` keeps a format hint (``j***@e***.com``,
    ``**** **** **** 1234``), ``redact`` writes a tag (``[EMAIL]``), ``pseudonym`` a keyed token
    (``<EMAIL_…>``, HMAC-SHA256 with the secret in the environment variable ``key_env``: the same
    value gives the same token in every row and every run). Columns in ``drop`` are removed.
    """

    enabled: bool = Field(False, description="scan and scrub the data before it is used")
    entities: list[Entity] = Field(
        default_factory=lambda: list(ENTITIES),
        description=f"entity types to find, any of: {', '.join(ENTITIES)}",
    )
    action: Action = Field("mask", description="what replaces a value: mask, redact or pseudonym")
    actions: dict[Entity, Action] = Field(
        default_factory=dict, description="per entity type, overrides action"
    )
    columns: dict[str, ColumnAction] = Field(
        default_factory=dict,
        description="per column, overrides actions; 'skip' leaves a column unscanned",
    )
    drop: list[str] = Field(default_factory=list, description="identifier columns removed outright")
    key_env: EnvName = Field(
        "KEEL_PII_KEY", description="environment variable holding the HMAC key for pseudonyms"
    )
    scan: Literal["strings", "all"] = Field(
        "strings", description="scan string columns only, or every column as text"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PiiConfig:
        for name, items in (("entities", self.entities), ("drop", self.drop)):
            twice = sorted({x for x in items if items.count(x) > 1})
            if twice:
                raise ValueError(f"{name} lists {twice[0]!r} twice; list each once")
        for entity in self.actions:
            if entity not in self.entities:
                raise ValueError(
                    f"actions sets {entity!r} but entities does not list it; "
                    f"add {entity!r} to entities or remove the action"
                )
        both = sorted(set(self.drop) & set(self.columns))
        if both:
            raise ValueError(
                f"column {both[0]!r} is in drop and in columns; a dropped column is not scanned, "
                "so keep it in one of them"
            )
        return self

    def action_for(self, entity: str, column: str | None = None) -> Action:
        """The action applied to ``entity`` found in ``column``."""
        chosen = self.columns.get(column) if column is not None else None
        if chosen is not None and chosen != "skip":
            return chosen
        return self.actions.get(entity, self.action)  # type: ignore[arg-type]

    @property
    def needs_key(self) -> bool:
        """Whether some entity or column is pseudonymised, so the HMAC key must be set."""
        used = [self.actions.get(e, self.action) for e in self.entities]
        return "pseudonym" in used or "pseudonym" in self.columns.values()


def parse_pii_config(data: Mapping[str, Any], *, origin: str = "[data.pii]") -> PiiConfig:
    """Validate a ``[data.pii]`` mapping; any problem is one :class:`SpecError` line naming the
    key, the value and what is allowed."""
    return parse(PiiConfig, data, where=origin)
