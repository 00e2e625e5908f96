"""Talking to a running ``veolab sim serve`` from Python: its ledger, its faults, a reset.

    from veolab.simserver import fetch_ledger, inject_faults
    inject_faults("http://127.0.0.1:8765", {"route": "submit", "status": 502, "count": 2})
    fetch_ledger("http://127.0.0.1:8765")["total_cost"]
    # -> 0.8

These talk only to the simulator's ``/_sim/*`` routes, which need no key.
"""

from __future__ import annotations

from typing import Any

import httpx

from veolab.simserver.config import Fault


def _url(base_url: str, path: str) -> str:
    return base_url.rstrip("/").removesuffix("/v1") + path


def fetch_ledger(base_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """``GET /_sim/ledger``: ``{"jobs": [...billed jobs...], "total_cost", "credits_remaining",
    "held", "attempts": [...every API call...], "counts": {route: calls}}``.

    Each job: request_id, request_hash (of the parameters as received), seed, cost, model,
    mode, time, time_utc, duration, resolution, aspect_ratio, generate_audio, prompt.
    """
    response = httpx.get(_url(base_url, "/_sim/ledger"), timeout=timeout)
    response.raise_for_status()
    return response.json()


def inject_faults(base_url: str, *faults: Fault | dict[str, Any], timeout: float = 10.0) -> list:
    """Queue scripted faults (see :class:`Fault`); returns the queue as the server holds it."""
    payload = [f.model_dump() if isinstance(f, Fault) else Fault(**f).model_dump() for f in faults]
    response = httpx.post(_url(base_url, "/_sim/faults"), json=payload, timeout=timeout)
    response.raise_for_status()
    return response.json()["faults"]


def clear_faults(base_url: str, timeout: float = 10.0) -> None:
    httpx.delete(_url(base_url, "/_sim/faults"), timeout=timeout).raise_for_status()


def reset_server(base_url: str, timeout: float = 10.0) -> None:
    """Forget jobs, ledger, faults and the rate window; credits return to the start value."""
    httpx.post(_url(base_url, "/_sim/reset"), timeout=timeout).raise_for_status()
