"""The registry: signed, versioned models with gates, stage aliases, history and an audit trail.

A thin object over three boundaries — a :class:`MetadataStore`, a :class:`ContentStore` of blobs
and a :class:`KeyStore` — each of which has an in-memory implementation for tests.

What a version's signature covers is its version statement (name, number, manifest digest and
parent: ``_statement.py``), signed by the store in the transaction that allocates the number.
Every read of a version (``get``, ``verify``, ``load``, so ``keel serve`` too) rebuilds that
statement from the row it resolved and the row before it, and refuses a row that does not match
or whose statement is not signed by a trusted key. A version an older keel signed (its manifest
digest only) is refused until ``resign`` signs a statement for it. Stage moves are signed the
same way (``_move_statement.py``: each promotion or rollback, chained to the move before it) and
every read of a stage goes through its signed history (``_stages.py``), so a history row written,
copied, edited or deleted in the database is refused, and rollback walks signed moves only. The
audit trail is anchored by signed checkpoints in the content store's backend (``_anchor.py``),
which the registry attaches to its store. API keys are made, revoked and checked here too
(``_apikeys.py``): each key row is bound by a signed key statement, and a revocation is signed
into the same backend before its row is marked, so neither an inserted row nor an un-revoked one
passes a key check.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keel.errors import IntegrityError, NotFoundError, UserError
from keel.registry import _apikeys
from keel.registry._anchor import AuditAnchor
from keel.registry._content import ContentStore
from keel.registry._manifest import FileEntry, Manifest
from keel.registry._refs import Ref, check_line, check_model_name, check_stage, parse_ref
from keel.registry._revocations import Revocations
from keel.registry._signing import KeyStore
from keel.registry._stages import Stage, Stages
from keel.registry._statement import VersionStatement, statement_problems
from keel.registry.types import AliasEvent, ApiKeyRecord, MetadataStore, Role, VersionRecord

if TYPE_CHECKING:
    from keel.predictor import Predictor

MANIFEST_NAME = "manifest.json"
TRUST_ADD = "trust.add"
TRUST_REMOVE = "trust.remove"


@dataclass(frozen=True)
class ModelVersion:
    """A version's metadata row with its verified manifest."""

    record: VersionRecord
    manifest: Manifest

    @property
    def ref(self) -> str:
        return f"{self.record.name}:{self.record.version}"

    def to_dict(self) -> dict[str, Any]:
        r = self.record
        return {
            "ref": self.ref,
            "name": r.name,
            "version": r.version,
            "created_at": r.created_at.isoformat(),
            "created_by": r.created_by,
            "gates_passed": r.gates_passed,
            "key_id": r.key_id,
            "manifest_digest": r.manifest_digest,
            "files": [
                {"name": f.name, "sha256": f.digest, "size": f.size, "kind": f.kind}
                for f in self.manifest.files
            ],
            "metrics": self.manifest.metrics,
            "gates": self.manifest.gates,
            "lineage": self.manifest.lineage,
        }


class Registry:
    """Register, find, verify, load, promote and roll back model versions.

    A store without an audit anchor gets one in ``content``'s backend, signed with ``keys``;
    API key revocations are signed into the same backend.
    """

    def __init__(self, store: MetadataStore, content: ContentStore, keys: KeyStore, *, actor: str):
        self.store = store
        self.content = content
        self.keys = keys
        self.actor = check_line(actor, "the actor (KEEL_USER)")
        self.revocations = Revocations(content.backend, keys)
        self.stages = Stages(store, keys, content.backend)
        if store.anchor is None:
            store.anchor = AuditAnchor(content.backend, keys)

    # -- writing -------------------------------------------------------------------------------
    def register(
        self,
        name: str,
        files: Mapping[str, bytes],
        *,
        kinds: Mapping[str, str] | None = None,
        spec: dict[str, Any],
        preprocessing: dict[str, Any],
        metrics: dict[str, Any],
        gates: list[dict[str, Any]],
        lineage: dict[str, Any],
    ) -> ModelVersion:
        """Store every file, then the manifest, then allocate the version in one transaction that
        also signs its version statement (name, number, manifest digest, parent).

        Order is what makes a killed registration harmless: until the metadata transaction commits
        nothing is visible, and once it commits every byte it names is already stored.
        """
        check_model_name(name)  # before any byte is stored: a name no reference can name
        kinds = kinds or {}
        entries = [
            FileEntry(
                name=fname,
                digest=self.content.put(data),
                size=len(data),
                kind=kinds.get(fname, "file"),
            )
            for fname, data in sorted(files.items())
        ]
        manifest = Manifest(
            name=name,
            files=entries,
            spec=spec,
            preprocessing=preprocessing,
            metrics=metrics,
            gates=gates,
            lineage=lineage,
            created_at=datetime.now(UTC).isoformat(),
            created_by=self.actor,
        )
        body = manifest.to_bytes()
        digest = self.content.put(body)
        record = self.store.create_version(
            name,
            manifest_digest=digest,
            sign=self.keys.sign,
            created_by=self.actor,
            gates_passed=all(g.get("passed") for g in gates),
            metrics=metrics,
        )
        return ModelVersion(record=record, manifest=manifest)

    def promote(self, ref: str, stage: str, *, reason: str = "", force: bool = False) -> AliasEvent:
        """Point ``stage`` at the version ``ref`` names, if it verifies and its gates passed.

        ``force`` overrides failed gates only (never an integrity failure) and needs a reason; both
        go into the history and the audit trail.
        """
        check_stage(stage)
        check_line(reason, "the reason")
        version = self.verify(ref)  # raises IntegrityError: nothing is forced past a bad signature
        record = version.record
        failed = [g for g in version.manifest.gates if not g.get("passed")]
        if failed and not force:
            lines = "; ".join(_gate_line(g) for g in failed)
            raise GateError(
                f"{version.ref} failed {len(failed)} gate(s): {lines}. Fix the model, or promote "
                f"with --force --reason '…' (recorded in the audit trail)"
            )
        if force and not reason.strip():
            raise UserError("--force needs an explicit reason: add --reason '…' (it is audited)")
        before = self.stages.check(record.name, stage)  # nothing is chained onto a bad history
        if before.version == record.version:
            raise UserError(f"{version.ref} is already {record.name}@{stage}")
        return self._move(
            before, record.version, action="promote", reason=reason, forced=bool(force and failed)
        )

    def rollback(self, name: str, stage: str, *, reason: str = "") -> AliasEvent:
        """Move ``stage`` back to the version it held before the current one, along its signed
        history (its rows are never read for this, only their verified statements)."""
        check_stage(stage)
        check_line(reason, "the reason")
        if self.store.latest_version(name) is None:
            raise self._unknown(name)
        before = self.stages.check(name, stage)
        stack = before.in_force()
        if len(stack) < 2:
            raise UserError(
                f"{name}@{stage} has no earlier version to roll back to "
                f"(history: {len(stack)} promotion(s) in force); see `keel history {name}`"
            )
        target = stack[-2]
        version = self.verify(f"{name}:{target.version}")  # never onto a tampered version
        if version.record.manifest_digest != target.manifest_digest:
            raise IntegrityError(
                f"{version.ref} holds manifest {version.record.manifest_digest[:12]}…, not the "
                f"{target.manifest_digest[:12]}… it held when it was {name}@{stage}; not rolling "
                "back onto it"
            )
        return self._move(before, target.version, action="rollback", reason=reason, forced=False)

    def _move(
        self, before: Stage, version: int, *, action: str, reason: str, forced: bool
    ) -> AliasEvent:
        """Move the stage ``before`` (as just verified) to ``version``, signed; then record
        its signed head outside the database."""
        event = self.store.move_alias(
            before.name,
            before.stage,
            version,
            action=action,
            actor=self.actor,
            reason=reason.strip(),
            forced=forced,
            sign=self.keys.sign,
        )
        self.stages.record(before.events[0] if before.events else event, event)
        return event

    # -- reading -------------------------------------------------------------------------------
    def resolve(self, ref: str | Ref) -> VersionRecord:
        """The metadata row a reference names (NotFoundError with what exists otherwise); for a
        stage, after checking the stage against its signed history and that the row holds the
        manifest its newest move named (``IntegrityError`` otherwise)."""
        record, stage = self._resolve(ref)
        if stage is not None:
            _check_promoted(stage, record)
        return record

    def _resolve(self, ref: str | Ref) -> tuple[VersionRecord, Stage | None]:
        """The row a reference names, and the verified stage it was reached through."""
        parsed = parse_ref(ref) if isinstance(ref, str) else ref
        name = parsed.name
        stage = None
        if parsed.stage is not None:
            stage = self.stages.check(name, parsed.stage)
            if stage.version is None and self.store.latest_version(name) is None:
                raise self._unknown(name)
            if stage.version is None:
                stages = sorted(self.store.list_aliases(name))
                known = f"; stages: {', '.join(stages)}" if stages else ""
                raise NotFoundError(
                    f"{parsed} is not set{known}; promote a version with `keel promote`"
                )
            record = self.store.get_version(name, stage.version)
        elif parsed.version is not None:
            record = self.store.get_version(name, parsed.version)
        else:
            record = self.store.latest_version(name)
        if record is None:
            latest = self.store.latest_version(name)
            if latest is None:
                raise self._unknown(name)
            raise NotFoundError(f"{parsed} does not exist; the latest is {name}:{latest.version}")
        return record, stage

    def _unknown(self, name: str) -> NotFoundError:
        models = self.store.list_models()
        hint = f"; models: {', '.join(models[:10])}" if models else "; the registry is empty"
        return NotFoundError(f"no model named {name!r}{hint}")

    def manifest(self, record: VersionRecord) -> Manifest:
        """The manifest of ``record``, after checking its signed statement and its hash."""
        self.check_statement(record)
        return self._read_manifest(record)

    def check_statement(self, record: VersionRecord) -> VersionStatement:
        """The signed statement of ``record`` if it names exactly this row in this place (its
        name, number, manifest digest, and the row before it) and a trusted key signed it;
        ``IntegrityError`` saying what does not match otherwise."""
        ref = _ref(record)
        if record.statement is None:
            raise IntegrityError(
                f"{ref}: signed by an older keel, over its manifest only: that signature does "
                "not bind the model name, version number and parent, so a copied row would pass "
                "as this version; an admin holding the workspace signing key re-signs it after "
                f"checking the audit trail: `keel models resign {record.name}`"
            )
        try:
            signed = VersionStatement.parse(record.statement)
        except IntegrityError as err:
            raise IntegrityError(f"{ref}: {err}") from None
        predecessor = (
            None if record.version == 1 else self.store.get_version(record.name, record.version - 1)
        )
        problems = statement_problems(signed, record, predecessor)
        if problems:
            raise IntegrityError(
                f"{ref}: the registry row does not match its signed version statement: "
                f"{'; '.join(problems)}. The registry database was altered: do not use this "
                "version (`keel audit verify` may show more)"
            )
        try:
            self.keys.verify(
                signed.digest(), record.signature, record.key_id, what="version statement"
            )
        except IntegrityError as err:
            raise IntegrityError(f"{ref}: {err}") from None
        return signed

    def _read_manifest(self, record: VersionRecord) -> Manifest:
        """The manifest ``record`` names, after checking its hash and the model name it holds."""
        body = self.content.get_verified(record.manifest_digest, name=MANIFEST_NAME)
        manifest = Manifest.from_bytes(body)
        if manifest.name != record.name:
            raise IntegrityError(
                f"{_ref(record)}: {MANIFEST_NAME} names model {manifest.name!r}; "
                "the registry row and its manifest disagree"
            )
        return manifest

    def get(self, ref: str) -> ModelVersion:
        """The version ``ref`` names with its manifest, after checking its signed statement (and
        for a stage, the stage's signed history and the manifest its newest move named)."""
        record, stage = self._resolve(ref)
        with _naming(record):
            manifest = self.manifest(record)
        if stage is not None:
            _check_promoted(stage, record)
        return ModelVersion(record=record, manifest=manifest)

    def verify(self, ref: str) -> ModelVersion:
        """Check the signature, the manifest and every file's sha256 (streamed)."""
        version = self.get(ref)
        with _naming(version.record):
            for entry in version.manifest.files:
                self.content.verify_stream(entry.digest, name=entry.name, size=entry.size)
        return version

    def read_files(self, version: ModelVersion) -> dict[str, memoryview]:
        """Every file's bytes, each read once into a fresh buffer while it is hashed, checked
        against the manifest (and decrypted when encrypted). The buffers are the caller's."""
        return {
            f.name: self.content.get_verified_view(f.digest, name=f.name, size=f.size)
            for f in version.manifest.files
        }

    def load(self, ref: str) -> Predictor:
        """A :class:`Predictor` for ``ref``. Nothing reaches torch before every check passed."""
        from keel.predictor import Predictor

        version = self.get(ref)
        with _naming(version.record):
            files = self.read_files(version)  # verified bytes only
        spec = version.manifest.spec
        return Predictor.from_files(
            files,
            model_config=spec["model"],
            precision=spec.get("train", {}).get("precision", "fp32"),
            name=version.record.name,
            version=version.record.version,
        )

    def history(self, name: str, stage: str | None = None) -> list[AliasEvent]:
        """The moves of ``name``'s stages (or of ``stage``), oldest first, each stage's history
        checked against its signed statements as every read of a stage is."""
        if stage is not None:
            check_stage(stage)
        if self.store.latest_version(name) is None:
            raise NotFoundError(f"no model named {name!r}")
        events = self.store.alias_history(name, stage)
        for each in sorted({event.stage for event in events}):
            self.stages.check(name, each)
        return events

    def versions(self, name: str) -> list[VersionRecord]:
        if self.store.latest_version(name) is None:
            raise NotFoundError(f"no model named {name!r}")
        return self.store.list_versions(name)

    def models(self) -> list[str]:
        return self.store.list_models()

    def aliases(self, name: str) -> dict[str, int]:
        """Where each stage of ``name`` points, each stage checked against its signed history
        as every read of a stage is (``IntegrityError`` naming the first that fails)."""
        stages = set(self.store.list_aliases(name))
        stages |= {event.stage for event in self.store.alias_history(name)}
        checked = [self.stages.check(name, stage) for stage in sorted(stages)]
        return {s.stage: s.version for s in checked if s.version is not None}

    def audit_problems(self) -> list[str]:
        """Empty when the audit trail is intact and anchored and every signed API key
        revocation matches its row; else one line per problem found."""
        problems = self.store.verify_audit()
        rows = {record.key_id: record for record in self.store.list_api_keys()}
        return problems + self.revocations.problems(rows) + self.stages.problems()

    def audit_checkpoint(self) -> int | None:
        """The newest audit entry a valid signed checkpoint records (None without one)."""
        anchor = self._anchor()
        return anchor.latest(anchor.load(), self.store.audit_entries())

    def anchor_audit(self) -> int:
        """Check the audit trail (everything but a missing checkpoint), then write a signed
        checkpoint of its head: how a workspace made before checkpoints is anchored. Returns the
        entry anchored. Run it only on a trail you trust: it vouches for the trail as it stands."""
        anchor = self._anchor()
        self._require_intact("not anchoring")
        entries = self.store.audit_entries()
        if not entries:
            raise UserError("the audit trail is empty: there is nothing to anchor yet")
        head = entries[-1]
        hashes = {entry.seq: entry.hash for entry in entries}
        anchor.advance(entries[0].hash, head, hashes.get)
        return self.audit_checkpoint() or head.seq

    def resign(self, names: Sequence[str] = ()) -> Resigned:
        """Sign version statements for the versions of ``names`` (every model when empty) that an
        older keel signed over their manifest digest only, and move statements for the stage
        histories it recorded unsigned; what was re-signed.

        Each is checked first, and nothing is signed unless all pass: the audit trail intact
        (every version row and stage move matches its hash-chained entry, every stage points
        where its last move left it, and the trail matches its checkpoints where it has any);
        for a version, its old signature valid over its manifest digest, its manifest's hash and
        model name right, and no other row holding the same manifest (a manifest holds its
        creation time, so two versions never share one: a shared digest is a copied row); for
        a stage, no move of its history already signed (a history is signed whole, in order).
        Needs the workspace signing key; each re-signing is audited.
        """
        self.keys.key_id()  # the signing key is there (NotFoundError naming `keel init`)
        for name in names:
            if self.store.latest_version(name) is None:
                raise self._unknown(name)
        self._require_intact("not re-signing")
        everything = {name: self.store.list_versions(name) for name in self.models()}
        chosen = list(names) or list(everything)
        old = [r for name in chosen for r in everything[name] if r.statement is None]
        held: dict[str, list[str]] = defaultdict(list)
        for records in everything.values():
            for r in records:
                held[r.manifest_digest].append(_ref(r))
        for record in old:
            with _naming(record):
                others = [ref for ref in held[record.manifest_digest] if ref != _ref(record)]
                if others:
                    raise IntegrityError(
                        f"its manifest {record.manifest_digest[:12]}… is also that of "
                        f"{', '.join(others)}: one of the rows was copied; not re-signing"
                    )
                self.keys.verify(record.manifest_digest, record.signature, record.key_id)
                self._read_manifest(record)
        histories = self.stages.unsigned(chosen)
        sign, actor = self.keys.sign, self.actor
        versions = [self.store.resign_version(r, sign=sign, actor=actor) for r in old]
        return Resigned(versions, self.stages.resign(histories, actor=self.actor))

    # -- API keys ------------------------------------------------------------------------------
    def create_api_key(self, role: Role, *, name: str = "") -> tuple[str, ApiKeyRecord]:
        """A new API key for ``role`` with its key statement signed by this workspace's key;
        ``(key, record)``. Show ``key`` once: only its hash is stored."""
        check_line(name, "the key name")
        return _apikeys.create_api_key(self.store, self.keys, role, name=name, actor=self.actor)

    def revoke_api_key(self, key_id: str) -> ApiKeyRecord:
        """Revoke ``key_id``: a signed revocation in the artifact store first, then its row."""
        return _apikeys.revoke_api_key(self.store, self.revocations, key_id, actor=self.actor)

    def check_api_key(self, presented: str) -> ApiKeyRecord:
        """The record of a live, signed key ``presented``; ``AuthError`` otherwise."""
        return _apikeys.check_api_key(
            self.store, presented, keys=self.keys, revocations=self.revocations
        )

    def api_key_refusal(self, record: ApiKeyRecord) -> _apikeys.AuthError | None:
        """Why the key of ``record`` is refused whatever secret is sent; None if it is live."""
        return _apikeys.key_refusal(record, keys=self.keys, revocations=self.revocations)

    # -- the trusted signers -------------------------------------------------------------------
    def trust(self, public_key: str | Path) -> str:
        """Trust the public key in the file ``public_key`` (its signatures verify from then on);
        its key id. Audited (``trust.add``): whoever adds a signer can vouch for versions."""
        key_id = self.keys.trust(Path(public_key))
        self.store.append_audit(
            actor=self.actor, action=TRUST_ADD, target=f"signer:{key_id}", details={}
        )
        return key_id

    def untrust(self, key_id: str) -> None:
        """Stop trusting ``key_id`` (NotFoundError if it is not trusted); audited."""
        self.keys.untrust(key_id)
        self.store.append_audit(
            actor=self.actor, action=TRUST_REMOVE, target=f"signer:{key_id}", details={}
        )

    def _require_intact(self, what: str) -> None:
        problems = self.store.verify_audit(require_checkpoint=False)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise IntegrityError(
                f"{what}: the audit trail is not intact: {problems[0]}{more}; see "
                "`keel audit verify`"
            )

    def _anchor(self) -> AuditAnchor:
        if self.store.anchor is None:  # only if someone removed the one __init__ attached
            raise UserError("this registry's store has no audit anchor")
        return self.store.anchor

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_promoted(stage: Stage, record: VersionRecord) -> None:
    """``IntegrityError`` unless ``record`` holds the manifest its stage's newest signed move
    named (a version row replaced after its promotion would serve other content)."""
    newest = stage.newest
    if newest is not None and newest.manifest_digest != record.manifest_digest:
        raise IntegrityError(
            f"{_ref(record)}: {stage.alias} was moved to it ({newest.describe()}) when it held "
            f"manifest {newest.manifest_digest[:12]}…, but it holds "
            f"{record.manifest_digest[:12]}… now: the registry database was altered"
        )


def _ref(record: VersionRecord) -> str:
    return f"{record.name}:{record.version}"


@contextmanager
def _naming(record: VersionRecord) -> Iterator[None]:
    """Prefix an integrity failure with the version it concerns: `digits:1: model.safetensors …`."""
    try:
        yield
    except IntegrityError as err:
        prefix = f"{_ref(record)}: "
        text = str(err)
        raise IntegrityError(text if text.startswith(prefix) else prefix + text) from None


@dataclass(frozen=True)
class Resigned:
    """What ``Registry.resign`` signed: versions, and stages (``name@stage``) whose history."""

    versions: list[VersionRecord]
    stages: list[str]


class GateError(UserError):
    """A promotion refused because the version failed its release gates."""


def _gate_line(gate: Mapping[str, Any]) -> str:
    value = gate.get("value")
    shown = "missing" if value is None else f"{value:.4g}"
    reason = gate.get("reason") or ""
    why = f"; {reason}" if reason and value is None else ""
    return f"{gate.get('condition')} (value {shown}{why})"
