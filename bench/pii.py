"""PII detection and scrubbing throughput on one core, in MB/s of UTF-8 text.

A seeded generator writes ``--mb`` MB of support-ticket-like rows (English and some Chinese prose
with counts, prices, dates, times, versions, order and tracking numbers, URLs and hashes) with
about ``--pii`` percent of the bytes being personal data of every type keel detects. Then, over
the same rows, one process, the page of text already in memory:

* ``detect``              :func:`keel.data.pii.detect` on every row (the scan itself);
* ``detect (one string)`` the rows joined by newlines, scanned as one text;
* ``scrub_texts (mask)``  detection plus rewriting every row, with the count report;
* ``scrub_texts (pseudonym)`` the same with HMAC-SHA256 tokens.

Rounds are interleaved and medians reported, of wall time and of this process's CPU time (on a
shared machine the CPU time is the figure to read). Target: detect >= 10 MB/s on one core.

    python bench/pii.py              # 30 MB, 3 rounds
    python bench/pii.py --quick      # 5 MB, 2 rounds
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import statistics
import string
import time
from collections.abc import Callable

import pandas as pd

from keel.data.pii import PiiConfig, detect, scrub_texts

TARGET_MB_S = 10.0

# -- PII values (check digits computed here, independently of keel) -------------------------------


def _d(r: random.Random, n: int) -> str:
    return "".join(r.choices(string.digits, k=n))


def _luhn_digit(body: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(body + "0")):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return str(-total % 10)


def _card(r: random.Random) -> str:
    prefix, n = r.choice([("4", 16), ("52", 16), ("37", 15), ("6011", 16), ("62", 16)])
    body = prefix + _d(r, n - len(prefix) - 1)
    digits = body + _luhn_digit(body)
    if n == 15:
        return f"{digits[:4]} {digits[4:10]} {digits[10:]}"
    return r.choice([" ", "-", ""]).join(digits[i : i + 4] for i in range(0, 16, 4))


def _iban(r: random.Random) -> str:
    country, n = r.choice([("DE", 18), ("FR", 23), ("ES", 20), ("NL", 10), ("GB", 14)])
    bank = "".join(r.choices(string.ascii_uppercase, k=4)) if country in ("NL", "GB") else ""
    bban = bank + _d(r, n)
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    compact = f"{country}{check:02d}{bban}"
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def _cn_id(r: random.Random) -> str:
    body = r.choice(["110105", "310104", "440305"]) + f"{r.randint(1950, 2005)}0{r.randint(1, 9)}"
    body += f"{r.randint(10, 28)}{_d(r, 3)}"
    total = sum(int(c) * (2 ** (17 - i) % 11) for i, c in enumerate(body))
    return body + "10X98765432"[total % 11]


def _phone(r: random.Random) -> str:
    mobile = f"1{r.randint(3, 9)}{_d(r, 9)}"
    area, exchange = f"{r.randint(2, 9)}{_d(r, 2)}", f"{r.randint(2, 9)}{_d(r, 2)}"
    return r.choice([
        mobile, f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}", f"({area}) {exchange}-{_d(r, 4)}",
        f"+1 {area} {exchange} {_d(r, 4)}", f"+44 20 {_d(r, 4)} {_d(r, 4)}",
    ])  # fmt: skip


LOCALS = ["ana", "wei.zhang", "j.smith", "omar99", "support+tickets", "10086"]
PII: list[Callable[[random.Random], str]] = [
    lambda r: f"{r.choice(LOCALS)}@{r.choice(['example.com', 'qq.com', 'corp.io'])}",
    _phone,
    _card,
    lambda r: f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}",
    lambda r: f"2001:db8:{r.randint(0, 0xFFFF):x}::{r.randint(0, 0xFFFF):x}",
    _iban,
    _cn_id,
    lambda r: f"{r.randint(100, 665)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}",
]  # fmt: skip

# -- prose -------------------------------------------------------------------------------------

WORDS = [
    "the", "a", "to", "of", "and", "in", "for", "is", "on", "that", "with", "it", "this", "was",
    "be", "as", "at", "by", "from", "we", "you", "our", "your", "are", "order", "customer",
    "account", "payment", "shipped", "delivered", "refund", "please", "thanks", "issue", "ticket",
    "support", "update", "release", "version", "build", "error", "server", "request", "response",
    "time", "today", "tomorrow", "week", "item", "price", "total", "discount", "invoice",
    "service", "team", "meeting", "report", "data", "model", "training", "results", "user",
    "password", "reset", "login", "page", "app", "mobile", "email", "address", "contact",
    "replied", "resolved", "pending", "review",
]  # fmt: skip
NUMBERS: list[Callable[[random.Random], str]] = [
    lambda r: str(r.randint(1, 500)),
    lambda r: f"${r.randint(1, 999)}.{r.randint(0, 99):02d}",
    lambda r: f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}",
    lambda r: f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}",
    lambda r: f"v{r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 9)}",
    lambda r: f"order #{_d(r, 8)}",
    lambda r: f"ORD-2024{_d(r, 4)}-{_d(r, 4)}",
    lambda r: f"https://shop.example.com/item/{_d(r, 6)}?ref=mail",
    lambda r: "".join(r.choices("0123456789abcdef", k=12)),
    lambda r: f"{r.randint(1, 99)}%",
]
CHINESE = [
    "您好，订单已发货。",
    "请尽快处理。",
    "谢谢您的耐心等待！",
    "问题已经解决。",
    "我们会在三天内回复。",
]


def sentence(r: random.Random) -> str:
    words = r.choices(WORDS, k=r.randint(8, 18))
    for _ in range(r.randint(0, 2)):
        words.insert(r.randrange(len(words)), r.choice(NUMBERS)(r))
    text = " ".join(words).capitalize() + r.choice([".", ".", "!", "?"])
    return text + (r.choice(CHINESE) if r.random() < 0.15 else "")


def rows(total_mb: float, pii_percent: float, seed: int = 0) -> tuple[list[str], int]:
    """Rows of ~300 characters until ``total_mb`` MB, and how many PII values were planted."""
    r = random.Random(seed)
    sentences = [sentence(r) for _ in range(5000)]
    values = [f(r) for f in PII for _ in range(500)]
    target = total_mb * 1e6
    out: list[str] = []
    size = pii_bytes = planted = 0
    while size < target:
        parts: list[str] = []
        length = 0
        while length < 300:
            if pii_bytes < size * pii_percent / 100:
                value = r.choice(values)
                part = r.choice(["Contact: {}.", "{}", "sent to {} yesterday", "ID {}"])
                part = part.format(value)
                pii_bytes += len(value.encode())
                planted += 1
            else:
                part = r.choice(sentences)
            parts.append(part)
            length += len(part) + 1
        row = " ".join(parts)
        out.append(row)
        size += len(row.encode()) + 1
    return out, planted


# -- timing ------------------------------------------------------------------------------------


def interleaved(
    subjects: dict[str, Callable[[], object]], rounds: int
) -> dict[str, list[tuple[float, float]]]:
    """(wall, CPU) seconds of each subject per round; the order rotates every round."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in subjects}
    order = list(subjects)
    for i in range(rounds):
        for key in order[i % len(order) :] + order[: i % len(order)]:
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            result = subjects[key]()
            times[key].append((time.perf_counter() - wall, time.process_time() - cpu))
            del result
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=None, help="MB of text (default 30)")
    parser.add_argument("--pii", type=float, default=3.0, help="percent of bytes that are PII")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 3)")
    parser.add_argument("--quick", action="store_true", help="5 MB, 2 rounds")
    args = parser.parse_args()
    mb_arg = (5.0 if args.quick else 30.0) if args.mb is None else args.mb
    rounds = (2 if args.quick else 3) if args.rounds is None else args.rounds
    if mb_arg <= 0 or rounds < 1 or not 0 <= args.pii < 100:
        parser.error("need --mb > 0, --rounds >= 1 and 0 <= --pii < 100")

    started = time.perf_counter()
    texts, planted = rows(mb_arg, args.pii)
    joined = "\n".join(texts)
    mb = len(joined.encode()) / 1e6
    series = pd.Series(texts)
    mask = PiiConfig(enabled=True)
    pseudo = PiiConfig(enabled=True, action="pseudonym")
    env = {"KEEL_PII_KEY": "bench-key-" + "0" * 32}
    print(
        f"keel PII benchmark: python={platform.python_version()} one process, one thread; "
        f"{len(texts)} rows, {mb:.1f} MB, {args.pii:g}% PII bytes ({planted} values planted); "
        f"generated in {time.perf_counter() - started:.1f} s"
    )

    subjects: dict[str, Callable[[], object]] = {
        "detect": lambda: [detect(t) for t in texts],
        "detect (one string)": lambda: detect(joined),
        "scrub_texts (mask)": lambda: scrub_texts(series, mask),
        "scrub_texts (pseudonym)": lambda: scrub_texts(series, pseudo, env=env),
    }
    found = sum(len(m) for m in subjects["detect"]())  # type: ignore[arg-type]
    _, report = scrub_texts(series, mask)
    runs = interleaved(subjects, rounds)
    wall = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    cpu = {k: statistics.median(c for _, c in v) for k, v in runs.items()}

    print(f"planted {planted}, found {found}: {report.found}")
    print(
        f"load average {os.getloadavg()[0]:.1f} over {os.cpu_count()} CPUs: CPU-time rates "
        "are the ones to read on a shared machine"
    )
    header = f"{'subject':<26} {'wall s':>7} {'MB/s':>7} {'CPU s':>7} {'MB/s':>7} {'target':>8}"
    print(header)
    print("-" * len(header))
    for key in subjects:
        target = f">= {TARGET_MB_S:g}" if key == "detect" else ""
        print(
            f"{key:<26} {wall[key]:>7.2f} {mb / wall[key]:>7.1f} {cpu[key]:>7.2f} "
            f"{mb / cpu[key]:>7.1f} {target:>8}"
        )
    rate = mb / cpu["detect"]
    verdict = "met" if rate >= TARGET_MB_S else "NOT met"
    print(
        f"target detect >= {TARGET_MB_S:g} MB/s on one core: {verdict} ({rate:.1f} MB/s CPU time, "
        f"{mb / wall['detect']:.1f} MB/s wall)"
    )


if __name__ == "__main__":
    main()
