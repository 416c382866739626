"""Network failures every protocol shares, turned into an error kind and one line of text.

Messages name the host at most: never a URL (it may carry credentials) nor a header value.
"""

from __future__ import annotations

import errno
import re
import socket
import ssl

from monitor.model import ErrorKind
from monitor.probes.tls import describe_ssl_error

_RESET = (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
_RESET_ERRNOS = {errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE}
# asyncio folds the failures of a host's several addresses into one OSError without an errno.
_ERRNO_IN_TEXT = re.compile(r"\[Errno (\d+)\]")


def describe_os_error(exc: OSError, host: str, *, connecting: bool) -> tuple[ErrorKind, str]:
    """`connecting` tells apart a peer that would not connect from one that broke off later."""
    if isinstance(exc, socket.gaierror):
        return ErrorKind.DNS, f'cannot resolve host "{host}"'
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.TLS, describe_ssl_error(exc)
    numbers = _errnos(exc)
    if isinstance(exc, ConnectionRefusedError) or numbers == {errno.ECONNREFUSED}:
        return ErrorKind.REFUSED, "connection refused"
    if isinstance(exc, _RESET) or (numbers and numbers <= _RESET_ERRNOS):
        return ErrorKind.RESET, "connection reset by peer"
    reason = exc.strerror or str(exc) or type(exc).__name__
    if connecting:
        return ErrorKind.REFUSED, f"cannot connect: {reason}"
    return ErrorKind.RESET, f"connection failed: {reason}"


def _errnos(exc: OSError) -> set[int]:
    if exc.errno is not None:
        return {exc.errno}
    return {int(number) for number in _ERRNO_IN_TEXT.findall(str(exc))}
