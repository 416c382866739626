"""Host names as the resolver takes them: DNS's lengths, IDNA, and no invisible characters.

A name that passes here is one the system resolver, asyncio and aiohttp's URL parser all accept,
so a check never fails on its own host before it has looked anything up; whether the host exists
is the probe's to find out. Only the standard library: its IDNA codec (IDNA 2003) is the one the
socket module encodes a name with.
"""

from __future__ import annotations

import re
import stringprep
import unicodedata
from encodings import idna

from monitor.config.values import quote, show

MAX_LABEL = 63  # octets in one label of a DNS name, RFC 1035
MAX_NAME = 253  # octets in a whole name, dots included, without the root's trailing dot

HOST_CHARS = 'a host name holds letters, digits, "-", "_" and dots, or is an IP address'
EMPTY_LABEL = "has an empty label (a dot at the start or two dots in a row); remove the extra dot"

_LABEL = re.compile(r"[A-Za-z0-9_-]+")
# Letters that show as nothing, which IDNA keeps and aiohttp's URL parser refuses.
_BLANK_LETTERS = frozenset("\u115f\u1160\u17b4\u17b5\u3164\uffa0")
# Format (zero-width, bidi), surrogate, private-use and unassigned characters.
_UNSEEN = frozenset(("Cf", "Cs", "Co", "Cn"))


def unseen_character(text: str) -> str | None:
    """The first control or invisible character in `text`, described like "a control
    character (U+0000)"; None when there is none."""
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc":
            return f"a control character ({codepoint(char)})"
        if category in ("Zs", "Zl", "Zp"):
            return f"a space ({codepoint(char)})"
        if category in _UNSEEN or stringprep.in_table_b1(char) or char in _BLANK_LETTERS:
            return f"an invisible character ({codepoint(char)})"
    return None


def codepoint(char: str) -> str:
    return f"U+{ord(char):04X}"


def name_problem(host: str, subject: str = "") -> str | None:
    """What keeps `host` from being looked up, as a sentence; None if nothing.

    The sentence starts with `subject`: "host " in a URL's message, "" where the key says it.
    `host` is a name or an IPv4 address (digits and dots are a name here too); IPv6 is the
    caller's, since only a URL puts it in brackets.
    """
    named = f"{subject}{show(host)}"
    if unseen := unseen_character(host):
        return f"{named} contains {unseen}; remove it"
    name = host[:-1] if host.endswith(".") and host != "." else host  # "example.com." is fine
    length = -1
    for label in name.split("."):
        if not label:
            return f"{named} {EMPTY_LABEL}"
        if char := _bad_character(label):
            return f"{named} cannot contain {quote(char)}; {HOST_CHARS}"
        try:
            encoded = label if label.isascii() else _punycode(label)
        except UnicodeError as exc:
            return (
                f"{named} is not a valid internationalized name ({exc}); fix label "
                f"{quote(label)} or write it in punycode (xn--...)"
            )
        if len(encoded) > MAX_LABEL:
            spelled = "" if label.isascii() else " in punycode"
            return (
                f"{subject}label {show(label)} is {len(encoded)} characters long{spelled}; DNS "
                f"allows at most {MAX_LABEL} per label"
            )
        length += len(encoded) + 1
    if length > MAX_NAME:
        return f"{subject}{show(host)} is {length} characters long; DNS allows at most {MAX_NAME}"
    return None


def _bad_character(label: str) -> str | None:
    """The first character of `label` that is, or IDNA maps to, anything but [A-Za-z0-9_-].

    IDNA folds some look-alikes into ASCII punctuation ("／" becomes "/"), so each
    character is judged as IDNA would send it.
    """
    for char in label:
        if char.isascii():
            sent = char
        else:
            try:
                sent = idna.nameprep(char)
            except UnicodeError:
                continue  # said by _punycode, for the whole label
        if any(c.isascii() and not _LABEL.fullmatch(c) for c in sent):
            return char
    return None


def _punycode(label: str) -> str:
    """The label as it goes on the wire, like IDNA 2003's ToASCII without its length check."""
    prepared = idna.nameprep(label)
    if prepared.isascii():
        return prepared
    return "xn--" + prepared.encode("punycode").decode("ascii")
