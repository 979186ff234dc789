"""Keep credentials out of anything a person or a log can read.

Camera URLs often carry a user name and password (``rtsp://user:secret@host/stream``) or a token in
the query string. Only :func:`redact_url`'s output is ever logged, shown or published; error texts
from libraries that may quote the URL go through :func:`scrub` first.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_SECRET_QUERY_KEYS = re.compile(r"pass|pwd|pw\b|^pw|token|secret|key|auth|sig|cred", re.IGNORECASE)
# name=value secrets wherever they sit: query strings, ";password=" path parameters, DSN-style text
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)((?:^|[;?&\s,])(?:[a-z_]*(?:password|passwd|pass|pwd|pw|token|secret|credentials?|api[_-]?key|auth))=)"
    r"[^;&#\s,]*"
)


def redact_url(url: str) -> str:
    """``url`` with its password (and secret-looking query values) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or not parts.netloc:
        return _SECRET_ASSIGNMENT.sub(rf"\1{MASK}", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_QUERY_KEYS.search(k) else v) for k, v in pairs], safe="*")
    return _SECRET_ASSIGNMENT.sub(rf"\1{MASK}", urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


_USERINFO = re.compile(r"(:/{1,2}[^/@:\s]*:)[^@\s/]+@")  # "scheme://user:secret@", also once mangled


def redact_text(text: str) -> str:
    """``text`` — a URL, a DSN, any setting's value — with every credential in it masked: a URL's user
    information and secret query values, and ``password=…``-style assignments anywhere."""
    return _USERINFO.sub(rf"\1{MASK}@", _SECRET_ASSIGNMENT.sub(rf"\1{MASK}", redact_url(text)))


def secrets_of(url: str) -> list[str]:
    """The secret parts of ``url`` (password, user info, secret query values) that must never be shown."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        found.append(userinfo)
        if ":" in userinfo:
            found.append(userinfo.split(":", 1)[1])
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_QUERY_KEYS.search(key) and value:
            found.append(value)
    return [secret for secret in found if secret]


def scrub(text: str, url: str) -> str:
    """``text`` (e.g. a library's error message) with ``url`` and its secrets masked."""
    text = text.replace(url, redact_url(url))
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: object) -> object:
    """A CSV cell that a spreadsheet shows as text, never runs: text starting like a formula gets a
    leading apostrophe (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
