"""Personal data: detection quality on a labelled corpus, scrubbing actions, the report, errors."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from keel.data.pii import (
    ENTITIES,
    Match,
    PiiConfig,
    PiiReport,
    detect,
    detect_series,
    parse_pii_config,
    pii_key,
    scrub_frame,
    scrub_texts,
)
from keel.data.pii._detect import scan_many
from keel.errors import DataError, SpecError, exit_code

from ._pii_corpus import ENTITY_TYPES, corpus

KEY = "k" * 32
ENV = {"KEEL_PII_KEY": KEY}


def one_line(error: pytest.ExceptionInfo[Exception], *names: str) -> str:
    message = str(error.value)
    assert "\n" not in message
    assert exit_code(error.value) == 2
    for name in names:
        assert name in message, message
    return message


# -- detection quality -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def docs():
    return corpus(2500, seed=7)


def test_precision_and_recall_per_entity_on_the_labelled_corpus(docs) -> None:
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for doc in docs:
        truth = set(doc.spans)
        found = {(m.entity, m.start, m.end) for m in detect(doc.text)}
        for entity, *_ in found & truth:
            tp[entity] += 1
        for entity, *_ in found - truth:
            fp[entity] += 1
        for entity, *_ in truth - found:
            fn[entity] += 1
    negatives = sum(len(doc.negatives) for doc in docs)
    assert negatives > 2000  # the tricky negatives are really in the corpus
    print(f"\nPII detection on {len(docs)} documents, {negatives} tricky negatives")
    for entity in ENTITY_TYPES:
        precision = tp[entity] / max(1, tp[entity] + fp[entity])
        recall = tp[entity] / max(1, tp[entity] + fn[entity])
        print(
            f"  {entity:<6} planted {tp[entity] + fn[entity]:>4}  precision {precision:.3f}  "
            f"recall {recall:.3f}  (fp {fp[entity]}, fn {fn[entity]})"
        )
        assert tp[entity] + fn[entity] >= 200, entity
        assert precision >= 0.95, (entity, precision)
        assert recall >= 0.95, (entity, recall)


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        (
            "mail Wei.Zhang+news@mail.example.co.uk now",
            "email",
            "Wei.Zhang+news@mail.example.co.uk",
        ),
        ("QQ: 12345678@qq.com", "email", "12345678@qq.com"),
        ("call (415) 555-2671 today", "phone", "(415) 555-2671"),
        ("call 1-415-555-2671 24 hours a day", "phone", "1-415-555-2671"),
        ("手机13812345678，谢谢", "phone", "13812345678"),
        ("tel +86 138 1234 5678.", "phone", "+86 138 1234 5678"),
        ("office +44 (0)20 7946 0958", "phone", "+44 (0)20 7946 0958"),
        ("paid 4111 1111 1111 1111 exp 12/27", "card", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", "card", "3782-822463-10005"),
        ("from 192.168.1.10:8080", "ip", "192.168.1.10"),
        ("host [2001:db8::8a2e:370:7334]", "ip", "2001:db8::8a2e:370:7334"),
        ("link-local fe80::1ff:fe23:4567:890a", "ip", "fe80::1ff:fe23:4567:890a"),
        ("IBAN GB82 WEST 1234 5698 7654 32 thanks", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("IBAN DE89370400440532013000.", "iban", "DE89370400440532013000"),
        ("身份证11010519491231002X号", "cn_id", "11010519491231002X"),
        ("SSN 219-09-9998 on file", "ssn", "219-09-9998"),
        ("SSN: 219099998", "ssn", "219099998"),
    ],
)
def test_planted_formats_are_found_exactly(text: str, entity: str, value: str) -> None:
    found = detect(text)
    assert [(m.entity, text[m.start : m.end]) for m in found] == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "created 2024-01-15T09:30:00Z",
        "ts 20240115093000 and epoch 1700000000 and 1700000000123 ms",
        "due 2024-01-15, 15.01.2024, 01/15/2024",
        "order #13812345678 shipped",  # Chinese-mobile-shaped order number
        "订单号：13900001111",
        "ORD-20240115-0042 and invoice 2024000123 and account 4839201748",
        "version 1.2.3.4 and v2.10.3.1 and build 10.0.19041.1",
        "declined 4111 1111 1111 1112",  # fails Luhn
        "tracking 9400 1000 0000 0000 0000 00 and 1Z999AA10123456784",
        "IBAN GB82 WEST 1234 5698 7654 33",  # wrong checksum
        "ID 110105194912310021",  # wrong check character
        "ID 110105202913310029",  # checksum right, but no 2029-13-31
        "SSN 000-12-3456, 666-12-3456, 912-34-5678, 123-00-4567, 123-45-0000",
        "price $1,299.99 or ¥12,800 or 1 234 567 units",
        "uuid 550e8400-e29b-41d4-a716-446655440000 md5 d41d8cd98f00b204e9800998ecf8427e",
        "mac 00:1A:2B:3C:4D:5E at 12:30:45; std::vector and Foo::bar; a[::2]",
        "icon@2x.png, @username, pkg@1.2.3, user@localhost",
        "256.1.1.1 and 1.2.3 and 10.0.0.0.1",
        "(123) 456-7890 and 555-0123",  # no area code starts with 1; too short
    ],
)
def test_tricky_negatives_are_not_found(text: str) -> None:
    assert [(m.entity, text[m.start : m.end]) for m in detect(text)] == []


def test_a_card_is_not_also_a_phone_and_matches_do_not_overlap(docs) -> None:
    text = "card 5555555555554444 and phone 13812345678@qq.com"
    found = detect(text)
    assert [(m.entity, text[m.start : m.end]) for m in found] == [
        ("card", "5555555555554444"),
        ("email", "13812345678@qq.com"),
    ]
    for doc in docs[:500]:
        spans = detect(doc.text)
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))


def test_a_match_holds_positions_only() -> None:
    text = "write to ana@example.com"
    (match,) = detect(text)
    assert match == Match("email", 9, 24)
    assert "ana" not in repr(match)


def test_entities_narrow_the_search_and_unknown_names_are_one_line_errors() -> None:
    text = "ana@example.com 13812345678 4111111111111111"
    assert [m.entity for m in detect(text, ["email"])] == ["email"]
    assert [m.entity for m in detect(text, ["card", "phone"])] == ["phone", "card"]
    with pytest.raises(SpecError) as caught:
        detect(text, ["email", "passport"])
    one_line(caught, "'passport'", *ENTITIES)


def test_detect_series_skips_missing_and_non_strings_unless_asked() -> None:
    values = pd.Series(
        ["ana@example.com", None, np.nan, 13812345678, "nothing"], index=[5, 6, 7, 8, 9]
    )
    found = detect_series(values)
    assert list(found.index) == [5, 6, 7, 8, 9]
    assert [[m.entity for m in cell] for cell in found] == [["email"], [], [], [], []]
    everything = detect_series(values, scan="all")
    assert [m.entity for m in everything[8]] == ["phone"]


def test_scanning_many_texts_at_once_equals_scanning_each(docs) -> None:
    texts = [doc.text for doc in docs[:800]]
    texts[3] = None  # type: ignore[call-overload]
    joined = scan_many(texts)
    assert joined == [detect(t) if t else [] for t in texts]


# -- actions ---------------------------------------------------------------------------------------


def people() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C-001", "C-002", "C-003"],
            "note": [
                "mail ana@example.com or call (415) 555-2671",
                "card 4111 1111 1111 1111, SSN 219-09-9998",
                "nothing personal here",
            ],
            "contact": ["+86 138 1234 5678", "13812345678", None],
            "age": [31, 45, 52],
        }
    )


def test_mask_keeps_a_format_hint() -> None:
    out, _ = scrub_frame(people(), PiiConfig(enabled=True), env={})
    assert out["note"][0] == "mail a***@e***.com or call (***) ***-**71"
    assert out["note"][1] == "card **** **** **** 1111, SSN ***-**-9998"
    assert out["note"][2] == "nothing personal here"
    assert out["contact"][0] == "+** *** **** **78"
    texts, _ = scrub_texts(
        pd.Series(["IBAN GB82 WEST 1234 5698 7654 32", "from 10.1.2.3", "ID 11010519491231002X"]),
        PiiConfig(enabled=True),
    )
    assert texts[0] == "IBAN GB** **** **** **** **54 32"
    assert texts[1] == "from 10.*.*.*"
    assert texts[2] == "ID **************002X"


def test_redact_writes_a_tag() -> None:
    out, _ = scrub_frame(people(), PiiConfig(enabled=True, action="redact"), env={})
    assert out["note"][0] == "mail [EMAIL] or call [PHONE]"
    assert out["note"][1] == "card [CARD], SSN [SSN]"


def test_pseudonyms_are_keyed_stable_and_canonical() -> None:
    config = PiiConfig(enabled=True, action="pseudonym")
    first, _ = scrub_frame(people(), config, env=ENV)
    again, _ = scrub_frame(people(), config, env=ENV)
    other, _ = scrub_frame(people(), config, env={"KEEL_PII_KEY": "another-secret-key-0123"})
    token = re.compile(r"<(EMAIL|PHONE|CARD|SSN)_[0-9a-f]{16}>")
    assert token.fullmatch(first["contact"][0])
    assert first.equals(again)  # same value, same key → same token, call after call
    assert first["contact"][0] != other["contact"][0]  # the key matters
    # the same number written two ways is one person: one token
    assert first["contact"][0] == first["contact"][1]
    texts, _ = scrub_texts(
        ["ANA@Example.com", "ana@example.com", "bob@example.com"], config, env=ENV
    )
    assert texts[0] == texts[1] != texts[2]


def test_actions_per_entity_and_per_column_and_skip() -> None:
    config = PiiConfig(
        enabled=True,
        action="redact",
        actions={"email": "mask", "card": "pseudonym"},
        columns={"contact": "skip"},
    )
    out, report = scrub_frame(people(), config, env=ENV)
    assert out["note"][0] == "mail a***@e***.com or call [PHONE]"
    assert re.fullmatch(r"card <CARD_[0-9a-f]{16}>, SSN \[SSN\]", out["note"][1])
    assert out["contact"][1] == "13812345678"  # skipped
    assert "contact" not in report.scanned
    masked, _ = scrub_frame(people(), PiiConfig(enabled=True, columns={"note": "redact"}), env={})
    assert masked["note"][0] == "mail [EMAIL] or call [PHONE]"


def test_drop_removes_identifier_columns_and_numbers_are_scanned_on_request() -> None:
    frame = people().assign(phone_number=[13812345678, 14155552671, 0])
    out, report = scrub_frame(frame, PiiConfig(enabled=True, drop=["customer_id"]), env={})
    assert "customer_id" not in out.columns and report.dropped == ["customer_id"]
    assert out["phone_number"].tolist() == [13812345678, 14155552671, 0]  # numbers: not scanned
    assert out["age"].dtype == np.int64
    every, _ = scrub_frame(frame, PiiConfig(enabled=True, scan="all"), env={})
    assert every["phone_number"].tolist()[:1] == ["*********78"]
    assert every["age"].tolist() == [31, 45, 52]


def test_the_input_is_not_modified_and_string_dtypes_survive() -> None:
    frame = people().astype({"note": "string"})
    before = frame.copy()
    out, _ = scrub_frame(frame, PiiConfig(enabled=True), env={})
    pd.testing.assert_frame_equal(frame, before)
    assert out["note"].dtype == "string"
    assert out["note"][1].startswith("card ****")


def test_a_disabled_section_changes_nothing() -> None:
    frame = people()
    out, report = scrub_frame(frame, PiiConfig(enabled=False, drop=["customer_id"]), env={})
    assert out is frame and not report.enabled and report.total == 0


# -- the report ------------------------------------------------------------------------------------


def test_the_report_counts_per_entity_and_column(docs) -> None:
    _, report = scrub_frame(people(), PiiConfig(enabled=True, drop=["customer_id"]), env={})
    assert report.found == {"email": 1, "phone": 3, "card": 1, "ssn": 1}
    assert report.by_column == {
        "note": {"card": 1, "email": 1, "phone": 1, "ssn": 1},
        "contact": {"phone": 2},
    }
    assert (report.rows, report.rows_touched, report.cells_touched) == (3, 2, 4)
    assert report.scanned == ["note", "contact"]
    assert report.actions == {e: "mask" for e in ENTITIES}
    assert json.loads(json.dumps(report.to_dict()))["total"] == 6


def test_the_report_never_holds_a_value(docs) -> None:
    sample = docs[:400]
    texts = pd.Series([doc.text for doc in sample], name="ticket")
    for action in ("mask", "redact", "pseudonym"):
        scrubbed, report = scrub_texts(texts, PiiConfig(enabled=True, action=action), env=ENV)
        assert isinstance(report, PiiReport)
        dumped = " ".join([repr(report), str(report), json.dumps(report.to_dict())])
        planted = [value for doc in sample for value in doc.values]
        assert sum(report.found.values()) >= 0.95 * len(planted)
        leaked = [value for value in planted if value in dumped]
        assert leaked == []
        if action != "mask":  # a mask keeps a hint (last digits), the others keep nothing
            joined = "\n".join(scrubbed)
            missed = {
                doc.text[s:e]
                for doc in sample
                for span in set(doc.spans) - {tuple(m) for m in detect(doc.text)}
                for s, e in [span[1:]]
            }
            assert {v for v in planted if v in joined} <= missed


# -- errors ----------------------------------------------------------------------------------------


def test_an_unknown_entity_in_the_section_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(SpecError) as caught:
        parse_pii_config({"enabled": True, "entities": ["email", "pasport"]})
    one_line(caught, "[data.pii]", "entities", "'pasport'", "'cn_id'", "'ssn'")
    with pytest.raises(SpecError) as caught:
        parse_pii_config({"actions": {"passport": "mask"}})
    one_line(caught, "actions", "'passport'", "'email'")
    with pytest.raises(SpecError) as caught:
        parse_pii_config({"action": "hash"})
    one_line(caught, "action", "'pseudonym'")
    with pytest.raises(SpecError) as caught:
        parse_pii_config({"entitys": ["email"]})
    one_line(caught, "'entitys'", "entities")


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"entities": ["email"], "actions": {"ssn": "redact"}}, ["'ssn'", "entities"]),
        ({"drop": ["id"], "columns": {"id": "mask"}}, ["'id'", "drop", "columns"]),
        ({"entities": ["email", "email"]}, ["'email'", "twice"]),
        ({"key_env": "MY KEY"}, ["key_env"]),
    ],
)
def test_inconsistent_sections_are_one_line_errors(data: dict, names: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_pii_config(data)
    one_line(caught, *names)


def test_pseudonyms_without_a_key_fail_before_any_work() -> None:
    frame = people()
    before = frame.copy()
    config = PiiConfig(enabled=True, actions={"email": "pseudonym"}, drop=["customer_id"])
    with pytest.raises(SpecError) as caught:
        scrub_frame(frame, config, env={})
    one_line(caught, "KEEL_PII_KEY", "not set", "export KEEL_PII_KEY=")
    pd.testing.assert_frame_equal(frame, before)
    custom = PiiConfig(enabled=True, columns={"note": "pseudonym"}, key_env="TEAM_PII_KEY")
    with pytest.raises(SpecError) as caught:
        scrub_texts(["a@b.io"], custom, env=ENV)
    one_line(caught, "TEAM_PII_KEY")
    with pytest.raises(SpecError) as caught:
        pii_key(custom, {"TEAM_PII_KEY": "short"})
    one_line(caught, "TEAM_PII_KEY", "at least 16")
    assert pii_key(PiiConfig(enabled=True), {}) is None  # no pseudonym, no key needed


def test_naming_a_column_the_data_does_not_have_is_one_line() -> None:
    with pytest.raises(DataError) as caught:
        scrub_frame(people(), PiiConfig(enabled=True, drop=["customer"]), env={})
    one_line(caught, "'customer'", "did you mean 'customer_id'", "note", "contact")
    with pytest.raises(DataError) as caught:
        scrub_frame(people(), PiiConfig(enabled=True, columns={"notes": "redact"}), env={})
    one_line(caught, "'notes'", "columns")
