"""What the audit trail and the history record is one line of plain text: a reason, a key name or
an actor holding a line break or a control character would print as a made-up second row of
`keel audit list` or `keel history` (or move a terminal's cursor). Refused by the registry itself,
whichever caller (Python, CLI, HTTP) passes it, before anything is written."""

from __future__ import annotations

import pytest

from keel.errors import UserError
from keel.registry import ContentStore, MemoryBackend, MemoryStore, Registry
from tests.registry._signer import store_keys

BAD = ["a\nb", "a\r\nb", "tab\tbed", "nel\x85", "ls\u2028", "esc\x1b[31m", "nul\x00", "del\x7f"]


def registry(actor: str = "alice") -> Registry:
    r = Registry(MemoryStore(), ContentStore(MemoryBackend()), store_keys(), actor=actor)
    for _ in range(2):
        r.register(
            "m", {"weights.bin": b"\x00" * 8}, spec={}, preprocessing={}, metrics={}, gates=[],
            lineage={},
        )  # fmt: skip
    return r


@pytest.mark.parametrize("text", BAD)
def test_a_reason_with_a_control_character_is_refused(text: str) -> None:
    r = registry()
    r.promote("m:1", "production")
    before = r.store.audit_entries()
    with pytest.raises(UserError, match="the reason") as caught:
        r.promote("m:2", "production", reason=text)
    with pytest.raises(UserError, match="the reason"):
        r.rollback("m", "production", reason=text)
    assert "\n" not in str(caught.value)
    assert r.store.audit_entries() == before and r.aliases("m") == {"production": 1}


@pytest.mark.parametrize("text", BAD)
def test_a_key_name_or_actor_with_a_control_character_is_refused(text: str) -> None:
    r = registry()
    with pytest.raises(UserError, match="the key name"):
        r.create_api_key("reader", name=text)
    assert r.store.list_api_keys() == []
    with pytest.raises(UserError, match="KEEL_USER"):
        Registry(r.store, r.content, r.keys, actor=text)


def test_plain_text_is_kept() -> None:
    r = registry(actor="Ana María")
    r.promote("m:1", "production", reason="rollout #42 — approved by QA")
    _, record = r.create_api_key("reader", name="dashboard (read-only)")
    assert r.history("m")[-1].reason == "rollout #42 — approved by QA"
    assert record.name == "dashboard (read-only)"
