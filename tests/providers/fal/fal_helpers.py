"""Helpers of the fal provider's tests: a scripted host, providers, statuses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from veolab.providers.fal import FalConfig, FalProvider
from veolab.request import VideoRequest

KEY = "fal-key-id:0123456789abcdefTEST"
QUEUE = "https://queue.fal.run"
REQ = f"{QUEUE}/fal-ai/veo3.1/requests/r1"
OUT = "https://v3.fal.media/files/fox/output.mp4"
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
    again and again; an exception is raised); every request is kept in ``seen``."""

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

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.seen if r.method == "POST"]


def queued(rid: str = "r1") -> httpx.Response:
    base = f"{QUEUE}/fal-ai/veo3.1/requests/{rid}"
    return httpx.Response(
        200,
        json={
            "status": "IN_QUEUE",
            "request_id": rid,
            "queue_position": 0,
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        },
        headers={"x-fal-request-id": rid},
    )


def status(state: str = "COMPLETED", **fields: Any) -> httpx.Response:
    body: dict[str, Any] = {"status": state, "request_id": "r1", "logs": None}
    if state == "IN_QUEUE":
        body["queue_position"] = 0
    if state == "COMPLETED":
        body["metrics"] = {"inference_time": 61.5}
    return httpx.Response(200 if state == "COMPLETED" else 202, json=body | fields)


def result(**fields: Any) -> httpx.Response:
    body = {"video": {"url": OUT, "content_type": "video/mp4"}, "seed": 7} | fields
    return httpx.Response(200, json=body)


def scripted(mp4: bytes, app: str = "fal-ai/veo3.1", **routes: list[Any]) -> Host:
    """A host that queues, completes and serves the video; ``routes`` replace the defaults
    (keys: submit, status, result, video)."""
    return Host(
        {
            ("POST", f"{QUEUE}/{app}"): routes.get("submit", [queued()]),
            ("GET", f"{REQ}/status"): routes.get("status", [status()]),
            ("GET", REQ): routes.get("result", [result()]),
            ("GET", OUT): routes.get("video", [httpx.Response(200, content=mp4)]),
        }
    )


def provider(transport=None, **settings) -> FalProvider:
    return FalProvider(FalConfig(**({"api_key": KEY} | FAST | settings)), transport=transport)


def run(prov: FalProvider, request: VideoRequest = FOX, **kw):
    async def go():
        try:
            return await prov.generate(request, **kw)
        finally:
            await prov.aclose()

    return asyncio.run(go())


def run_resume(prov: FalProvider, request_id: str, request: VideoRequest = FOX):
    async def go():
        try:
            return await prov.resume(request, request_id)
        finally:
            await prov.aclose()

    return asyncio.run(go())


_CLIPS: dict[str, bytes] = {}


def clip() -> bytes:
    """A real simulator MP4 (made once per test session)."""
    if "fox" not in _CLIPS:
        from veolab.providers.sim.provider import simulate

        _CLIPS["fox"] = simulate(FOX)[0]
    return _CLIPS["fox"]
