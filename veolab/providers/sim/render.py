"""Draw the simulator's frames and audio from a SceneSpec.

Frames are drawn at a quarter of the output size (cheap) and scaled up by swscale during the
colour conversion. The scene is seeded horizontal bands of the palette, a grain texture that
pans horizontally by whole pixels (so x264 predicts it exactly: the encoder is the hot spot), and
discs that drift and bounce with sub-pixel precision (so even a calm shot is never frozen).
Everything is a pure function of (request, seed): same inputs, same pixels and samples.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import cv2
import numpy as np

from veolab.providers.sim.cues import SceneSpec

SAMPLE_RATE = 48_000
_SHIFT = 4  # cv2 drawing: coordinates carry 4 fractional bits
_SUB = 1 << _SHIFT


def _rng(seed: int, *salt: object) -> np.random.Generator:
    digest = hashlib.sha256(repr((seed, *salt)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def fit_image(img: np.ndarray, w: int, h: int) -> np.ndarray:
    """Scale an RGB image to fit inside w x h, centred on black (letterbox)."""
    ih, iw = img.shape[:2]
    scale = min(w / iw, h / ih)
    nw, nh = max(1, round(iw * scale)), max(1, round(ih * scale))
    resized = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.zeros((h, w, 3), dtype=np.uint8)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = resized
    return canvas


def _zoom(img: np.ndarray, factor: float, dx: float = 0.0) -> np.ndarray:
    h, w = img.shape[:2]
    m = np.array([[factor, 0, (1 - factor) * w / 2 + dx], [0, factor, (1 - factor) * h / 2]])
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


class FramePainter:
    """Paints frame ``i`` of a clip at working size (RGB uint8)."""

    def __init__(
        self,
        spec: SceneSpec,
        seed: int,
        work_w: int,
        work_h: int,
        n_frames: int,
        first: np.ndarray | None = None,
        last: np.ndarray | None = None,
    ) -> None:
        self.spec, self.seed, self.w, self.h, self.n = spec, seed, work_w, work_h, n_frames
        self.first = fit_image(first, work_w, work_h) if first is not None else None
        self.last = fit_image(last, work_w, work_h) if last is not None else None
        segments = spec.cuts + 1
        self.segment_len = max(1, -(-n_frames // segments))
        self._segments = [self._make_segment(k) for k in range(segments)]

    def _make_segment(self, k: int) -> dict[str, Any]:
        rng = _rng(self.seed, "segment", k)
        pal = np.array(self.spec.palette, dtype=np.float32)
        if k:  # after a cut: rotate the palette and shift it so the cut is unmistakable
            pal = np.roll(pal, k, axis=0)
            pal = np.clip(pal * (0.55 if k % 2 else 1.35), 0, 255)
        top, bottom = pal[0], pal[1 % len(pal)]
        # Seeded bands, so two seeds differ visibly even when the prompt fixes the palette. They
        # vary only vertically: the texture pans horizontally, and a gradient across the pan
        # would leave a residual in every block (twice the encode time and size).
        freq, phase = rng.uniform(0.5, 1.5), rng.uniform(0.0, 2.0)
        ys = np.linspace(0.0, 1.0, self.h, dtype=np.float32)[:, None, None]
        t = 0.5 + 0.5 * np.cos(np.pi * (freq * ys + phase))
        gradient = np.broadcast_to(top * (1 - t) + bottom * t, (self.h, self.w, 3)).copy()
        # periodic in x (blurred with wrap-around), so panning past the edge never jumps
        noise = rng.normal(0.0, 14.0, size=(self.h, self.w)).astype(np.float32)
        pad = 8
        wrapped = np.concatenate([noise[:, -pad:], noise, noise[:, :pad]], axis=1)
        tile = cv2.GaussianBlur(wrapped, (0, 0), 1.2)[:, pad:-pad]
        texture = np.concatenate([tile, tile, tile[:, :1]], axis=1)[..., None]
        n_discs = int(rng.integers(3, 6))
        discs = []
        for i in range(n_discs):
            colour = pal[(i + 2) % len(pal)] * rng.uniform(0.8, 1.15)
            discs.append(
                {
                    "pos": rng.uniform([0.1 * self.w, 0.1 * self.h], [0.9 * self.w, 0.9 * self.h]),
                    "vel": rng.uniform(-1, 1, size=2) * self.spec.motion,
                    "r": float(rng.uniform(0.06, 0.16) * min(self.w, self.h)),
                    "colour": tuple(float(c) for c in np.clip(colour, 0, 255)),
                }
            )
        pan = float(rng.uniform(0.4, 1.0) * self.spec.motion * rng.choice([-1, 1]))
        return {"gradient": gradient, "texture": texture, "discs": discs, "pan": pan}

    def _disc_position(self, disc: dict[str, Any], f: int) -> tuple[int, int]:
        """Sub-pixel centre (in 1/16 pixel units, for cv2's ``shift=4``), bouncing at the edges."""
        pos = disc["pos"] + disc["vel"] * f
        out = []
        for v, size in zip(pos, (self.w, self.h), strict=True):
            period = 2 * size
            v = v % period
            out.append(int(round((v if v < size else period - v) * _SUB)))
        return out[0], out[1]

    def paint(self, i: int) -> np.ndarray:
        if self.first is not None:
            return self._paint_image(i)
        k = min(i // self.segment_len, len(self._segments) - 1)
        seg = self._segments[k]
        f = i - k * self.segment_len
        # whole-pixel pan: x264 predicts it exactly (a sub-pixel pan doubles the encode time)
        shift = int(round(seg["pan"] * f)) % self.w
        frame = seg["gradient"] + seg["texture"][:, shift : shift + self.w]
        for disc in seg["discs"]:
            cv2.circle(
                frame,
                self._disc_position(disc, f),
                int(round(disc["r"] * _SUB)),
                disc["colour"],
                -1,
                lineType=cv2.LINE_AA,
                shift=_SHIFT,
            )
        frame = frame * self.spec.brightness
        if self.spec.monochrome:
            grey = frame @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
            frame = np.repeat(grey[..., None], 3, axis=2)
        return np.clip(frame, 0, 255).astype(np.uint8)

    def _paint_image(self, i: int) -> np.ndarray:
        p = i / max(1, self.n - 1)
        assert self.first is not None
        start = _zoom(self.first, 1.0 + 0.12 * p, dx=6.0 * self.spec.motion * p)
        if self.last is None:
            return start
        end = _zoom(self.last, 1.12 - 0.12 * p, dx=-6.0 * self.spec.motion * (1 - p))
        return cv2.addWeighted(start, 1.0 - p, end, p, 0.0)


def audio_blocks(spec: SceneSpec, seed: int, n_samples: int, block: int) -> Iterator[np.ndarray]:
    """Yield (2, block) float32 stereo blocks of the soundtrack, n_samples in all."""
    rng = _rng(seed, "audio")
    tones = spec.tones or [220.0]
    pans = rng.uniform(0.2, 0.8, size=len(tones))
    phases = rng.uniform(0, 2 * np.pi, size=len(tones))
    noise_level = 0.02 * spec.loudness / 0.25
    segment = max(1, -(-n_samples // (spec.cuts + 1)))
    for start in range(0, n_samples, block):
        n = min(block, n_samples - start)
        t = (start + np.arange(n)) / SAMPLE_RATE
        seg = ((start + np.arange(n)) // segment).astype(np.float64)
        beat = 0.55 + 0.45 * np.maximum(0.0, np.sin(2 * np.pi * spec.beats_per_second * t)) ** 2
        left = np.zeros(n)
        right = np.zeros(n)
        for j, (f, pan, ph) in enumerate(zip(tones, pans, phases, strict=True)):
            freq = f * (1.0 + 0.25 * seg)  # a cut shifts the pitch
            wave = np.sin(2 * np.pi * freq * t + ph) / (j + 1)
            left += wave * (1 - pan)
            right += wave * pan
        noise = _rng(seed, "noise", start).normal(0, 1, size=(2, n))
        mix = np.stack([left, right]) * beat
        peak = sum(1 / (j + 1) for j in range(len(tones)))
        mix = spec.loudness * mix / peak + noise_level * noise
        yield np.clip(mix, -1, 1).astype(np.float32)
