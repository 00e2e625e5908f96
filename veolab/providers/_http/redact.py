"""Nothing secret leaves veolab: no API key in a message, no signed URL in metadata."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

SECRET_KEYS = ("api_key", "x-api-key", "authorization", "token")


def scrub(text: str, secret: str | None) -> str:
    """``text`` with ``secret`` (the API key) replaced by ``***``."""
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return text


def redact_url(url: str) -> str:
    """A URL without its query string and credentials (signed download links hold tokens)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def redact_json(data: Any, secret: str | None, depth: int = 0) -> Any:
    """A copy of a JSON value fit for metadata: URLs without queries, long blobs summarised."""
    if depth > 6:
        return "…"
    if isinstance(data, dict):
        return {
            str(k): redact_json(v, secret, depth + 1)
            for k, v in data.items()
            if str(k).lower() not in SECRET_KEYS
        }
    if isinstance(data, list):
        return [redact_json(v, secret, depth + 1) for v in data[:20]]
    if isinstance(data, str):
        if data.startswith(("http://", "https://")):
            return redact_url(data)
        if len(data) > 256:
            return f"<{len(data)} characters>"
        return scrub(data, secret)
    return data
