"""Rendering for ``veolab sim serve``: off the event loop, in threads or in processes.

The simulator's renders are CPU-bound and mostly hold the GIL, so threads in the server
process render about one clip at a time whatever their number. ``render_workers > 0`` renders
in a process pool instead (one per core by default for ``veolab sim serve``), which is what
lets many jobs finish within their simulated latency. Identical (request, seed) renders give
identical bytes, so a few are kept in memory.

For benchmarks of a client, ``prerendered`` clips stand in for renders: a few clips per format,
rendered once (:func:`prerendered_request` says what they show), so the server's CPU goes to
the protocol only.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor

from veolab.providers.sim.provider import simulate
from veolab.request import VideoRequest

_RENDERS: OrderedDict[str, bytes] = OrderedDict()
_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def _pool(workers: int) -> ProcessPoolExecutor:
    """The process-wide pool (created on first use; a different size replaces it)."""
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or _POOL_SIZE != workers:
            if _POOL is not None:
                _POOL.shutdown(wait=False, cancel_futures=True)
            # forkserver: workers never inherit the server's threads or sockets
            context = multiprocessing.get_context("forkserver")
            _POOL, _POOL_SIZE = ProcessPoolExecutor(workers, mp_context=context), workers
        return _POOL


def shutdown_render_pool() -> None:
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


#: what pre-rendered clips show, in turn (cheerful scenes that pass the default checks)
PRERENDERED_PROMPTS = (
    "a red fox running through snow",
    "a calm blue sea under a bright sky",
    "a speaker on a red stage, bright light",
    "a green forest on a sunny day, leaves moving in the wind",
)


def prerendered_request(
    resolution: str, aspect_ratio: str, duration: int, generate_audio: bool, slot: int
) -> VideoRequest:
    """The request whose render is pre-rendered clip number ``slot`` of a format."""
    return VideoRequest.model_validate(
        {
            "prompt": PRERENDERED_PROMPTS[slot % len(PRERENDERED_PROMPTS)],
            "resolution": resolution,
            "aspect_ratio": aspect_ratio,
            "duration": duration,
            "generate_audio": generate_audio,
            "seed": slot + 1,
            "veo_rules": False,  # the format was accepted already, under the server's rules
        }
    )


def _render_bytes(request: VideoRequest) -> bytes:
    return simulate(request)[0]


async def render(request: VideoRequest, cache_size: int, workers: int = 0) -> bytes:
    """The simulator's clip for ``request`` (which carries its seed), off the event loop."""
    key = request.canonical_json()
    with _LOCK:
        if key in _RENDERS:
            _RENDERS.move_to_end(key)
            return _RENDERS[key]
    if workers > 0:
        video = await asyncio.get_running_loop().run_in_executor(
            _pool(workers), _render_bytes, request
        )
    else:
        video = await asyncio.to_thread(_render_bytes, request)
    if cache_size:
        with _LOCK:
            _RENDERS[key] = video
            while len(_RENDERS) > cache_size:
                _RENDERS.popitem(last=False)
    return video
