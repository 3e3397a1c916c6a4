"""Validation of the text and amounts that people type: labels, addresses, amounts.

Look-alike characters are how phishing works: a Cyrillic ``а`` in a label, a full-width digit in
an address. Addresses must be plain ASCII after NFKC normalization, and we refuse (not silently
fix) any input whose NFKC form differs, so the string a person sees is the string we act on.
Labels are normalized and then must be ASCII too; invisible and bidirectional control characters
are refused outright.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from optex.core import INT128_MAX, InvalidInput
from optex.crypto._reasons import SecurityReason

MAX_LABEL_LENGTH: Final = 64
MAX_ADDRESS_LENGTH: Final = 128
MIN_ADDRESS_LENGTH: Final = 8

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]*")
_ADDRESS = re.compile(r"[A-Za-z0-9][A-Za-z0-9:_\-]*")
_KEY_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]*")

# Format (Cf) characters include zero-width joiners and the bidi overrides used in
# "Trojan Source" style spoofing; control (Cc) characters include NUL and newlines.
_INVISIBLE_CATEGORIES: Final = frozenset({"Cf", "Cc", "Co", "Cs", "Cn", "Zl", "Zp"})


def _refuse_invisible(text: str, what: str, reason: SecurityReason) -> None:
    for ch in text:
        if unicodedata.category(ch) in _INVISIBLE_CATEGORIES:
            raise InvalidInput(
                reason, f"{what} contains the invisible character U+{ord(ch):04X}", field=what
            )


def normalize_label(label: str) -> str:
    """A human label in canonical form: NFKC, single spaces, ASCII letters, digits, ``_.-``.

    Full-width and other compatibility forms are folded by NFKC (``Ｍａｉｎ`` becomes
    ``Main``); anything that is still not ASCII afterwards, such as a Cyrillic look-alike, is
    refused, as are invisible and control characters.
    """
    if not isinstance(label, str):
        raise InvalidInput(SecurityReason.INVALID_LABEL, "a label is text")
    _refuse_invisible(label, "label", SecurityReason.CONFUSABLE_LABEL)
    text = " ".join(unicodedata.normalize("NFKC", label).split())
    if not text.isascii():
        bad = next(ch for ch in text if not ch.isascii())
        raise InvalidInput(
            SecurityReason.CONFUSABLE_LABEL,
            f"label {text!r} contains {unicodedata.name(bad, 'an unnamed character')}, "
            "which can look like an ASCII letter; use plain ASCII",
            field="label",
        )
    if not 0 < len(text) <= MAX_LABEL_LENGTH or not _LABEL.fullmatch(text):
        raise InvalidInput(
            SecurityReason.INVALID_LABEL,
            f"a label is 1-{MAX_LABEL_LENGTH} ASCII letters, digits, spaces and '_.-', "
            "starting with a letter or digit",
            field="label",
        )
    return text


def key_name(label: str) -> str:
    """The file-safe name of a key label: normalized, lower-case, spaces as ``-``.

    Two labels that differ only in case or spacing get the same name, so they cannot coexist
    and be confused; the name can never contain a path separator.
    """
    name = normalize_label(label).lower().replace(" ", "-")
    if not _KEY_NAME.fullmatch(name) or name.startswith("."):
        raise InvalidInput(SecurityReason.INVALID_LABEL, f"{label!r} cannot name a key")
    return name


def normalize_address(address: str) -> str:
    """A withdrawal address, which must already be NFKC-normalized plain ASCII.

    Unlike labels, addresses are never rewritten: an address whose NFKC form differs from what
    was typed (full-width digits, ligatures) or that contains any non-ASCII character is refused,
    because a silently "fixed" address is not the one the person checked.
    """
    if not isinstance(address, str):
        raise InvalidInput(SecurityReason.INVALID_ADDRESS, "an address is text")
    _refuse_invisible(address, "address", SecurityReason.INVALID_ADDRESS)
    if unicodedata.normalize("NFKC", address) != address or not address.isascii():
        raise InvalidInput(
            SecurityReason.INVALID_ADDRESS,
            "the address contains non-ASCII or look-alike characters",
            field="address",
        )
    if not MIN_ADDRESS_LENGTH <= len(address) <= MAX_ADDRESS_LENGTH or not _ADDRESS.fullmatch(
        address
    ):
        raise InvalidInput(
            SecurityReason.INVALID_ADDRESS,
            f"an address is {MIN_ADDRESS_LENGTH}-{MAX_ADDRESS_LENGTH} ASCII letters, digits "
            "and ':_-'",
            field="address",
        )
    return address


def check_amount(amount: object, field: str = "amount") -> int:
    """A strictly positive integer amount in base units that a 128-bit ledger field can hold.

    ``bool`` is refused although it is an ``int`` subclass; floats, decimals and strings are
    refused so that no rounding happens on the way in.
    """
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(
            SecurityReason.INVALID_AMOUNT,
            f"{field} must be an integer number of base units, not {type(amount).__name__}",
            field=field,
        )
    if amount <= 0:
        raise InvalidInput(SecurityReason.INVALID_AMOUNT, f"{field} must be positive", field=field)
    if amount > INT128_MAX:
        raise InvalidInput(SecurityReason.INVALID_AMOUNT, f"{field} is too large", field=field)
    return amount
