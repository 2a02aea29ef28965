"""What the dashboard accepts from a request before acting on it: redirect targets, bodies, file names.

Pure functions over text and a file object, so they carry over unchanged to any HTTP framework.
"""
from __future__ import annotations

import re
from urllib.parse import quote

FORM_LIMIT = 64 * 1024  # a login or logout form is a few hundred bytes
_PRINTABLE_ASCII = re.compile(r"[!-~]*")  # no space, no control character, nothing outside ASCII
_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII digits only: str.isdigit() also accepts '２' and '²'


def safe_redirect(target: str | None, default: str = "/") -> str:
    """``target`` if it is an absolute path on this site, else ``default``.

    Refused: other hosts (``https://evil``, ``//evil``), backslashes that browsers read as slashes
    (``/\\evil``), and any control character or space: browsers drop tabs and line breaks from URLs,
    so ``/<TAB>/evil`` becomes ``//evil``, and CR/LF in a Location header would start new headers.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or not _PRINTABLE_ASCII.fullmatch(target):
        return default
    return target


class BodyError(Exception):
    """A request body the server refuses; ``status`` is the HTTP answer (400, 411, 413, 408)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def body_length(headers, limit: int = FORM_LIMIT) -> int:
    """The announced body size, checked before a byte of it is read."""
    if headers.get("Transfer-Encoding"):
        raise BodyError(411, "send the form with a Content-Length, not Transfer-Encoding")
    values = headers.get_all("Content-Length") or []
    if not values:
        return 0
    if len(set(v.strip() for v in values)) > 1 or not _DIGITS.fullmatch(values[0].strip()):
        raise BodyError(400, "Content-Length must be one non-negative whole number")
    length = int(values[0])
    if length > limit:
        raise BodyError(413, f"the body is {length} bytes; at most {limit} are accepted")
    return length


def read_body(rfile, headers, limit: int = FORM_LIMIT) -> bytes:
    """Exactly Content-Length bytes (at most ``limit``), or BodyError; never reads until the peer closes.
    ``rfile`` raises TimeoutError when the body is too slow (the server's socket time limits)."""
    length = body_length(headers, limit)
    try:
        body = rfile.read(length)
    except TimeoutError:
        raise BodyError(408, f"the {length}-byte body did not arrive in time") from None
    if len(body) < length:
        raise BodyError(400, f"the connection closed after {len(body)} of {length} body bytes")
    return body


def attachment(filename: str) -> str:
    """A Content-Disposition value for any file name: an ASCII fallback and the exact UTF-8 name.

    Header values are Latin-1 on the wire: a name built from ``?period=２０２６-10`` must not break the answer.
    """
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename) or "download"
    exact = quote(filename, safe="")
    if exact == filename:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


def header_safe(value: str) -> bool:
    """No character that could end a header line or fail to encode."""
    return all(" " <= c <= "~" or c == "\t" for c in value)


def same_token(expected: str | None, sent: str | None) -> bool:
    """A form token compared in constant time; a missing one never matches."""
    import hmac

    return bool(expected and sent) and hmac.compare_digest(expected.encode("utf-8"), sent.encode("utf-8"))
