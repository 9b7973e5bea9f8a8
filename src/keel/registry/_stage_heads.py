"""The newest move of each stage alias, signed and kept outside the metadata database.

Signed moves chained by digest (``_move_statement.py``) show an inserted, copied, edited or
reordered move, but not the newest ones deleted together with the alias set back to where the
moves before them left it: that history is a genuine, older one. So once a move has committed,
the moving process writes its signed statement to the artifact store's backend, where the audit
checkpoints live::

    stages/<first 32 hex of the digest of the alias's move 1>/<seq, 12 digits>.json
    {"format": "keel.stage-head/1", "statement": "<the move statement>", "signature": "…",
     "key_id": "…"}

Move 1's digest names the folder: no two aliases (nor two registries sharing an artifact store)
share one, and a history cannot be moved to another folder without breaking its chain. A writer
writes only above the highest head present and then removes the lower ones (the chain links
them). Every check of a stage reads the highest head and refuses a history that ends before it
(moves deleted) or holds another move in its place (rewritten).

What it does not cover, as for the audit anchor (``_anchor.py``): someone who can also write the
artifact store can delete heads or put back an older one; a move whose head was not written (the
write failed, logged, or the process was killed between commit and write) is vouched for by the
database alone until the next move of its alias.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from keel.errors import IntegrityError, KeelError, NotFoundError
from keel.registry._move_statement import MoveStatement
from keel.registry._signed_records import StoredRecord, numbered_key, numbered_keys
from keel.registry._signing import KeyStore
from keel.registry.types import AliasEvent, BlobBackend

__all__ = ["HEAD_FORMAT", "PREFIX", "Head", "StageHeads", "head_key"]

HEAD_FORMAT = "keel.stage-head/1"
PREFIX = "stages"
_ROOT = 32  # hex characters of move 1's digest that name an alias's folder
_TRIES = 5
log = logging.getLogger("keel.registry")


class Stale(Exception):
    """A head newer than the history just read: the history is read again (a concurrent move
    commits before writing its head) before it is called deleted."""

    def __init__(self, key: str, head: MoveStatement) -> None:
        super().__init__(key)
        self.key = key
        self.head = head


def _folder(root: MoveStatement) -> str:
    return f"{PREFIX}/{root.digest()[:_ROOT]}/"


def head_key(root: MoveStatement, seq: int) -> str:
    """The key of the head of move ``seq`` of the alias whose move 1 is ``root``."""
    return numbered_key(_folder(root), seq)


@dataclass(frozen=True)
class Head(StoredRecord):
    """A move's statement text with its signature, as kept outside the database."""

    FORMAT = HEAD_FORMAT
    NOUN = "stage head"
    MAX_BYTES = 1 << 20  # a head is under 1 KiB plus its reason (at most 4,000 characters)

    statement: str
    signature: str
    key_id: str

    def verify(self, keys: KeyStore) -> MoveStatement:
        """The move this head signs, once a trusted key's signature of it is checked
        (``IntegrityError`` if the statement is malformed or the signature not trusted)."""
        signed = MoveStatement.parse(self.statement)
        keys.verify(signed.digest(), self.signature, self.key_id, what=self.NOUN)
        return signed


class StageHeads:
    """Writes and checks the signed heads of the stage aliases of one registry in ``backend``."""

    def __init__(self, backend: BlobBackend, keys: KeyStore) -> None:
        self.backend = backend
        self.keys = keys

    def __repr__(self) -> str:
        return f"StageHeads({self.backend!r})"

    # -- writing -------------------------------------------------------------------------------

    def record(self, root: MoveStatement, event: AliasEvent) -> None:
        """Write the head of ``event`` (a committed move, move 1 of its alias being ``root``)
        unless a later one is there, then remove the lower ones. A failure is logged (the move
        is vouched for by the database alone until the next one), never raised: the move has
        committed."""
        try:
            self._write(root, event)
        except (KeelError, OSError) as err:
            log.warning(
                "the move of %s@%s to version %d is not recorded outside the database: its "
                "signed head in %s was not written (%s); the next move of the stage records it",
                event.name, event.stage, event.version, self.backend,
                str(err).splitlines()[0] if str(err) else type(err).__name__,
            )  # fmt: skip

    def _write(self, root: MoveStatement, event: AliasEvent) -> None:
        if event.statement is None or event.signature is None or event.key_id is None:
            raise KeelError("the move has no signed statement")
        seq = MoveStatement.parse(event.statement).seq
        present = self._present(root)
        if max(present, default=0) >= seq:
            return  # a later move of the stage is recorded already
        head = Head(event.statement, event.signature, event.key_id)
        self.backend.write(head_key(root, seq), [head.to_bytes()])
        for lower in present.values():
            self.backend.delete(lower)

    def _present(self, root: MoveStatement) -> dict[int, str]:
        return numbered_keys(self.backend, _folder(root))

    # -- checking ------------------------------------------------------------------------------

    def check(self, moves: Sequence[MoveStatement], events: Sequence[AliasEvent]) -> None:
        """Return if the verified history ``moves`` (with their rows ``events``) holds the
        newest head of its alias; :class:`Stale` if the head is newer (read the history again);
        ``IntegrityError`` if the head holds another move than the history in its place, or is
        not a head signed by a trusted key."""
        if not moves:
            return
        for _ in range(_TRIES):
            present = self._present(moves[0])
            if not present:
                return  # never written (a failed write): the database alone vouches
            top = max(present)
            key = present[top]
            try:
                data = Head.read(self.backend, key)
            except NotFoundError:
                continue  # removed by a writer that recorded a later move: look again
            except IntegrityError as err:
                raise _forged(moves[0], key, err) from None
            if top <= len(moves) and _same(data, events[top - 1]):
                return  # the history holds it (its chain, checked, authenticates it)
            head = self._verified(moves[0], key, data, top)
            if top > len(moves):
                raise Stale(key, head)
            raise IntegrityError(
                f"{head.alias}: its move {top} is not the one signed in the artifact store "
                f"({key}: {head.describe()}): the history was rewritten in the registry "
                "database; see `keel audit verify`"
            )
        raise IntegrityError(
            f"{moves[0].alias}: its signed heads in {self.backend!r} kept changing while they "
            "were read; try again"
        )

    def recorded(self) -> dict[str, str]:
        """Every alias with a signed head here, and that head's key: the stages that have been
        moved by a keel that signs moves. ``IntegrityError`` naming a file that is not a valid
        head signed by a trusted key."""
        found: dict[str, str] = {}
        for key in self.backend.keys(f"{PREFIX}/"):
            try:
                signed = Head.parse(Head.read(self.backend, key)).verify(self.keys)
            except NotFoundError:
                continue  # removed by a writer that recorded a later move
            except IntegrityError as err:
                raise IntegrityError(
                    f"the stage head {key} {err}: it was forged or altered (only a trusted "
                    "signing key writes stage heads)"
                ) from None
            found[signed.alias] = key
        return found

    def _verified(self, root: MoveStatement, key: str, data: bytes, seq: int) -> MoveStatement:
        """The move the head ``data`` under ``key`` signs, if it is a valid head of move ``seq``
        of the alias of ``root``; ``IntegrityError`` naming the file otherwise."""
        try:
            head = Head.parse(data)
            signed = MoveStatement.parse(head.statement)
            if signed.alias != root.alias or signed.seq != seq:
                raise IntegrityError(f"signs move {signed.seq} of {signed.alias}")
            self.keys.verify(signed.digest(), head.signature, head.key_id, what="stage head")
        except IntegrityError as err:
            raise _forged(root, key, err) from None
        return signed


def deleted(moves: Sequence[MoveStatement], stale: Stale) -> IntegrityError:
    """The refusal of a history that still ends before its signed head after reading it again."""
    head, count = stale.head, len(moves)
    lost = (
        f"move {count + 1} was" if head.seq == count + 1 else f"moves {count + 1}..{head.seq} were"
    )
    return IntegrityError(
        f"{head.alias}: its history ends at move {count}, but move {head.seq} "
        f"({head.describe()}) "
        f"is signed in the artifact store ({stale.key}): {lost} deleted from the registry "
        "database; see `keel audit verify`"
    )


def _same(data: bytes, event: AliasEvent) -> bool:
    """Whether ``data`` is a head of the statement of ``event``'s row."""
    try:
        return Head.parse(data).statement == event.statement
    except IntegrityError:
        return False


def _forged(root: MoveStatement, key: str, err: IntegrityError) -> IntegrityError:
    return IntegrityError(
        f"{root.alias}: the stage head {key} {err}: it was forged or altered (only a trusted "
        "signing key writes stage heads)"
    )
