"""Stage aliases read through their signed history: what every read of ``name@stage`` checks.

A stage alias is trusted only as far as its moves are: the history of ``name@stage`` must be a
chain of signed move statements (``_move_statement.py``), each row matching its statement in its
place, the newest signed by a trusted key (which authenticates the older ones through their
digests); the alias must point where the newest move left it, and the history must hold the
newest move signed outside the database (``_stage_heads.py``). Anything else is an
``IntegrityError`` naming what does not match: ``Registry.resolve`` (so ``get``, ``verify``,
``load``, ``keel serve`` and its watcher), ``promote``, ``rollback`` and ``history`` all read a
stage through :meth:`Stages.check`.

A history an older keel recorded (no statements) is refused naming the fix, ``keel models
resign``, which signs it after checking it against the audit trail.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keel.errors import IntegrityError
from keel.registry._move_statement import (
    MoveStatement,
    UnsignedHistory,
    move_problems,
    text_digest,
)
from keel.registry._signing import KeyStore
from keel.registry._stage_heads import StageHeads, Stale, deleted
from keel.registry.types import AliasEvent, BlobBackend, MetadataStore

__all__ = ["Stage", "Stages", "verify_history"]

_TRIES = 3  # reads of a stage that a concurrent move may have changed between two queries


@dataclass(frozen=True)
class Stage:
    """``name@stage`` as verified: where it points, and its signed moves with their rows."""

    name: str
    stage: str
    version: int | None
    moves: tuple[MoveStatement, ...]
    events: tuple[AliasEvent, ...]

    @property
    def alias(self) -> str:
        return f"{self.name}@{self.stage}"

    @property
    def newest(self) -> MoveStatement | None:
        return self.moves[-1] if self.moves else None

    def in_force(self) -> list[MoveStatement]:
        """The moves whose versions a rollback walks back through: promotions push, rollbacks
        pop (read from the signed statements, never the rows)."""
        stack: list[MoveStatement] = []
        for move in self.moves:
            if move.action == "rollback" and stack:
                stack.pop()
            else:
                stack.append(move)
        return stack


def verify_history(events: Sequence[AliasEvent], keys: KeyStore) -> list[MoveStatement]:
    """The signed statements of the moves ``events`` (one alias, oldest first) if each row
    matches its statement in its place and a trusted key signed the newest; ``IntegrityError``
    naming the first move that does not."""
    if not events:
        return []
    first = events[0]
    alias = f"{first.name}@{first.stage}"
    unsigned = [seq for seq, event in enumerate(events, 1) if event.statement is None]
    if len(unsigned) == len(events):
        raise UnsignedHistory(alias, first.name)
    if unsigned:
        event = events[unsigned[0] - 1]
        raise IntegrityError(
            f"{alias}: its move {unsigned[0]} ({event.action} to version {event.version} by "
            f"{event.actor}) has no signed statement, though other moves have: it was written "
            "or edited in the registry database; see `keel audit verify`"
        )
    moves: list[MoveStatement] = []
    previous: str | None = None
    for seq, event in enumerate(events, 1):
        text = event.statement or ""
        try:
            signed = MoveStatement.parse(text)
        except IntegrityError as err:
            raise IntegrityError(f"{alias}: its move {seq}: {err}") from None
        problems = move_problems(signed, event, seq, previous)
        if problems:
            raise IntegrityError(
                f"{alias}: its move {seq} ({event.action} to version {event.version} by "
                f"{event.actor}) does not match its signed move statement: "
                f"{'; '.join(problems)}. The registry database was altered; see "
                "`keel audit verify`"
            )
        moves.append(signed)
        previous = text_digest(text)
    newest = events[-1]
    try:
        keys.verify(
            previous or "", newest.signature or "", newest.key_id or "", what="move statement"
        )
    except IntegrityError as err:
        raise IntegrityError(f"{alias}: its move {len(events)}: {err}") from None
    return moves


class Stages:
    """Reads stage aliases through their signed history, and records each move's head."""

    def __init__(self, store: MetadataStore, keys: KeyStore, backend: BlobBackend) -> None:
        self.store = store
        self.keys = keys
        self.heads = StageHeads(backend, keys)

    def check(self, name: str, stage: str) -> Stage:
        """``name@stage`` with its history verified; ``IntegrityError`` naming what does not
        match (a mismatch is read again first: a concurrent move changes the alias, its history
        and its head one after the other)."""
        for attempt in range(1, _TRIES + 1):
            version = self.store.get_alias(name, stage)
            events = tuple(self.store.alias_history(name, stage))
            try:
                moves = tuple(verify_history(events, self.keys))
            except UnsignedHistory:
                _never_signed(events[0], self.heads.recorded())  # or it was replaced
                raise
            moved = moves[-1].version if moves else None
            if version != moved:
                if attempt < _TRIES:
                    continue
                raise IntegrityError(
                    f"{name}@{stage} points at {_shown(version)}, but its last recorded move "
                    f"left it at {_shown(moved)}: the registry database was altered; see "
                    "`keel audit verify`"
                )
            try:
                self.heads.check(moves, events)
            except Stale as stale:
                if attempt < _TRIES:
                    continue
                raise deleted(moves, stale) from None
            return Stage(name, stage, version, moves, events)
        raise AssertionError("unreachable")  # the loop returns or raises

    def record(self, first: AliasEvent, event: AliasEvent) -> None:
        """Write the head of ``event``, a move just committed to the history whose move 1 is
        ``first`` (``event`` itself for a first move)."""
        if first.statement is not None:
            self.heads.record(MoveStatement.parse(first.statement), event)

    def unsigned(self, names: Sequence[str]) -> list[list[AliasEvent]]:
        """The history of each stage of the models ``names`` that an older keel recorded (no
        statements); ``IntegrityError`` for a history that mixes signed and unsigned moves (a
        move written or edited in the database)."""
        found = []
        recorded: dict[str, str] | None = None
        for name in names:
            by_stage: dict[str, list[AliasEvent]] = {}
            for event in self.store.alias_history(name):
                by_stage.setdefault(event.stage, []).append(event)
            for events in by_stage.values():
                if any(event.statement is None for event in events):
                    try:
                        verify_history(events, self.keys)
                    except UnsignedHistory:
                        recorded = self.heads.recorded() if recorded is None else recorded
                        _never_signed(events[0], recorded)
                        found.append(events)
                        continue
                    except IntegrityError as err:
                        raise IntegrityError(f"{err}; not re-signing") from None
        return found

    def resign(self, histories: Sequence[Sequence[AliasEvent]], *, actor: str) -> list[str]:
        """Sign the moves of each of ``histories`` (from :meth:`unsigned`, checked against the
        audit trail by the caller), audited, and record each stage's head; the stages signed."""
        done = []
        for events in histories:
            resigned = self.store.resign_moves(events, sign=self.keys.sign, actor=actor)
            self.record(resigned[0], resigned[-1])
            done.append(f"{resigned[0].name}@{resigned[0].stage}")
        return done

    def problems(self) -> list[str]:
        """One line per stage alias whose history, alias row or head does not check out, and per
        move whose own signature does not match its statement (older keel's histories, refused
        on every read naming the fix, are not listed)."""
        problems = []
        for name in self.store.list_models():
            stages = set(self.store.list_aliases(name))
            stages |= {event.stage for event in self.store.alias_history(name)}
            for stage in sorted(stages):
                try:
                    checked = self.check(name, stage)
                except UnsignedHistory:
                    continue
                except IntegrityError as err:
                    problems.append(str(err))
                    continue
                problems += self._signatures(checked)
        return problems

    def _signatures(self, stage: Stage) -> list[str]:
        problems = []
        for seq, event in enumerate(stage.events[:-1], 1):  # the newest is checked already
            try:
                self.keys.verify(
                    text_digest(event.statement or ""), event.signature or "",
                    event.key_id or "", what="move statement",
                )  # fmt: skip
            except IntegrityError as err:
                problems.append(f"{stage.alias}: its move {seq}: {err}")
        return problems


def _never_signed(event: AliasEvent, recorded: dict[str, str]) -> None:
    """``IntegrityError`` if the alias of ``event``, whose history has no statements, has a
    signed head outside the database: it was moved by a keel that signs moves, so its history
    was replaced in the database (and re-signing it would vouch for the replacement)."""
    alias = f"{event.name}@{event.stage}"
    key = recorded.get(alias)
    if key is not None:
        raise IntegrityError(
            f"{alias}: its moves have no statements, but a signed move of it is kept in the "
            f"artifact store ({key}): its history was replaced in the registry database, so it "
            "is neither read nor re-signed; see `keel audit verify`"
        )


def _shown(version: int | None) -> str:
    return "nothing" if version is None else f"version {version}"
