"""Rendering for ``veolab sim serve``: off the event loop, in threads or in processes.

The simulator's renders are CPU-bound and mostly hold the GIL, so threads in the server
process render about one clip at a time whatever their number. ``render_workers > 0`` renders
in a process pool instead (one per core by default for ``veolab sim serve``), which is what
lets many jobs finish within their simulated latency. Identical (request, seed) renders give
identical bytes, so a few are kept in memory.

For benchmarks of a client, ``prerendered`` clips stand in for renders: a few clips per format,
rendered once (:func:`prerendered_request` says what they show), so the server's CPU goes to
the protocol only.

Each app owns one :class:`Renderer` (through its state); nothing here is module-global.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor

from veolab.providers.sim.provider import simulate
from veolab.request import VideoRequest
from veolab.simserver.config import SimServerConfig

#: what pre-rendered clips show, in turn (cheerful scenes that pass the default checks)
PRERENDERED_PROMPTS = (
    "a red fox running through snow",
    "a calm blue sea under a bright sky",
    "a speaker on a red stage, bright light",
    "a green forest on a sunny day, leaves moving in the wind",
)

#: a pre-rendered clip's key: resolution, aspect ratio, duration, audio, slot
ClipKey = tuple[str, str, int, bool, int]


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


class Renderer:
    """One server's renders: a small cache, the pre-rendered clips and, with ``workers > 0``,
    a process pool that :meth:`start` creates (the app's startup) and :meth:`close` shuts down
    (its shutdown). Outside start and close, renders run in threads.

    Everything but the renders themselves runs on the server's event loop.
    """

    def __init__(self, cache_size: int = 32, workers: int = 0, prerendered: int = 0) -> None:
        self.cache_size = cache_size
        self.workers = workers
        self.prerendered = prerendered
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        # the server's, not a client's: a reset of the server keeps them
        self._clips: dict[ClipKey, asyncio.Future[bytes]] = {}
        self._pool: ProcessPoolExecutor | None = None

    @classmethod
    def from_config(cls, config: SimServerConfig) -> Renderer:
        return cls(config.render_cache, config.render_workers, config.prerendered)

    def start(self) -> None:
        if self.workers > 0 and self._pool is None:
            # forkserver: workers never inherit the server's threads or sockets
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)

    def close(self) -> None:
        """Cancel the pre-rendered clips not made yet and stop the pool without waiting: its
        processes end after the render they are on (nobody waits for it any more), and the
        interpreter joins them before it exits."""
        for clip in self._clips.values():
            clip.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def video_for(self, request: VideoRequest, request_hash: str) -> bytes:
        """The video of a job: its own render, or with ``prerendered`` a shared clip of its
        format chosen by its request hash (the same request always gets the same clip)."""
        if not self.prerendered:
            return await self.render(request)
        slot = int(request_hash[:15], 16) % self.prerendered
        r = request
        key: ClipKey = (r.resolution, r.aspect_ratio, r.duration, r.generate_audio, slot)
        clip = self._clips.get(key)
        if clip is None or (clip.done() and (clip.cancelled() or clip.exception() is not None)):
            clip = asyncio.ensure_future(self.render(prerendered_request(*key), cache=False))
            self._clips[key] = clip
        # shielded: a job cancelled meanwhile must not cancel the render others wait for
        return await asyncio.shield(clip)

    async def render(self, request: VideoRequest, *, cache: bool = True) -> bytes:
        """The simulator's clip for ``request`` (which carries its seed), off the event loop."""
        key = request.canonical_json()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        if self._pool is not None:
            loop = asyncio.get_running_loop()
            video = await loop.run_in_executor(self._pool, _render_bytes, request)
        else:
            video = await asyncio.to_thread(_render_bytes, request)
        if cache and self.cache_size:
            self._cache[key] = video
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return video
