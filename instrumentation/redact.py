"""The one masking rule for values that can carry a credential: URLs, headers, settings and free text.

Every answer, log line and span attribute that holds a configured URL or header goes through here,
so a credential is masked the same way wherever it shows up:

- a URL (or an HTTP server span's ``url.query``) keeps scheme, host, port and path; user info becomes
  ``****@`` (it is there, not what it is); the value of a query parameter named like a credential
  (or with no name) becomes ``****``; with ``hide_path`` (a webhook, whose path is often its token)
  the path becomes ``/***``;
- a header value is ``****`` unless the header is one of a few that never carry one: vendors name
  their credential headers freely (``x-honeycomb-team``, ``dd-api-key``), so a list of secret names
  would miss some;
- a setting named like a credential is ``****``, a header-list setting is masked as headers, a URL
  setting as a URL;
- free text (an exception message, a receiver's answer) has every URL in it masked, and any
  ``Bearer``/``Basic`` credential.

Pure functions, imported by ``app`` as well: ``instrumentation`` imports nothing from ``app``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

MASK = "****"
# Substrings of a query parameter's or a setting's name that say its value is a credential.
_SECRET_WORDS = ("token", "key", "secret", "password", "passwd", "signature", "credential", "auth", "cookie",
                 "session")
_SECRET_PARTS = frozenset({"sig", "pwd", "pass", "code", "dsn"})  # whole name parts: "sig", not "signal"
# The only headers whose values are shown.
_PLAIN_HEADERS = frozenset({"accept", "accept-encoding", "content-encoding", "content-length", "content-type",
                            "user-agent", "x-webhook-event", "x-webhook-attempt", "x-webhook-delivery"})
# A URL in prose ends before trailing punctuation ("at http://host:9090: refused"): the colon is
# the sentence's, and kept in the URL it would hide the port.
_URL_IN_TEXT = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>()\[\]{},]+?(?=[:.;!?]*(?:[\s'\"<>()\[\]{},]|$))")
_AUTH_IN_TEXT = re.compile(r"\b(Bearer|Basic)\s+[^\s'\",]+", re.IGNORECASE)


def secret_name(name: str) -> bool:
    """A query parameter, header or setting whose name says its value is a credential."""
    lowered = name.lower()
    parts = set(re.split(r"[^a-z0-9]+", lowered))
    return any(word in lowered for word in _SECRET_WORDS) or bool(parts & _SECRET_PARTS)


def _hostport(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    try:
        port = parts.port
    except ValueError:  # "host:notaport" is shown as the host
        port = None
    return f"{host}:{port}" if port else host


def _query_item(item: str) -> str:
    name, eq, value = item.partition("=")
    if not eq:  # a bare value: nothing tells what it holds
        return MASK
    return f"{name}={MASK if secret_name(unquote(name)) else value}"


def redact_query(query: str) -> str:
    """A query string (no ``?``) with the value of each credential-named parameter, and each bare value, masked."""
    return "&".join(_query_item(item) for item in query.split("&") if item)


def redact_url(url: str, hide_path: bool = False) -> str:
    """The URL without its credentials (see the module docstring); "" stays ""."""
    if not url:
        return ""
    parts = urlsplit(url)
    shown = (f"{MASK}@" if "@" in parts.netloc else "") + _hostport(url)
    path = "/***" if hide_path and parts.path.strip("/") else parts.path
    query = redact_query(parts.query)
    fragment = f"#{MASK}" if parts.fragment else ""  # OAuth implicit flows put tokens there
    return f"{parts.scheme}://{shown}{path}" + (f"?{query}" if query else "") + fragment


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: value if name.lower() in _PLAIN_HEADERS else MASK for name, value in headers.items()}


def redact_header_list(value: str) -> str:
    """``name=value,name=value`` as the OTEL_EXPORTER_OTLP_*HEADERS variables hold them."""
    pairs = [item.partition("=") for item in value.split(",") if item.strip()]
    return ",".join(f"{name.strip()}={redact_headers({name.strip(): v})[name.strip()]}" if eq else MASK
                    for name, eq, v in pairs)


def redact_setting(name: str, value: object) -> object:
    """A setting or environment variable as an answer may show it."""
    if isinstance(value, list | tuple):
        return [redact_setting(name, item) for item in value]
    if not isinstance(value, str) or not value:
        return value
    lowered = name.lower()
    if lowered.endswith("headers"):
        return redact_header_list(value)
    if secret_name(lowered):
        return MASK
    if "://" in value:
        return redact_url(value, hide_path="webhook" in lowered)
    return value


def redact_text(text: str) -> str:
    """Free text (an error, an answer) with every URL and HTTP credential in it masked.

    Every log line comes through here (``RedactFilter``) and almost none holds either: each pattern is
    tried only when its literal part is in the text ("://"; "bearer" or "basic" in ASCII text, where
    ignoring case means ASCII case alone), ~0.3 µs instead of ~4 µs for a line with neither.
    """
    if "://" in text:
        text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text)
    if text.isascii():
        lowered = text.lower()
        if "bearer" not in lowered and "basic" not in lowered:
            return text
    return _AUTH_IN_TEXT.sub(lambda m: f"{m.group(1)} {MASK}", text)
