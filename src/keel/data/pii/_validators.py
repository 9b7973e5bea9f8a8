"""Checks that decide whether a candidate string really is a personal datum.

Each validator takes the candidate's text (and, for numbers, its digits) and answers yes or no;
:func:`normalise` gives the canonical form a pseudonym is keyed on. Nothing here searches text:
:mod:`keel.data.pii._detect` finds the candidates.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import date
from operator import mul

__all__ = [
    "card_ok",
    "cn_id_ok",
    "iban_length",
    "iban_ok",
    "ipv4_ok",
    "ipv6_ok",
    "luhn_ok",
    "normalise",
    "phone_e164",
    "ssn_ok",
]

_DIGIT_RUN = re.compile(r"[0-9]+")
_NON_DIGIT = re.compile(r"[^0-9]")

# -- payment cards -------------------------------------------------------------------------------

_LUHN_DOUBLE = str.maketrans("0123456789", "0246813579")  # d → digit sum of 2d


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check over a string of ASCII digits."""
    total = sum(map(int, digits[-1::-2])) + sum(map(int, digits[-2::-2].translate(_LUHN_DOUBLE)))
    return total % 10 == 0


def _brand_ok(digits: str) -> bool:
    """Whether the issuer prefix (IIN) of a card number fits its length."""
    n = len(digits)
    first = digits[0]
    if first == "4":  # Visa
        return n in (13, 16, 19)
    two = int(digits[:2])
    four = int(digits[:4])
    if first == "5":  # Mastercard 51-55
        return 51 <= two <= 55 and n == 16
    if first == "2":  # Mastercard 2221-2720
        return 2221 <= four <= 2720 and n == 16
    if first == "3":
        if two in (34, 37):  # American Express
            return n == 15
        if 3528 <= four <= 3589:  # JCB
            return 16 <= n <= 19
        if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:  # Diners Club
            return 14 <= n <= 19
        return False
    if first == "6":  # Discover 6011 / 644-649 / 65, UnionPay 62
        three = int(digits[:3])
        return (four == 6011 or 644 <= three <= 649 or two in (65, 62)) and 16 <= n <= 19
    return False


_CARD_GROUPS = {(4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 4, 1), (4, 4, 4, 2)}


def card_ok(token: str, digits: str) -> bool:
    """A payment card number: 13-19 digits, written plain or in the usual groups with one kind of
    separator, a known issuer prefix for its length, and a valid Luhn check digit."""
    if not 13 <= len(digits) <= 19 or not token[0].isdigit():
        return False
    if len(token) != len(digits):
        seps = {ch for ch in token if not ch.isdigit()}
        if len(seps) != 1 or not seps <= {" ", "-"}:
            return False
        groups = tuple(len(g) for g in _DIGIT_RUN.findall(token))
        if groups not in _CARD_GROUPS:
            return False
    return _brand_ok(digits) and luhn_ok(digits)


# -- IBAN ----------------------------------------------------------------------------------------

_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24,
    "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip
_IBAN_LETTERS = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})


def iban_length(country: str) -> int | None:
    """The IBAN length of a country (ISO 3166 alpha-2), None for a country without IBANs here."""
    return _IBAN_LENGTHS.get(country)


def iban_ok(iban: str) -> bool:
    """A compact, upper-case IBAN: known country, its exact length, two check digits and the
    ISO 13616 mod-97 checksum."""
    if _IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    if not iban[4:].isalnum() or not iban.isascii():
        return False
    rearranged = (iban[4:] + iban[:4]).translate(_IBAN_LETTERS)
    return int(rearranged) % 97 == 1


# -- Chinese resident identity card (GB 11643-1999) ----------------------------------------------

_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"
_CN_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
})  # fmt: skip


def cn_id_ok(token: str) -> bool:
    """An 18-character resident ID: province code, a real birth date no later than today, and the
    ISO 7064 MOD 11-2 check character (a digit or X)."""
    if len(token) != 18 or not token[:17].isdigit() or token[:2] not in _CN_PROVINCES:
        return False
    check = token[17].upper()
    total = sum(map(mul, _CN_WEIGHTS, map(int, token[:17])))
    if _CN_CHECK[total % 11] != check:
        return False
    try:
        born = date(int(token[6:10]), int(token[10:12]), int(token[12:14]))
    except ValueError:
        return False
    return born.year >= 1900 and born <= date.today()


# -- US social security number -------------------------------------------------------------------

_SSN_NEVER = frozenset({"078051120", "219099999", "123456789"})  # advertised / voided numbers


def ssn_ok(digits: str) -> bool:
    """Nine digits the SSA could issue: area not 000, 666 or 900-999, group not 00, serial not
    0000, and not one of the well-known published numbers."""
    if len(digits) != 9 or digits in _SSN_NEVER or digits == digits[0] * 9:
        return False
    area = digits[:3]
    return (
        area != "000" and area != "666" and area[0] != "9"
        and digits[3:5] != "00" and digits[5:] != "0000"
    )  # fmt: skip


# -- IP addresses --------------------------------------------------------------------------------


def ipv4_ok(token: str) -> bool:
    """Four dotted decimal octets, each 0-255 without leading zeros."""
    parts = token.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or len(part) > 3 or (len(part) > 1 and part[0] == "0"):
            return False
        if int(part) > 255:
            return False
    return True


def ipv6_ok(token: str) -> bool:
    """A valid IPv6 address that looks like one on purpose: at least two non-empty groups, and
    all eight, or one of 3+ hex digits, or an embedded IPv4 address (``1::2`` is not enough)."""
    if token.count(":") < 2:
        return False
    groups = [g for g in token.split(":") if g]
    if len(groups) < 2:
        return False
    if len(groups) < 8 and "." not in token and max(len(g) for g in groups) < 3:
        return False
    try:
        ipaddress.IPv6Address(token)
    except ValueError:
        return False
    return True


# -- phone numbers -------------------------------------------------------------------------------

_CC1 = frozenset({"1", "7"})
_CC2 = frozenset({
    "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45", "46",
    "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61", "62", "63",
    "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95", "98",
})  # fmt: skip
_NATIONAL_LENGTHS = {
    "1": (10, 10), "7": (10, 10), "20": (9, 10), "27": (9, 9), "30": (10, 10), "31": (9, 9),
    "32": (8, 9), "33": (9, 9), "34": (9, 9), "36": (8, 9), "39": (6, 11), "40": (9, 9),
    "41": (9, 9), "43": (4, 13), "44": (9, 10), "45": (8, 8), "46": (7, 10), "47": (8, 8),
    "48": (9, 9), "49": (6, 13), "51": (8, 9), "52": (10, 10), "53": (8, 8), "54": (10, 11),
    "55": (10, 11), "56": (9, 9), "57": (10, 10), "58": (10, 10), "60": (8, 10), "61": (9, 9),
    "62": (8, 12), "63": (8, 10), "64": (8, 10), "65": (8, 8), "66": (8, 9), "81": (9, 10),
    "82": (8, 10), "84": (9, 10), "86": (10, 11), "90": (10, 10), "91": (10, 10), "92": (9, 10),
    "93": (9, 9), "94": (9, 9), "95": (7, 10), "98": (10, 10), "212": (9, 9), "234": (8, 10),
    "254": (9, 9), "351": (9, 9), "352": (6, 11), "353": (7, 9), "354": (7, 9), "358": (5, 12),
    "380": (9, 9), "420": (9, 9), "421": (9, 9), "852": (8, 8), "853": (8, 8), "855": (8, 9),
    "880": (10, 10), "886": (9, 9), "966": (9, 9), "971": (8, 9), "972": (8, 9),
}  # fmt: skip
_GENERIC_LENGTHS = (6, 12)  # a three-digit country code not in the table
_CN_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_CN_AREA = r"0(?:10|2[0-9]|[3-9][0-9]{2})"  # Beijing 010, 02x, then 0xxx
_CN_LANDLINE = re.compile(rf"{_CN_AREA}-[2-9][0-9]{{6,7}}|\({_CN_AREA}\)\ ?[2-9][0-9]{{6,7}}")
_NANP = re.compile(r"[2-9][0-9]{2}[2-9][0-9]{6}")


def _country_code(digits: str) -> str:
    if digits[0] in _CC1:
        return digits[0]
    return digits[:2] if digits[:2] in _CC2 else digits[:3]


def _international(digits: str) -> str | None:
    """``CC + national number`` → the same digits when the country code exists (E.164) and the
    national number has a length that country uses; else None."""
    if not 8 <= len(digits) <= 15 or digits[0] == "0":
        return None
    cc = _country_code(digits)
    national = digits[len(cc) :]
    low, high = _NATIONAL_LENGTHS.get(cc, _GENERIC_LENGTHS)
    if not low <= len(national) <= high or national[0] == "0":
        return None
    if cc == "1" and not _NANP.fullmatch(national):
        return None
    if cc == "86" and national[0] == "1" and not _CN_MOBILE.fullmatch(national):
        return digits if national.startswith("10") and len(national) == 10 else None
    return digits


_US_SEPS = frozenset("-. ")


def phone_e164(token: str, digits: str) -> str | None:
    """The E.164 digits (country code first, no '+') of a phone number written in one of the
    recognised formats, else None:

    * international: ``+CC …`` or ``00 CC …`` (separated), country code and national length
      checked, an optional ``(0)`` trunk prefix;
    * Chinese mobile: ``1[3-9]`` + 9 digits, plain or ``138 1234 5678`` / ``138-1234-5678``;
    * Chinese landline: ``010-12345678``, ``0755-1234567``, ``(021) 12345678``;
    * North American: ``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``, ``415 555 2671``,
      with an optional leading ``1``; area and exchange codes must not start with 0 or 1.

    A bare run of digits is not a phone number unless it is a Chinese mobile number (dates,
    timestamps and order numbers are bare digit runs).
    """
    lead = token[0]
    if lead == "+":
        if "(0)" in token:
            digits = _NON_DIGIT.sub("", token.replace("(0)", ""))
        return _international(digits)
    plain = len(token) == len(digits)
    groups = tuple(len(g) for g in _DIGIT_RUN.findall(token))
    if digits.startswith("00"):  # 00 CC …: the first group is exactly the prefix and the code
        if plain or len(digits) < 10 or groups[0] != 2 + len(_country_code(digits[2:])):
            return None
        return _international(digits[2:])
    cn_shape = plain or (groups == (3, 4, 4) and _seps_ok(token, " -"))
    if cn_shape and len(digits) == 11 and _CN_MOBILE.fullmatch(digits):
        return "86" + digits
    if digits[0] == "0":
        return "86" + digits[1:] if _CN_LANDLINE.fullmatch(token) else None
    if groups[0] == 1 and digits[0] == "1":  # 1-415-555-2671, 1 (415) 555-2671
        groups, digits = groups[1:], digits[1:]
        token = token[1:].lstrip(" -.")
        if not token:
            return None
        lead = token[0]
    if groups != (3, 3, 4) or not _NANP.fullmatch(digits):
        return None
    if lead == "(":
        return "1" + digits if token[4] == ")" and _seps_ok(token[5:], "- ") else None
    return "1" + digits if _seps_ok(token, _US_SEPS) else None


def _seps_ok(token: str, allowed: str | frozenset[str]) -> bool:
    return all(ch.isdigit() or ch in allowed for ch in token)


# -- canonical forms -----------------------------------------------------------------------------


def normalise(entity: str, value: str) -> str:
    """The canonical form a pseudonym is keyed on, so that the same datum written differently
    (case, spacing, separators, a country code) maps to the same token."""
    if entity == "email":
        return value.lower()
    if entity == "phone":
        digits = _NON_DIGIT.sub("", value)
        return phone_e164(value, digits) or digits
    if entity == "ip":
        try:
            return ipaddress.ip_address(value).compressed
        except ValueError:
            return value.lower()
    if entity in ("iban", "cn_id"):
        return value.replace(" ", "").replace("-", "").upper()
    return _NON_DIGIT.sub("", value)  # card, ssn
