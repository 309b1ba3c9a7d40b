"""Normalization and SHA-256 hashing of customer identifiers, per the API's rules (§3.3).

Every ``normalize_*`` function returns the normalized string, or ``None`` when the value
cannot be used (it is then dropped and counted by the caller, never sent). ``hash_*``
functions return the lowercase hex SHA-256 of the normalized value; a value that already is
a 64-hex SHA-256 digest (any case) passes through lowercased and is never hashed again.
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from hashlib import sha256
from socket import AF_INET, inet_pton

_HEX = frozenset("0123456789abcdefABCDEF")
_ASCII_PUNCTUATION = str.maketrans("", "", string.punctuation)
_WHITESPACE_RE = re.compile(r"\s")
_POSTAL_CODE_RE = re.compile(r"[A-Za-z0-9 -]{1,32}")
_ADVERTISING_ID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_ZERO_ADVERTISING_ID = "00000000-0000-0000-0000-000000000000"
MAX_GEO_LENGTH = 128


def is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and _HEX.issuperset(value)


def sha256_hex(normalized: str) -> str:
    return sha256(normalized.encode()).hexdigest()


def normalize_email(value: str) -> str | None:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or "@" in domain or domain.startswith("."):
        return None
    # printable text without a space holds no whitespace: the regex only runs for the rest
    if (" " in email or not email.isprintable()) and _WHITESPACE_RE.search(email):
        return None
    return email


def normalize_phone(value: str) -> str | None:
    """Keep the country code; drop whitespace, ``().-``, a leading ``+`` and leading zeros; 8-15 digits."""
    # chained replace: str.translate with deletions is several times slower on short strings
    phone = "".join(value.split()).replace("(", "").replace(")", "").replace(".", "").replace("-", "")
    if phone.startswith("+"):
        phone = phone[1:]
    phone = phone.lstrip("0")
    if 8 <= len(phone) <= 15 and phone.isascii() and phone.isdigit():
        return phone
    return None


def normalize_external_id(value: str) -> str | None:
    """Trim only; case and every other character are preserved."""
    return value.strip() or None


def normalize_name(value: str) -> str | None:
    """Lowercase; remove all whitespace and ASCII punctuation; keep non-ASCII letters as they are.

    Non-ASCII text is then put in Unicode NFC form, so a decomposed ``é`` hashes like the composed one.
    """
    name = "".join(value.lower().split()).translate(_ASCII_PUNCTUATION)
    if not name.isascii():
        name = unicodedata.normalize("NFC", name)
    return name or None


def _hasher(normalize):
    def hash_value(value: str) -> str | None:
        if len(value) >= 64:
            digest = value.strip() if len(value) > 64 else value
            if len(digest) == 64 and _HEX.issuperset(digest):  # is_sha256_hex, inlined on the hot path
                return digest.lower()
        normalized = normalize(value)
        if normalized is None:
            return None
        try:
            return sha256(normalized.encode()).hexdigest()
        except UnicodeEncodeError:  # lone surrogates (text decoded with surrogateescape)
            return None

    hash_value.__name__ = "hash_" + normalize.__name__.removeprefix("normalize_")
    hash_value.__doc__ = f"SHA-256 of :func:`{normalize.__name__}`, or a given digest lowercased."
    return hash_value


hash_email = _hasher(normalize_email)
hash_phone = _hasher(normalize_phone)
hash_external_id = _hasher(normalize_external_id)
hash_name = _hasher(normalize_name)


def normalize_city(value: str) -> str | None:
    """Cities and regions: trimmed and capped at 128 characters, as the API does itself."""
    return value.strip()[:MAX_GEO_LENGTH].rstrip() or None


def normalize_postal_code(value: str) -> str | None:
    code = value.strip()
    return code if _POSTAL_CODE_RE.fullmatch(code) else None


def normalize_country(value: str) -> str | None:
    code = value.strip()
    return code.upper() if len(code) == 2 and code.isascii() and code.isalpha() else None


def normalize_ip_address(value: str) -> str | None:
    """A valid IPv4 address as given (trimmed), or an IPv6 address in its compressed form."""
    address = value.strip()
    try:
        inet_pton(AF_INET, address)  # C-speed check for the common case
    except (OSError, ValueError):
        try:
            return str(ipaddress.IPv6Address(address))
        except ValueError:
            return None
    return address


def normalize_user_agent(value: str) -> str | None:
    return value.strip() or None


def normalize_opaque(value: str) -> str | None:
    """``obref`` and other opaque references: passed unchanged, but never blank."""
    return value if value.strip() else None


def normalize_advertising_id(value: str) -> str | None:
    """Android advertising id (GAID): UUID form; the all-zero id means "none" and is dropped."""
    gaid = value.strip().lower()
    if not _ADVERTISING_ID_RE.fullmatch(gaid) or gaid == _ZERO_ADVERTISING_ID:
        return None
    return gaid
