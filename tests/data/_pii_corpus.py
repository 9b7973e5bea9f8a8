"""A seeded, labelled corpus for the PII detectors.

Each document is a few sentences: prose, planted true entities of every type in the formats people
write them in, and tricky negatives that look like them (timestamps, dates, order and tracking
numbers, versions, prices, UUIDs, hashes, MAC addresses, cards that fail Luhn, IBANs and resident
IDs with a wrong checksum, SSN-shaped numbers the SSA never issues). The true entities are recorded
with their exact spans; anything else a detector reports is a false positive.

The values are generated here independently of keel's validators (their own Luhn, mod-97 and
GB 11643 arithmetic), so a bug in keel cannot make its own test pass.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass

ENTITY_TYPES = ("email", "phone", "card", "ip", "iban", "cn_id", "ssn")


@dataclass(frozen=True)
class Doc:
    """A text with the spans of its planted entities, and its planted values and negatives."""

    text: str
    spans: tuple[tuple[str, int, int], ...]  # (entity, start, end)
    values: tuple[str, ...]  # the planted true values
    negatives: tuple[str, ...]  # the planted look-alikes


Piece = tuple[str, str | None]  # (text, entity or None)


# -- check-digit arithmetic, written independently of keel -----------------------------------------


def luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def iban_check(country: str, bban: str) -> str:
    moved = bban + country + "00"
    number = "".join(str(int(ch, 36)) for ch in moved)
    return f"{98 - int(number) % 97:02d}"


def cn_check(body: str) -> str:
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    return "10X98765432"[total % 11]


# -- true values ---------------------------------------------------------------------------------

FIRST = ["john", "maria", "wei", "li", "anna", "omar", "sofia", "kenji", "lucas", "amara", "ivan"]
LAST = ["smith", "garcia", "zhang", "wang", "muller", "okafor", "rossi", "tanaka", "silva", "kim"]
DOMAINS = [
    "example.com", "mail.example.co.uk", "qq.com", "163.com", "corp-mail.io", "gmail.com",
    "univ.edu", "shop.example.de", "health.gov.au", "startup.ai",
]  # fmt: skip


def email(r: random.Random) -> str:
    f, last = r.choice(FIRST), r.choice(LAST)
    local = r.choice(
        [
            f"{f}.{last}",
            f"{f}{last}{r.randint(1, 99)}",
            f"{f[0]}_{last}",
            f"{f}+news",
            str(r.randint(10_000, 9_999_999_999)),
            f"{f}-{last}",
        ]
    )
    address = f"{local}@{r.choice(DOMAINS)}"
    return address.title() if r.random() < 0.1 else address


def _d(r: random.Random, n: int) -> str:
    return "".join(r.choice(string.digits) for _ in range(n))


def _nanp(r: random.Random) -> tuple[str, str, str]:
    return f"{r.randint(2, 9)}{_d(r, 2)}", f"{r.randint(2, 9)}{_d(r, 2)}", _d(r, 4)


def phone(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.35:
        a, e, x = _nanp(r)
        forms = [
            f"({a}) {e}-{x}", f"{a}-{e}-{x}", f"{a}.{e}.{x}", f"+1 {a} {e} {x}",
            f"+1-{a}-{e}-{x}", f"1-{a}-{e}-{x}", f"+1 ({a}) {e}-{x}", f"{a} {e} {x}",
        ]  # fmt: skip
        return r.choice(forms)
    if kind < 0.7:
        m = f"1{r.randint(3, 9)}{_d(r, 9)}"
        forms = [
            m, m, f"+86 {m[:3]} {m[3:7]} {m[7:]}", f"+86-{m[:3]}-{m[3:7]}-{m[7:]}", f"+86{m}",
            f"{m[:3]}-{m[3:7]}-{m[7:]}", f"{m[:3]} {m[3:7]} {m[7:]}",
            f"0086 {m[:3]} {m[3:7]} {m[7:]}",
        ]  # fmt: skip
        if r.random() < 0.25:  # a landline: Beijing, Shanghai, Shenzhen
            area = r.choice(["010", "021", "0755"])
            local = f"{r.randint(2, 8)}{_d(r, 7 if area != '0755' else r.choice([6, 7]))}"
            forms = [f"{area}-{local}", f"({area}) {local}", f"+86 {area[1:]} {local}"]
        return r.choice(forms)
    forms = [
        f"+44 20 {_d(r, 4)} {_d(r, 4)}", f"+44 7{_d(r, 3)} {_d(r, 6)}",
        f"+49 30 {_d(r, 8)}", f"+33 {r.randint(1, 9)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)} {_d(r, 2)}",
        f"+81 3-{_d(r, 4)}-{_d(r, 4)}", f"+91 9{_d(r, 4)} {_d(r, 5)}",
        f"+61 2 {_d(r, 4)} {_d(r, 4)}", f"+7 495 {_d(r, 3)}-{_d(r, 2)}-{_d(r, 2)}",
        f"+44 (0)20 {_d(r, 4)} {_d(r, 4)}", f"+34 6{_d(r, 2)} {_d(r, 3)} {_d(r, 3)}",
    ]  # fmt: skip
    return r.choice(forms)


BRANDS = [("4", 16), ("51", 16), ("55", 16), ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
          ("62", 16), ("3530", 16), ("4", 19)]  # fmt: skip


def card_digits(r: random.Random) -> str:
    prefix, length = r.choice(BRANDS)
    body = prefix + _d(r, length - len(prefix) - 1)
    return body + luhn_digit(body)


def format_card(r: random.Random, digits: str) -> str:
    if len(digits) == 15:
        sep = r.choice([" ", "-", ""])
        return sep.join([digits[:4], digits[4:10], digits[10:]])
    if len(digits) == 16:
        sep = r.choice([" ", "-", "", " "])
        return sep.join(digits[i : i + 4] for i in range(0, 16, 4))
    return digits


def card(r: random.Random) -> str:
    return format_card(r, card_digits(r))


def ip(r: random.Random) -> str:
    kind = r.random()
    if kind < 0.6:
        return ".".join(str(x) for x in [r.randint(1, 223), *(r.randint(0, 255) for _ in range(3))])
    groups = [f"{r.randint(0, 0xFFFF):x}" for _ in range(8)]
    if kind < 0.75:
        return ":".join(groups)
    if kind < 0.9:
        return f"2001:db8:{groups[2]}::{groups[6]}:{groups[7]}"
    if kind < 0.95:
        return f"fe80::{groups[5]}:{groups[6]}:{groups[7]}"
    return f"::ffff:{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


IBAN_FORMS = {  # country: (letters, digits) of the BBAN
    "GB": (4, 14), "DE": (0, 18), "FR": (0, 23), "ES": (0, 20), "IT": (1, 22), "NL": (4, 10),
    "CH": (0, 17), "BE": (0, 12), "PL": (0, 24), "SE": (0, 20), "NO": (0, 11), "AT": (0, 16),
}  # fmt: skip


def iban_compact(r: random.Random) -> str:
    country = r.choice(list(IBAN_FORMS))
    letters, digits = IBAN_FORMS[country]
    bban = "".join(r.choice(string.ascii_uppercase) for _ in range(letters)) + _d(r, digits)
    return country + iban_check(country, bban) + bban


def format_iban(r: random.Random, compact: str) -> str:
    if r.random() < 0.5:
        return compact
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def iban(r: random.Random) -> str:
    return format_iban(r, iban_compact(r))


REGIONS = ["110101", "110105", "310104", "440305", "510107", "330106", "420102", "610113"]


def cn_id_body(r: random.Random) -> str:
    born = f"{r.randint(1950, 2005)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
    return r.choice(REGIONS) + born + _d(r, 3)


def cn_id(r: random.Random) -> str:
    body = cn_id_body(r)
    return body + cn_check(body)


def ssn_parts(r: random.Random) -> tuple[str, str, str]:
    area = r.randint(1, 899)
    while area == 666:
        area = r.randint(1, 899)
    return f"{area:03d}", f"{r.randint(1, 99):02d}", f"{r.randint(1, 9999):04d}"


def ssn(r: random.Random) -> str:
    a, g, s = ssn_parts(r)
    while a + g + s in {"078051120", "219099999", "123456789"}:
        a, g, s = ssn_parts(r)
    return f"{a} {g} {s}" if r.random() < 0.15 else f"{a}-{g}-{s}"


TRUE: dict[str, Callable[[random.Random], str]] = {
    "email": email, "phone": phone, "card": card, "ip": ip, "iban": iban, "cn_id": cn_id,
    "ssn": ssn,
}  # fmt: skip

# sentences around a value: "{}" is the value; several carry no helpful context at all
CONTEXTS: dict[str, list[str]] = {
    "email": ["Write to {} for details.", "联系邮箱：{}。", "<{}>", "cc: {}, thanks", "{}"],
    "phone": ["Call me at {} tomorrow.", "手机：{}，随时联系。", "Tel. {}", "reach {} (mobile)",
              "The number is {}.", "call {} 24 hours a day", "{}"],
    "card": ["Card number: {}", "paid with {} yesterday", "卡号 {}。", "{} exp 12/27"],
    "ip": ["from {} at login", "client_ip={}", "Server {} responded", "[{}]", "{}."],
    "iban": ["IBAN: {}", "transfer to {} please", "账户 {}", "{}"],
    "cn_id": ["身份证号码：{}", "ID {} on file", "证件号{}，", "{}"],
    "ssn": ["SSN {}", "social security number {} on the form", "her SSN is {}.", "{}"],
}  # fmt: skip

# -- tricky negatives ----------------------------------------------------------------------------


def _bad_card(r: random.Random) -> str:
    digits = card_digits(r)
    wrong = str((int(digits[-1]) + r.randint(1, 9)) % 10)
    return format_card(r, digits[:-1] + wrong)


def _bad_iban(r: random.Random) -> str:
    compact = iban_compact(r)
    pos = r.randint(4, len(compact) - 1)
    while not compact[pos].isdigit():
        pos = r.randint(4, len(compact) - 1)
    wrong = str((int(compact[pos]) + r.randint(1, 9)) % 10)
    return format_iban(r, compact[:pos] + wrong + compact[pos + 1 :])


def _bad_cn_id(r: random.Random) -> str:
    body = cn_id_body(r)
    good = cn_check(body)
    return body + r.choice([c for c in "0123456789X" if c != good])


def _bad_ssn(r: random.Random) -> str:
    a, g, s = ssn_parts(r)
    kind = r.randrange(5)
    if kind == 0:
        a = "000"
    elif kind == 1:
        a = "666"
    elif kind == 2:
        a = f"9{_d(r, 2)}"
    elif kind == 3:
        g = "00"
    else:
        s = "0000"
    return f"{a}-{g}-{s}"


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def _date(r: random.Random) -> tuple[str, str, str]:
    return str(r.randint(1990, 2030)), f"{r.randint(1, 12):02d}", f"{r.randint(1, 28):02d}"


def _time(r: random.Random) -> str:
    return f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"


def _mobile_shaped(r: random.Random) -> str:
    return f"1{r.randint(3, 9)}{_d(r, 9)}"


NEGATIVES: list[Callable[[random.Random], str]] = [
    lambda r: "created {}-{}-{}T{}Z".format(*_date(r), _time(r)),
    lambda r: "at {}-{}-{} {}".format(*_date(r), _time(r)),
    lambda r: "ts={}{}{}{}".format(*_date(r), _time(r).replace(":", "")),
    lambda r: f"epoch {r.randint(1_500_000_000, 1_800_000_000)}",
    lambda r: f"epoch_ms {r.randint(1_500_000_000_000, 1_800_000_000_000)}",
    lambda r: "due {}-{}-{}".format(*_date(r)),
    lambda r: "on {2}.{1}.{0}".format(*_date(r)),
    lambda r: "on {1}/{2}/{0}".format(*_date(r)),
    lambda r: "ORD-{}{}{}-{}".format(*_date(r), _d(r, 4)),
    lambda r: f"order #{_d(r, 8)} shipped",
    lambda r: f"order no. {_mobile_shaped(r)} confirmed",
    lambda r: f"订单号：{_mobile_shaped(r)}",
    lambda r: f"invoice {r.randint(2_000_000_000, 2_099_999_999)}",
    lambda r: f"account {r.randint(2_000_000_000, 9_999_999_999)}",
    lambda r: f"ticket #{_d(r, 11)}",
    lambda r: f"version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
    lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
    lambda r: f"build 10.0.{r.randint(10000, 22631)}.{r.randint(1, 999)}",
    lambda r: f"release {r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
    lambda r: f"card {_bad_card(r)} was declined",
    lambda r: f"IBAN {_bad_iban(r)} rejected",
    lambda r: f"ID {_bad_cn_id(r)} invalid",
    lambda r: f"SSN {_bad_ssn(r)} is not valid",
    lambda r: f"${r.randint(1, 9)},{r.randint(100, 999)}.{r.randint(0, 99):02d}",
    lambda r: f"€ {r.randint(1, 999)}.{r.randint(0, 99):02d}",
    lambda r: f"共计{r.randint(100, 99999)}元",
    lambda r: f"USD {r.randint(1, 99)},{r.randint(100, 999)},{r.randint(100, 999)}.00",
    lambda r: f"1Z{_d(r, 3)}{r.choice('ABCDEFGHJKLMNPRSTVWXY')}{r.choice('AE')}{_d(r, 11)}",
    lambda r: "USPS 9400 " + " ".join(_d(r, 4) for _ in range(4)) + f" {_d(r, 2)}",
    lambda r: f"FedEx 7{_d(r, 3)} {_d(r, 4)} {_d(r, 4)}",
    lambda r: f"{_hex(r, 8)}-{_hex(r, 4)}-4{_hex(r, 3)}-a{_hex(r, 3)}-{_hex(r, 12)}",
    lambda r: f"md5 {_hex(r, 32)}",
    lambda r: f"sha256:{_hex(r, 64)}",
    lambda r: "mac " + ":".join(f"{r.randint(0, 255):02X}" for _ in range(6)),
    lambda r: f"at {_time(r)} sharp",
    lambda r: f"icon@{r.randint(2, 3)}x.png",
    lambda r: f"@{r.choice(FIRST)}{r.randint(1, 99)}",
    lambda r: f"pkg@{r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}",
    lambda r: f"{r.randint(256, 999)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(0, 255)}",
    lambda r: f"pi is {r.randint(1, 9)}.{_d(r, 6)}",
    lambda r: f"population {r.randint(1, 999)},{r.randint(100, 999)},{r.randint(100, 999)}",
    lambda r: f"{r.randint(1, 99)} {_d(r, 3)} {_d(r, 3)} people",
    lambda r: "std::vector<int> and Foo::bar()",
    lambda r: f"ISBN 978-{r.randint(0, 9)}-{_d(r, 2)}-{_d(r, 6)}-{r.randint(0, 9)}",
    lambda r: f"at {r.randint(-89, 89)}.{_d(r, 4)}, {r.randint(-179, 179)}.{_d(r, 4)}",
    lambda r: f"ref {r.randint(2019, 2025)}-{_d(r, 6)}-{_d(r, 2)}",
    lambda r: f"SKU {_d(r, 3)}-{_d(r, 3)}-{_d(r, 3)}",
    lambda r: f"lot {_d(r, 4)}-{_d(r, 4)}-{_d(r, 4)}-{_d(r, 4)}",
    lambda r: f"ratio {r.randint(1, 9)}:{r.randint(1, 9)}",
]

FILLER = [
    "The shipment left the warehouse on time.", "Please review the attached notes.",
    "We met after lunch to discuss the roadmap.", "Thanks again for your patience!",
    "The model scored 0.93 on the held-out set.", "There were 14 items in the box.",
    "会议改到下午三点。", "Status: resolved.", "Room 4B is booked for 2 hours.",
    "Temperature reached 38.5 degrees at noon.", "See section 3.2 for the details.",
    "Meeting notes follow.", "客户反馈很好。", "Batch 7 of 12 finished in 45 minutes.",
]  # fmt: skip


def document(r: random.Random) -> Doc:
    """One document: 2-6 pieces of prose, true entities in context and negatives."""
    pieces: list[Piece] = []
    for _ in range(r.randint(2, 6)):
        roll = r.random()
        if roll < 0.45:
            entity = r.choice(ENTITY_TYPES)
            value = TRUE[entity](r)
            context = r.choice(CONTEXTS[entity])
            if entity == "ssn" and r.random() < 0.1:  # a bare 9-digit SSN after its keyword
                context, value = "SSN: {}", value.replace("-", "").replace(" ", "")
            before, after = context.split("{}")
            pieces += [(before, None), (value, entity), (after, None)]
        elif roll < 0.8:
            pieces.append((r.choice(NEGATIVES)(r), "neg"))
        else:
            pieces.append((r.choice(FILLER), None))
        pieces.append((r.choice([" ", " ", "\n", "; ", "　"]), None))
    text = ""
    spans: list[tuple[str, int, int]] = []
    values: list[str] = []
    negatives: list[str] = []
    for piece, label in pieces:
        if label == "neg":
            negatives.append(piece)
        elif label is not None:
            spans.append((label, len(text), len(text) + len(piece)))
            values.append(piece)
        text += piece
    return Doc(text, tuple(spans), tuple(values), tuple(negatives))


def corpus(n: int, seed: int = 0) -> list[Doc]:
    """``n`` documents, the same for the same seed."""
    r = random.Random(seed)
    return [document(r) for _ in range(n)]
