"""Finding personal data in text: one compiled regex proposes candidates, validators decide.

The regex starts with a single character class (``[0-9+(:@]``: a digit, ``+``, ``(``, ``:`` or
``@``), so Python's regex engine skips ahead to those characters in C and the other 95% of a text
costs almost nothing. After that trigger character, one named alternative per candidate shape:

* ``email``: the domain after an ``@``; the local part is read backwards from the ``@``;
* ``iban``:  check digits right after two capital letters (the country code, read backwards);
* ``ip6``/``ip6c``: hex groups with at least two colons (hex letters before the trigger are
  read backwards);
* ``num``:   a run of digits joined by single separators (space, ``-``, ``.``, brackets) of 7+
  characters: phone numbers, cards, resident IDs, SSNs and IPv4 addresses.

A candidate is kept only when its validator accepts it, it does not sit inside a larger word or
number, and, for the shapes that are ambiguous on their own, its context agrees (a bare 11-digit
run after "order" or "#" is an order number, dotted quads after "version" are versions, a bare
9-digit run is an SSN only after "SSN"). A number run that fails as a whole is retried piecewise at
its spaces, so ``call 415 555 2671 24 hours`` still finds the phone number.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from keel.data.pii._validators import (
    card_ok,
    cn_id_ok,
    iban_length,
    iban_ok,
    ipv4_ok,
    ipv6_ok,
    phone_e164,
    ssn_ok,
)
from keel.errors import SpecError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ENTITIES",
    "Entity",
    "Match",
    "cell_text",
    "detect",
    "detect_series",
    "resolve_entities",
    "scan_many",
]

Entity = Literal["email", "phone", "card", "ip", "iban", "cn_id", "ssn"]
ENTITIES: tuple[Entity, ...] = get_args(Entity)


class Match(NamedTuple):
    """One personal datum found in a text: its entity type and its span ``text[start:end]``.

    It holds positions only, never the value, so a match can be logged or counted safely.
    """

    entity: Entity
    start: int
    end: int


# -- the candidate regex -------------------------------------------------------------------------

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HEX = r"[0-9A-Fa-f]"
_BRANCHES = {
    # Each branch continues after the trigger character, which a lookbehind pins down. The
    # guards ``(?<!X.)`` refuse a trigger inside a word or number at once, so the engine does
    # not try every digit of a long run.
    "email": rf"(?<=@)(?P<email>{_LABEL}(?:\.{_LABEL})+)",
    "iban": r"(?<=[A-Z]{2}[0-9])(?P<iban>[0-9](?:[0-9A-Z]{10,30}|(?:\ [0-9A-Z]{4}){2,8}"
    r"(?:\ [0-9A-Z]{1,3})?))",
    "ip6c": rf"(?<=:)(?P<ip6c>{_HEX}{{0,4}}(?::{_HEX}{{0,4}}){{1,7}}(?:\.[0-9]{{1,3}}){{0,3}})",
    "ip6": rf"(?<![0-9G-Zg-z_][0-9])(?P<ip6>{_HEX}{{0,3}}(?::{_HEX}{{0,4}}){{2,7}}"
    r"(?:\.[0-9]{1,3}){0,3})",
    "num": r"(?<![0-9A-Za-z_][0-9+(])(?<![0-9A-Za-z_][-./][0-9])"  # not in a word, nor a-1
    r"(?![0-9]{0,7}(?![0-9]|[-. ()]{1,2}[0-9]))"  # not a bare run of 8 digits or fewer
    r"(?P<num>(?:[0-9]|(?:[-. ]|\)\ ?|\ ?\()(?=[0-9])){6,48}(?:[Xx](?![0-9A-Za-z]))?)",
}
_USES = {  # which branches and trigger characters an entity needs
    "email": ("email", "@"),
    "iban": ("iban", "0"),
    "ip": ("ip6 ip6c num", "0:"),
    "phone": ("num", "0+("),
    "card": ("num", "0"),
    "cn_id": ("num", "0"),
    "ssn": ("num", "0"),
}  # "0" stands for every digit
_ORDER = ("email", "iban", "ip6c", "ip6", "num")


class _Plan(NamedTuple):
    regex: re.Pattern[str]
    selected: frozenset[str]


@lru_cache(maxsize=64)
def _plan(selected: frozenset[str]) -> _Plan:
    branches: set[str] = set()
    triggers: set[str] = set()
    for entity in selected:
        names, chars = _USES[entity]
        branches.update(names.split())
        triggers.update(chars)
    trigger = "".join(re.escape(c) for c in sorted(triggers - {"0"}))
    trigger += "0-9" if "0" in triggers else ""
    alternatives = "|".join(_BRANCHES[name] for name in _ORDER if name in branches)
    return _Plan(re.compile(f"[{trigger}](?:{alternatives})"), selected)


_ALL = frozenset(ENTITIES)


def resolve_entities(entities: Iterable[str] | None) -> frozenset[str]:
    """The entity names to look for (all when None); an unknown name is a one-line SpecError."""
    if entities is None:
        return _ALL
    chosen = frozenset(entities)
    unknown = sorted(chosen - set(ENTITIES))
    if unknown:
        raise SpecError(f"unknown PII entity {unknown[0]!r}; known entities: {', '.join(ENTITIES)}")
    return chosen


# -- boundaries and context ----------------------------------------------------------------------

_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_JOINERS = frozenset("-./")
_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-'")
_HEXCHARS = frozenset("0123456789ABCDEFabcdef")
_NOT_TLD = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "bmp", "ico", "pdf", "js", "css"})
_CONTEXT = 24  # characters of context read before an ambiguous candidate
_LABELLED_ID = re.compile(  # "order #", "订单号：", "lot ": what follows is an identifier
    r"(?:(?<![a-z])(?:order|invoice|tracking|ref|reference|sku|serial|transaction|txn|item|"
    r"ticket|case|batch|lot|parcel|shipment)|订单(?:编?号)?|单号|编号|流水号?)"
    r"\s*(?:no\.?|nr\.?|number|num|id)?\s*[#:：=]?\s*$|#\s*$"
)
_SSN_WORDS = re.compile(r"(?:ssn|social security|soc\.? sec)")
_VERSION = re.compile(
    r"(?<![a-z])(?:version|ver\.?|release|build|firmware|kernel|rev\.?)\s*[:=]?\s*$"
)


_CLAUSE_ENDS = frozenset(";\n。；！？!?，,\u3000")


def _before(text: str, start: int) -> str:
    """Up to ``_CONTEXT`` characters before ``start`` in the same clause, lower-cased."""
    floor = max(0, start - _CONTEXT)
    i = start
    while i > floor and text[i - 1] not in _CLAUSE_ENDS:
        i -= 1
    return text[i:start].lower()


def _left_ok(text: str, start: int) -> bool:
    """``text[start:]`` begins a token: not inside a word, nor after ``x-``/``x.``/``x/``."""
    if start == 0:
        return True
    prev = text[start - 1]
    if prev in _WORD:
        return False
    return not (prev in _JOINERS and start >= 2 and text[start - 2] in _WORD)


def _right_ok(text: str, end: int) -> bool:
    """``text[:end]`` ends a token: not followed by a word character, ``@``, or ``-x``/``.x``."""
    if end >= len(text):
        return True
    nxt = text[end]
    if nxt in _WORD or nxt == "@":
        return False
    return not (nxt in _JOINERS and end + 1 < len(text) and text[end + 1] in _WORD)


# -- candidates → matches ------------------------------------------------------------------------


def _email(text: str, at: int, end: int) -> int | None:
    """The start of the e-mail whose ``@`` is at ``at`` and domain ends at ``end``, or None."""
    domain = text[at + 1 : end]
    tld = domain[domain.rfind(".") + 1 :]
    if not (tld.isalpha() and 2 <= len(tld) <= 24) and not tld.startswith("xn--"):
        return None
    if tld.lower() in _NOT_TLD or not _right_ok(text, end):
        return None
    start = at
    floor = max(0, at - 64)
    while start > floor and text[start - 1] in _LOCAL:
        start -= 1
    if start == at or (start > 0 and text[start - 1] in _LOCAL):  # empty, or longer than 64
        return None
    local = text[start:at]
    if local[0] == "." or local[-1] == "." or ".." in local:
        return None
    return start


def _iban(text: str, trigger: int, end: int) -> tuple[int, int] | None:
    """The span of the IBAN whose check digits start at ``trigger``: exactly its country's
    length, compact or in groups of four."""
    start = trigger - 2
    length = iban_length(text[start:trigger])
    if length is None or not _left_ok(text, start):
        return None
    stop = start + length
    if text[trigger + 2] == " ":  # grouped: a space after every four characters
        stop += (length - 1) // 4
    if stop > end or not _right_ok(text, stop):
        return None
    return (start, stop) if iban_ok(text[start:stop].replace(" ", "")) else None


def _ip6(text: str, start: int, end: int) -> int | None:
    floor = max(0, start - 4)
    while start > floor and text[start - 1] in _HEXCHARS:
        start -= 1
    if start > 0 and (text[start - 1] in _WORD or text[start - 1] in ":."):
        return None
    if end < len(text) and (text[end] in _WORD or text[end] == ":"):
        return None
    return start if ipv6_ok(text[start:end]) else None


_DROP_SEPS = str.maketrans("", "", "-. ()+Xx")


def _number(text: str, start: int, end: int, selected: frozenset[str]) -> Entity | None:
    """The entity a run of digits and separators is, or None."""
    token = text[start:end]
    digits = token.translate(_DROP_SEPS)
    n = len(digits)
    lead = token[0]
    if n < 9 and lead != "+" and "." not in token:
        return None
    if token[-1] in "Xx":
        if n == 17 and "cn_id" in selected and cn_id_ok(digits + "X"):
            return "cn_id"
        return None
    if lead != "+" and token.count(".") == 3 and ipv4_ok(token):
        if "ip" in selected and not _VERSION.search(_before(text, start)):
            return "ip"
        return None
    if lead == "+":
        if "phone" in selected and phone_e164(token, digits):
            return "phone"
        return None
    if n == 18 and "cn_id" in selected and cn_id_ok(digits):
        return "cn_id" if n == len(token) or " " in token else None
    if 13 <= n <= 19 and "card" in selected and card_ok(token, digits):
        return None if _LABELLED_ID.search(_before(text, start)) else "card"
    if n == 9 and "ssn" in selected and ssn_ok(digits):
        if len(token) == 11 and token[3] == token[6] and token[3] in "- ":
            return "ssn"
        if n == len(token) and _SSN_WORDS.search(_before(text, start)):
            return "ssn"
        return None
    if 10 <= n <= 17 and "phone" in selected and phone_e164(token, digits):
        # a bare digit run right after "order #" and the like is an order number
        if n == len(token) and _LABELLED_ID.search(_before(text, start)):
            return None
        return "phone"
    return None


def _numbers(text: str, start: int, end: int, selected: frozenset[str], out: list[Match]) -> None:
    """Classify a number run. A run with spaces is tried whole, then piecewise at its spaces
    (longest first, left to right), never cutting between two 4-digit groups (one long number:
    a tracking number is not a card followed by more digits) unless the outer one is glued to a
    word (``+44 20 7946 0958 5927f240``). A trailing group of 1-2 digits
    after a longer one (``call 415 555 2671 24 hours``) is tried without it first."""
    token = text[start:end]
    parts = token.split(" ")
    k = len(parts)
    short_tail = (
        k > 1
        and len(parts[-1]) <= 2
        and parts[-1].isdigit()
        and len(parts[-2]) - len(parts[-2].rstrip("0123456789")) > len(parts[-1])
    )
    left, right = _left_ok(text, start), _right_ok(text, end)
    if not short_tail and left and right:
        entity = _number(text, start, end, selected)
        if entity is not None:
            out.append(Match(entity, start, end))
            return
    if k == 1:
        return
    bounds: list[tuple[int, int]] = []
    s = start
    for part in parts:
        bounds.append((s, s + len(part)))
        s += len(part) + 1
    four = [len(part) == 4 and part.isdigit() for part in parts]
    four[0] = four[0] and left  # a first or last chunk glued to a word is not part of the number
    four[-1] = four[-1] and right
    # may_cut[c]: a piece may start at chunk c, or end just before it
    may_cut = [True, *(not (four[c - 1] and four[c]) for c in range(1, k)), True]
    i = 0
    while i < k:
        found = False
        if may_cut[i]:
            order = [k - 2, k - 1, *range(k - 3, -1, -1)] if i == 0 and short_tail else None
            for j in order or range(k - 1, i - 1, -1):
                s, e = bounds[i][0], bounds[j][1]
                if (i == 0 and j == k - 1 and not short_tail) or not may_cut[j + 1]:
                    continue  # the whole run was tried above
                if e - s < 7 or not (_left_ok(text, s) and _right_ok(text, e)):
                    continue
                entity = _number(text, s, e, selected)
                if entity is not None:
                    out.append(Match(entity, s, e))
                    i = j + 1
                    found = True
                    break
        if not found:
            i += 1


def detect(text: str, entities: Iterable[str] | None = None) -> list[Match]:
    """The personal data in ``text``, in order, without overlaps.

    ``entities`` narrows the search to some of :data:`ENTITIES` (default: all of them); an
    unknown name is a :class:`~keel.errors.SpecError`.
    """
    plan = _plan(resolve_entities(entities))
    return _scan(text, plan)


def _scan(text: str, plan: _Plan) -> list[Match]:
    selected = plan.selected
    search = plan.regex.search
    out: list[Match] = []
    pos = 0
    while True:
        m = search(text, pos)
        if m is None:
            break
        kind = m.lastgroup
        trigger = m.start()
        pos = end = m.end()
        if kind == "num":
            _numbers(text, trigger, end, selected, out)
        elif kind == "email":
            start = _email(text, trigger, end)
            if start is not None:
                out.append(Match("email", start, end))
        elif kind == "iban":
            span = _iban(text, trigger, end)
            if span is not None:
                out.append(Match("iban", *span))
                pos = span[1]  # the spaced form may have run into what follows
        else:  # ip6, ip6c
            start = _ip6(text, trigger, end)
            if start is not None:
                out.append(Match("ip", start, end))
    if len(out) > 1:
        out = _without_overlaps(out)
    return out


def _without_overlaps(matches: list[Match]) -> list[Match]:
    """Matches read backwards (an e-mail's local part, an IPv6 prefix) can overlap an earlier
    match: keep the longer one."""
    matches.sort(key=lambda m: (m.start, -(m.end - m.start)))
    kept: list[Match] = []
    for match in matches:
        if kept and match.start < kept[-1].end:
            if match.end - match.start > kept[-1].end - kept[-1].start:
                kept[-1] = match
            continue
        kept.append(match)
    return kept


# -- columns -------------------------------------------------------------------------------------


def cell_text(value: object, scan: Literal["strings", "all"]) -> str | None:
    """The text of one cell to scan: strings always; numbers too when ``scan == "all"`` (an
    integral float as an integer); None for missing values and for what is not scanned."""
    if isinstance(value, str):
        return value
    if scan != "all" or value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    try:
        if value != value:  # NaT, pd.NA and NaN-like objects
            return None
    except (TypeError, ValueError):
        return None
    return str(value)


_BATCH_CHARS = 4_000_000  # texts are scanned joined, a few MB at a time


def scan_many(
    texts: Sequence[str | None], entities: Iterable[str] | None = None
) -> list[list[Match]]:
    """The matches of each text (None gives none), spans relative to that text.

    The texts are joined by newlines and scanned in one pass per few MB: no candidate can cross a
    newline, and a newline ends a token and a context clause just as the end of a text does, so
    the result is the same as :func:`detect` on each text, with far less per-text overhead.
    """
    plan = _plan(resolve_entities(entities))
    found: list[list[Match]] = [[] for _ in texts]
    batch: list[str] = []
    rows: list[int] = []
    size = 0
    for row, text in enumerate(texts):
        if not text:
            continue
        batch.append(text)
        rows.append(row)
        size += len(text) + 1
        if size >= _BATCH_CHARS:
            _scan_batch(batch, rows, plan, found)
            batch, rows, size = [], [], 0
    if batch:
        _scan_batch(batch, rows, plan, found)
    return found


def _scan_batch(batch: list[str], rows: list[int], plan: _Plan, found: list[list[Match]]) -> None:
    joined = "\n".join(batch)
    offsets = [0]
    for text in batch[:-1]:
        offsets.append(offsets[-1] + len(text) + 1)
    offsets.append(len(joined) + 1)
    i = 0
    for m in _scan(joined, plan):
        while m.start >= offsets[i + 1]:
            i += 1
        base = offsets[i]
        found[rows[i]].append(Match(m.entity, m.start - base, m.end - base))


def detect_series(
    values: pd.Series | Sequence[object],
    entities: Iterable[str] | None = None,
    *,
    scan: Literal["strings", "all"] = "strings",
) -> pd.Series:
    """The matches in every cell of a column, as a Series of lists aligned with ``values``.

    Missing values give an empty list, and so do non-strings unless ``scan == "all"``.
    """
    import pandas as pd

    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    texts = [cell_text(value, scan) for value in series.tolist()]
    found = scan_many(texts, entities)
    return pd.Series(found, index=series.index, dtype=object, name=series.name)
