"""Encode a simulated clip to MP4 bytes shaped like real Veo 3.1 output.

H.264 High, yuv420p, 24/1 fps constant (or the request's fps), exactly fps x duration frames at
Veo's geometry, one
keyframe; AAC-LC 48 kHz stereo of the same duration when audio is requested, no audio stream
otherwise; moov at the end (as Veo writes it). Same request and seed, same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from veolab.images import ImageRef, decode_image
from veolab.providers.sim.cues import read_scene
from veolab.providers.sim.render import SAMPLE_RATE, FramePainter, _rng, audio_blocks
from veolab.request import VideoRequest

WORK_DIVISOR = 4  # frames are painted at a quarter of the output size
AAC_FRAME = 1024
TICKS_PER_FRAME = 512  # the video time base is 1/(fps x 512): 1/12288 at 24 fps, as Veo's


class SimDefects(BaseModel):
    """Seeded defects for testing the checks; all off by default."""

    model_config = ConfigDict(extra="forbid")

    black_seconds: float = Field(default=0.0, ge=0)  # a black segment of this length
    frozen_seconds: float = Field(default=0.0, ge=0)  # a frozen segment of this length
    short_seconds: float = Field(default=0.0, ge=0)  # the clip ends this much early
    drop_audio: bool = False  # no audio track even when audio was requested

    def any(self) -> bool:
        return bool(
            self.black_seconds or self.frozen_seconds or self.short_seconds or self.drop_audio
        )


def _image_rgb(ref: ImageRef | None, what: str) -> np.ndarray | None:
    if ref is None:
        return None
    if ref.data is not None:
        return decode_image(ref.data, what)
    # A URL cannot be fetched offline: stand in a flat image whose colour follows the URL.
    rng = _rng(0, ref.value)
    colour = rng.integers(30, 225, size=3).astype(np.uint8)
    return np.broadcast_to(colour, (360, 640, 3)).copy()


def _tint(
    palette: list[tuple[int, int, int]], refs: Sequence[ImageRef]
) -> list[tuple[int, int, int]]:
    """Pull the palette 60% of the way towards the reference images' mean colour."""
    means = []
    for ref in refs:
        rgb = _image_rgb(ref, "reference image")
        assert rgb is not None
        means.append(rgb.reshape(-1, 3).mean(axis=0))
    if not means:
        return palette
    m = np.mean(means, axis=0)
    return [
        (int(0.4 * r + 0.6 * m[0]), int(0.4 * g + 0.6 * m[1]), int(0.4 * b + 0.6 * m[2]))
        for r, g, b in palette
    ]


def _defect_spans(defects: SimDefects, seed: int, n: int, fps: int) -> tuple[range, range]:
    rng = _rng(seed, "defects")
    black = frozen = range(0)
    if defects.black_seconds:
        length = min(n - 2, round(defects.black_seconds * fps))
        start = int(rng.integers(1, max(2, n - length)))
        black = range(start, start + length)
    if defects.frozen_seconds:
        length = min(n - 2, round(defects.frozen_seconds * fps))
        start = int(rng.integers(1, max(2, n - length)))
        frozen = range(start, start + length)
    return black, frozen


def render_mp4(request: VideoRequest, seed: int, defects: SimDefects | None = None) -> bytes:
    """The whole simulated clip for ``request`` with ``seed``, as MP4 bytes."""
    defects = defects or SimDefects()
    geo = request.geometry()
    fps = geo.fps
    samples_per_frame = SAMPLE_RATE // fps  # 2000 at 24 fps
    n_frames = geo.frames
    if defects.short_seconds:
        n_frames = max(fps // 2, n_frames - round(defects.short_seconds * fps))
    spec = read_scene(request.prompt, request.negative_prompt, seed)
    spec.palette = _tint(spec.palette, request.reference_images)
    work_w, work_h = geo.width // WORK_DIVISOR, geo.height // WORK_DIVISOR
    painter = FramePainter(
        spec,
        seed,
        work_w,
        work_h,
        geo.frames,
        first=_image_rgb(request.image, "image"),
        last=_image_rgb(request.last_frame, "last_frame"),
    )
    black, frozen = _defect_spans(defects, seed, n_frames, fps)
    with_audio = request.generate_audio and not defects.drop_audio

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        # (no "encoder" tag of our own: libavformat always overwrites it with its own name)
        video = out.add_stream(
            "libx264",
            rate=fps,
            options={
                # ultrafast with the 8x8 transform, CABAC and deblocking back on: High profile
                # and a realistic decode cost (as Veo writes), cheaper than superfast to encode;
                # one keyframe, as Veo's clips have
                "preset": "ultrafast",
                "profile": "high",
                "crf": "23",
                "threads": "1",
                "x264-params": (
                    f"keyint={n_frames + 1}:min-keyint={n_frames + 1}:scenecut=0"
                    ":8x8dct=1:cabac=1:deblock=0,0"
                ),
            },
        )
        video.width, video.height, video.pix_fmt = geo.width, geo.height, "yuv420p"
        video.time_base = Fraction(1, fps * TICKS_PER_FRAME)
        audio = None
        if with_audio:
            audio = out.add_stream("aac", rate=SAMPLE_RATE, layout="stereo")
            audio_iter = audio_blocks(spec, seed, n_frames * samples_per_frame, AAC_FRAME)
            pending = np.zeros((2, 0), dtype=np.float32)
            audio_pts = 0
        held = None
        for i in range(n_frames):
            if i in frozen and held is not None:
                rgb = held
            elif i in black:
                rgb = np.zeros((work_h, work_w, 3), dtype=np.uint8)
            else:
                rgb = painter.paint(i)
            held = rgb
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
                width=geo.width, height=geo.height, format="yuv420p", interpolation="BILINEAR"
            )
            frame.pts = i * TICKS_PER_FRAME
            frame.time_base = Fraction(1, fps * TICKS_PER_FRAME)
            out.mux(video.encode(frame))
            if audio is not None:
                target = (i + 1) * samples_per_frame
                while audio_pts + pending.shape[1] < target:
                    pending = np.concatenate([pending, next(audio_iter)], axis=1)
                while pending.shape[1] >= AAC_FRAME or (i == n_frames - 1 and pending.shape[1]):
                    chunk = np.ascontiguousarray(pending[:, :AAC_FRAME])
                    pending = pending[:, AAC_FRAME:]
                    af = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    af.sample_rate = SAMPLE_RATE
                    af.pts = audio_pts
                    audio_pts += chunk.shape[1]
                    out.mux(audio.encode(af))
        out.mux(video.encode(None))
        if audio is not None:
            out.mux(audio.encode(None))
    return buf.getvalue()
