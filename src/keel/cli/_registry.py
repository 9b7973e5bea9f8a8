"""Registry commands: init, models list/show/resign, verify, promote, rollback, history, audit,
keys, trust."""

from __future__ import annotations

import json
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keel.cli._app import _guard, app, err_console, fail

models_app = typer.Typer(help="List and inspect registered models.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit trail.", no_args_is_help=True)
app.add_typer(models_app, name="models", rich_help_panel="Registry")
keys_app = typer.Typer(help="API keys for the server, with roles.", no_args_is_help=True)
trust_app = typer.Typer(
    help="The signing keys whose signatures this workspace accepts.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit", rich_help_panel="Registry")
app.add_typer(keys_app, name="keys", rich_help_panel="Registry")
app.add_typer(trust_app, name="trust", rich_help_panel="Registry")
out = Console(highlight=False)
MAX_AUDIT_LIST = 10_000  # entries `keel audit list` shows at most


def _registry(create: bool = False) -> Any:
    from keel.registry import RegistrySettings, open_registry

    return open_registry(RegistrySettings.from_env(), create=create)


def _json(obj: Any) -> None:
    print(json.dumps(obj, default=str))


@app.command(rich_help_panel="Registry")
def init() -> None:
    """Create the .keel/ workspace here (or at KEEL_HOME) with a fresh Ed25519 signing key."""

    def run() -> dict[str, str]:
        with _registry(create=True) as registry:
            return {"keys": str(registry.keys.dir), "key_id": registry.keys.key_id()}

    info = _guard(run)
    out.print(f"workspace ready; signing key {info['key_id']} in {escape(info['keys'])}")


@models_app.command("list")
def models_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every model with its latest version and stage aliases."""

    def run() -> list[dict[str, Any]]:
        with _registry() as registry:
            rows = []
            for name in registry.models():
                latest = registry.resolve(name)
                rows.append(
                    {
                        "name": name,
                        "latest": latest.version,
                        "stages": registry.aliases(name),
                        "created_at": latest.created_at.isoformat(),
                        "gates_passed": latest.gates_passed,
                    }
                )
            return rows

    rows = _guard(run)
    if as_json:
        _json(rows)
        return
    table = Table("model", "latest", "stages", "registered", "gates")
    for row in rows:
        stages = ", ".join(f"{k}→{v}" for k, v in sorted(row["stages"].items())) or "—"
        gates = "pass" if row["gates_passed"] else "[red]FAIL[/]"
        table.add_row(row["name"], str(row["latest"]), stages, row["created_at"][:19], gates)
    out.print(table)


@models_app.command("show")
def models_show(ref: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """One version: files, metrics, gates, lineage (signature and hashes checked)."""

    def run() -> dict[str, Any]:
        with _registry() as registry:
            return registry.get(ref).to_dict()

    info = _guard(run)
    if as_json:
        _json(info)
        return
    out.print(f"[bold]{info['ref']}[/] by {escape(info['created_by'])} at {info['created_at']}")
    out.print(f"signed by key {info['key_id']}; manifest sha256 {info['manifest_digest']}")
    for f in info["files"]:
        out.print(f"  {f['name']:<24} {f['size']:>12,} B  {f['sha256'][:16]}…")
    for gate in info["gates"]:
        mark = "[green]✓[/]" if gate.get("passed") else "[red]✗[/]"
        out.print(f"  {mark} {escape(str(gate.get('condition')))} (value {gate.get('value')})")
    test = info["metrics"].get("test", {})
    shown = {k: v for k, v in test.items() if isinstance(v, float)}
    out.print("  test: " + ", ".join(f"{k}={v:.4f}" for k, v in list(shown.items())[:6]))
    data = info["lineage"].get("data", {})
    out.print(f"  data {data.get('source')} sha256 {str(data.get('digest'))[:16]}…")


@models_app.command("resign")
def models_resign(
    names: list[str] = typer.Argument(None, help="the models (default: every model)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Sign version statements for versions an older keel signed (its manifest only), and move
    statements for stage histories it recorded unsigned, after checking each against the audit
    trail. Needs the workspace signing key. Exit 3 if a check fails (nothing is signed then)."""

    def run() -> tuple[list[str], list[str]]:
        with _registry() as registry:
            done = registry.resign(names or ())
            return [f"{r.name}:{r.version}" for r in done.versions], done.stages

    versions, stages = _guard(run)
    if as_json:
        _json({"resigned": versions, "stages": stages})
        return
    if versions:
        out.print(f"re-signed {len(versions)} version(s): {', '.join(versions)}")
    if stages:
        out.print(f"signed the history of {len(stages)} stage(s): {', '.join(stages)}")
    if not versions and not stages:
        out.print("every version and stage move already has a signed statement: nothing to re-sign")


@app.command(rich_help_panel="Registry")
def verify(ref: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Check a version's signed statement (name, version, parent), its manifest and every file's
    sha256. Exit 3 on any mismatch."""

    def run() -> dict[str, Any]:
        with _registry() as registry:
            version = registry.verify(ref)
            return {"ref": version.ref, "verified": True, "files": len(version.manifest.files)}

    info = _guard(run)
    if as_json:
        _json(info)
    else:
        out.print(f"{info['ref']}: signed statement and {info['files']} file(s) verified")


@app.command(rich_help_panel="Registry")
def promote(
    ref: str,
    to: str = typer.Option(..., "--to", help="the stage, e.g. production"),
    force: bool = typer.Option(False, "--force", help="promote despite failed gates"),
    reason: str = typer.Option("", "--reason", help="why (required with --force)"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Point a stage at a version whose signature verifies and whose gates passed."""

    def run() -> Any:
        with _registry() as registry:
            return registry.promote(ref, to, reason=reason, force=force)

    event = _guard(run)
    _print_event(event, as_json)


@app.command(rich_help_panel="Registry")
def rollback(
    name: str,
    stage: str = typer.Option("production", "--stage"),
    reason: str = typer.Option("", "--reason"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Move a stage back to the version it held before, along its history."""

    def run() -> Any:
        with _registry() as registry:
            return registry.rollback(name, stage, reason=reason)

    _print_event(_guard(run), as_json)


def _print_event(event: Any, as_json: bool) -> None:
    if as_json:
        _json(event.to_dict())
        return
    before = f" (was {event.previous_version})" if event.previous_version else ""
    forced = " [yellow](forced)[/]" if event.forced else ""
    out.print(f"{event.name}@{event.stage} → {event.version}{before}{forced}")


@app.command(rich_help_panel="Registry")
def history(
    name: str,
    stage: str | None = typer.Option(None, "--stage"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Every promotion and rollback of a model: who, when, from which version, why."""

    def run() -> list[Any]:
        with _registry() as registry:
            return registry.history(name, stage)

    events = _guard(run)
    if as_json:
        _json([e.to_dict() for e in events])
        return
    table = Table("when", "stage", "action", "version", "from", "who", "why")
    for e in events:
        action = e.action + (" (forced)" if e.forced else "")
        table.add_row(
            e.at.isoformat()[:19], e.stage, action, str(e.version),
            str(e.previous_version or "—"), e.actor, e.reason or "",
        )  # fmt: skip
    out.print(table)


@audit_app.command("verify")
def audit_verify(as_json: bool = typer.Option(False, "--json")) -> None:
    """Check the audit trail's hash chain, its rows and its signed checkpoints outside the
    database; exit 3 if an entry was edited, deleted or reordered, or a checkpoint forged."""
    from keel.errors import IntegrityError

    def run() -> tuple[int, list[str], int | None]:
        with _registry() as registry:
            problems = registry.audit_problems()
            count = len(registry.store.audit_entries())
            return count, problems, registry.audit_checkpoint()

    count, problems, anchored = _guard(run)
    if as_json:
        _json({"entries": count, "intact": not problems, "problems": problems,
               "checkpoint": anchored})  # fmt: skip
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        fail(IntegrityError(f"audit trail broken: {problems[0]}{more}"))
    if not as_json:
        where = "" if anchored is None else f"; signed checkpoint at entry {anchored}"
        out.print(f"audit trail intact: {count} entries, hash chain verified{where}")


@audit_app.command("anchor")
def audit_anchor(as_json: bool = typer.Option(False, "--json")) -> None:
    """Write a signed checkpoint of the audit trail's head outside the database, after checking
    the trail: for a workspace made before checkpoints (every write writes one after that). Run
    it only on a trail you trust. Exit 3 if the trail is not intact."""

    def run() -> int:
        with _registry() as registry:
            return registry.anchor_audit()

    seq = _guard(run)
    if as_json:
        _json({"checkpoint": seq})
    else:
        out.print(f"audit trail anchored: signed checkpoint at entry {seq}")


@audit_app.command("list")
def audit_list(
    limit: int = typer.Option(
        20, "--limit", min=1, max=MAX_AUDIT_LIST, help="how many of the latest entries"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The latest audit entries (at most 10,000: `keel audit verify` checks them all)."""

    def run() -> list[Any]:
        with _registry() as registry:
            return registry.store.audit_entries()[-limit:]

    entries = _guard(run)
    if as_json:
        _json(
            [
                {
                    "seq": e.seq, "at": e.at.isoformat(), "actor": e.actor, "action": e.action,
                    "target": e.target, "details": e.details, "hash": e.hash,
                }
                for e in entries
            ]
        )  # fmt: skip
        return
    table = Table("seq", "when", "who", "action", "target", "hash")
    for e in entries:
        table.add_row(str(e.seq), e.at.isoformat()[:19], e.actor, e.action, e.target, e.hash[:12])
    out.print(table)


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., "--role", help="reader, operator or admin"),
    name: str = typer.Option("", "--name", help="what the key is for"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create an API key and print it ONCE: only its hash is stored, with a statement of its
    id, role and hash signed by the workspace key (needed: a key row without it is refused)."""

    def run() -> tuple[str, dict[str, Any]]:
        with _registry() as registry:
            key, record = registry.create_api_key(role, name=name)
            return key, record.to_dict()

    key, info = _guard(run)
    if as_json:
        _json({**info, "key": key})
        return
    out.print(f"API key {info['key_id']} ({info['role']}) created; it is shown only this once:")
    print(key)


@keys_app.command("list")
def keys_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """Every API key: id, name, role, created, revoked, and whether the server accepts it (its
    signed statement checked); never the key or its hash."""

    def run() -> list[dict[str, Any]]:
        with _registry() as registry:
            rows = []
            for record in registry.store.list_api_keys():
                refusal = registry.api_key_refusal(record)
                state = "live" if refusal is None else "revoked" if record.revoked else "refused"
                problem = None if refusal is None or record.revoked else str(refusal)
                rows.append({**record.to_dict(), "state": state, "problem": problem})
            return rows

    rows = _guard(run)
    if as_json:
        _json(rows)
        return
    table = Table("id", "name", "role", "created", "by", "revoked", "state")
    for row in rows:
        revoked = "—" if row["revoked_at"] is None else f"[red]{row['revoked_at'][:19]}[/]"
        state = "[red]refused[/]" if row["state"] == "refused" else row["state"]
        table.add_row(
            row["key_id"], escape(row["name"]) or "—", row["role"], row["created_at"][:19],
            escape(row["created_by"]), revoked, state,
        )  # fmt: skip
    out.print(table)
    for row in rows:
        if row["problem"]:
            err_console.print(f"[yellow]refused:[/] {escape(row['problem'])}", soft_wrap=True)


@keys_app.command("revoke")
def keys_revoke(key_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Revoke an API key: it is refused from then on (the audit trail records who and when; a
    signed revocation in the artifact store keeps it revoked if its row is edited back)."""

    def run() -> dict[str, Any]:
        with _registry() as registry:
            return registry.revoke_api_key(key_id).to_dict()

    info = _guard(run)
    if as_json:
        _json(info)
    else:
        out.print(f"API key {info['key_id']} ({info['role']}) revoked")


@trust_app.command("list")
def trust_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """The trusted signing keys, this workspace's own marked."""

    def run() -> list[dict[str, Any]]:
        with _registry() as registry:
            own = registry.keys.key_id()
            return [{"key_id": k, "own": k == own} for k in sorted(registry.keys.trusted())]

    rows = _guard(run)
    if as_json:
        _json(rows)
        return
    for row in rows:
        out.print(row["key_id"] + ("  (this workspace)" if row["own"] else ""))


@trust_app.command("add")
def trust_add(path: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Trust the public key in PATH (PEM, `ssh-ed25519 …` or base64), e.g. another workspace's
    from `keel trust export`: versions it signed verify here from then on. Audited."""

    def run() -> str:
        with _registry() as registry:
            return registry.trust(path)

    key_id = _guard(run)
    if as_json:
        _json({"key_id": key_id, "trusted": True})
    else:
        out.print(f"key {key_id} trusted")


@trust_app.command("remove")
def trust_remove(key_id: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop trusting a signing key: what it signed no longer verifies here. Audited."""

    def run() -> None:
        with _registry() as registry:
            registry.untrust(key_id)

    _guard(run)
    if as_json:
        _json({"key_id": key_id, "trusted": False})
    else:
        out.print(f"key {key_id} no longer trusted")


@trust_app.command("export")
def trust_export() -> None:
    """Print this workspace's public key (PEM), for `keel trust add` in another workspace."""

    def run() -> bytes:
        with _registry() as registry:
            return registry.keys.public_key_pem()

    print(_guard(run).decode("ascii"), end="")
