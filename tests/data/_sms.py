"""An SMS-like corpus built in the test (no download): short ham and spam messages, some repeated,
some nearly, and the texts real message sets hold that have no words at all."""

from __future__ import annotations

import numpy as np
import pandas as pd

HAM = [
    "ok", "see", "you", "later", "at", "home", "call", "me", "when", "are", "free", "lunch",
    "tomorrow", "dinner", "tonight", "love", "thanks", "sorry", "running", "late", "on", "the",
    "bus", "train", "meet", "after", "work", "soon", "yes", "no", "maybe", "going", "morning",
    "where", "what", "time", "did", "get", "my", "message", "haha", "lol", "sure", "fine", "good",
    "night",
]  # fmt: skip
SPAM = [
    "free", "win", "winner", "prize", "cash", "claim", "now", "urgent", "offer", "txt", "stop",
    "reply", "award", "mobile", "ringtone", "guaranteed", "selected", "call", "08001234", "to",
    "receive", "your", "bonus", "voucher", "entry", "draw",
]  # fmt: skip
# real message sets hold these: emoticons, emoji, punctuation, spaces; none has a word
WORDLESS = (":) ", "!!!", "😂😂😂", "   ", "...", "?", "👍", ":-(", "  ..  ", "😀 😀", "<#>", "*")


def sms_frame(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """``n`` messages (label, message) with near and exact repeats, then the wordless ones spread
    through them (each twice, as real sets repeat them), and a message of digits only."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str]] = []
    for _ in range(n):
        spam = rng.random() < 0.2
        words = SPAM if spam else HAM
        text = " ".join(rng.choice(words, int(rng.integers(4, 14))))
        text += str(rng.choice(["", "!", ".", " :)", "?", " 😂"]))
        rows.append(("spam" if spam else "ham", text))
    for i in range(3, n, 20):  # a spam template sent again with another code: a near copy
        words = SPAM if rows[i][0] == "spam" else HAM
        text = " ".join(rng.choice(words, 16))
        rows[i] = (rows[i][0], f"{text} code {1000 + i}")
        rows.append((rows[i][0], f"{text} code {2000 + i}"))
    for i in range(0, n, 25):  # exact repeats (up to case and spacing)
        rows.append((rows[i][0], "  " + rows[i][1].upper()))
    odd = [("ham", t) for t in WORDLESS for _ in range(2)] + [("ham", "12345")]
    for j, row in enumerate(odd):
        rows.insert((37 * j + 11) % len(rows), row)
    return pd.DataFrame(rows, columns=["label", "message"])


def wordless_rows(frame: pd.DataFrame) -> int:
    """How many messages of ``frame`` have no word."""
    return int(frame["message"].isin(WORDLESS).sum())
