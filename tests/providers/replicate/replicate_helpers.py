"""Helpers of the replicate provider's tests: a scripted host, providers, predictions."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from veolab.providers.replicate import ReplicateConfig, ReplicateProvider
from veolab.request import VideoRequest

KEY = "r8_0123456789abcdefTEST"
API = "https://api.replicate.com"
FOX = VideoRequest(
    prompt="a red fox running through snow",
    duration=4,
    resolution="720p",
    generate_audio=False,
    seed=7,
)
FAST = dict(
    poll_interval=0.01,
    poll_max_interval=0.05,
    retry_backoff=0.0,
    max_retries=2,
    connect_timeout=2,
    read_timeout=10,
)


class Host:
    """A scripted host: ``routes[(method, url)]`` -> responses served in order (the last one
    again and again); every request is kept in ``seen``."""

    def __init__(self, routes: dict[tuple[str, str], list[Any]]):
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        queue = self.routes[(request.method, str(request.url).split("?")[0])]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def bodies(self, method: str = "POST") -> list[Any]:
        return [json.loads(r.content) for r in self.seen if r.method == method]


def provider(transport=None, **settings) -> ReplicateProvider:
    cfg = ReplicateConfig(**({"api_key": KEY} | FAST | settings))
    return ReplicateProvider(cfg, transport=transport)


def run(prov: ReplicateProvider, request: VideoRequest = FOX, **kw):
    async def go():
        try:
            return await prov.generate(request, **kw)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def run_resume(prov: ReplicateProvider, prediction_id: str, request: VideoRequest = FOX):
    async def go():
        try:
            return await prov.resume(request, prediction_id)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def prediction(pid: str = "p1", status: str = "succeeded", **fields: Any) -> dict[str, Any]:
    """A prediction as Replicate's API answers it."""
    out = {
        "id": pid,
        "model": "google/veo-3.1",
        "version": "hidden",
        "input": {},
        "logs": "",
        "output": f"https://replicate.delivery/xezq/{pid}/tmp.mp4"
        if status == "succeeded"
        else None,
        "data_removed": False,
        "error": None,
        "status": status,
        "created_at": "2026-11-30T10:00:00.000Z",
        "started_at": "2026-11-30T10:00:02.000Z" if status != "starting" else None,
        "completed_at": "2026-11-30T10:01:02.000Z" if status == "succeeded" else None,
        "urls": {"get": f"{API}/v1/predictions/{pid}"},
    }
    return out | fields


_CLIPS: dict[str, bytes] = {}


def clip() -> bytes:
    """A real simulator MP4 (made once per test session)."""
    if "fox" not in _CLIPS:
        from veolab.providers.sim.provider import simulate

        _CLIPS["fox"] = simulate(FOX)[0]
    return _CLIPS["fox"]
