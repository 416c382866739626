"""TLS for probes: the two SSL contexts every probe shares, and the certificate's expiry.

The expiry comes from the DER bytes rather than `getpeercert()`, because without verification
`getpeercert()` returns an empty dict, and an unverified endpoint's certificate still expires.
"""

from __future__ import annotations

import calendar
import ssl
from pathlib import Path

_SEQUENCE = 0x30
_EXPLICIT_0 = 0xA0  # the optional [0] version in front of a TBSCertificate
_UTC_TIME = 0x17
_GENERALIZED_TIME = 0x18


def verifying_context(ca_file: str | Path | None = None) -> ssl.SSLContext:
    """The system's trust store, plus `ca_file` (PEM) for users with a private CA."""
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def insecure_context() -> ssl.SSLContext:
    """For `tls_verify = false`: encrypt, but accept any certificate for any name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def peer_der(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True)


def describe_ssl_error(exc: ssl.SSLError) -> str:
    """One line for a failed handshake, in OpenSSL's words: 'TLS: certificate has expired'."""
    if isinstance(exc, ssl.SSLCertVerificationError) and exc.verify_message:
        return f"TLS: {exc.verify_message}"
    if exc.reason:
        return f"TLS: {exc.reason.lower().replace('_', ' ')}"
    return f"TLS: {exc.strerror or type(exc).__name__}"


def not_after(der: bytes | None) -> float | None:
    """The certificate's notAfter as Unix seconds; None when absent or malformed.

    Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
    signature, issuer, validity SEQUENCE { notBefore, notAfter }, ... }, ... }
    """
    if not der:
        return None
    try:
        return _not_after(der)
    except (ValueError, IndexError):
        return None


def _not_after(der: bytes) -> float:
    _, start, _ = _expect(der, 0, _SEQUENCE)  # Certificate
    _, pos, _ = _expect(der, start, _SEQUENCE)  # TBSCertificate
    tag, _, end = _tlv(der, pos)
    if tag == _EXPLICIT_0:  # version
        pos = end
    for _skipped in ("serialNumber", "signature", "issuer"):
        _, _, pos = _tlv(der, pos)
    _, pos, _ = _expect(der, pos, _SEQUENCE)  # validity
    _, _, pos = _tlv(der, pos)  # notBefore
    tag, start, end = _tlv(der, pos)
    return _parse_time(tag, der[start:end].decode("ascii"))


def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the element at `pos`."""
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        size = length & 0x7F
        if not 0 < size <= 4 or pos + size > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos : pos + size], "big")
        pos += size
    if pos + length > len(der):
        raise ValueError("DER element overruns its container")
    return tag, pos, pos + length


def _expect(der: bytes, pos: int, tag: int) -> tuple[int, int, int]:
    element = _tlv(der, pos)
    if element[0] != tag:
        raise ValueError(f"expected DER tag {tag:#x}, got {element[0]:#x}")
    return element


def _parse_time(tag: int, text: str) -> float:
    """UTCTime YYMMDDHHMMSSZ (years 1950-2049) or GeneralizedTime YYYYMMDDHHMMSSZ (RFC 5280)."""
    if tag == _UTC_TIME and len(text) == 13:
        year = int(text[:2])
        year += 1900 if year >= 50 else 2000
        rest = text[2:]
    elif tag == _GENERALIZED_TIME and len(text) == 15:
        year, rest = int(text[:4]), text[4:]
    else:
        raise ValueError("unsupported certificate time")
    if rest[-1] != "Z" or not rest[:-1].isdigit():
        raise ValueError("certificate time is not in UTC")
    month, day, hour, minute, second = (int(rest[i : i + 2]) for i in range(0, 10, 2))
    return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
