"""Picture metrics from decoded frames, one frame at a time, in constant memory.

The detectors follow FFmpeg's own filters, on the full-resolution planes, so that their results
can be checked against them (tests/analysis/test_analysis_oracle.py):

- black frames as ``blackdetect``: a pixel is black when its luma is at most
  ``16 + pix_th * 219`` (limited range; ``pix_th * 255`` for full range) and a frame is black when
  at least ``pic_th`` of its pixels are;
- frozen spans as ``freezedetect``: each frame is compared with the first frame of the candidate
  span (the reference) by the mean absolute difference over all planes, scaled to 0..1; the span
  is frozen while that stays at or below the noise level (-60 dB = 0.001 by default);
- hard cuts as the ``scene`` score of the ``select`` filter: ``min(mafd, |mafd - prev_mafd|) / 100``
  where mafd is the mean absolute luma difference from the previous frame (for YUV input FFmpeg
  scores the luma plane only).

Brightness, motion and flicker come from the same full-resolution sums (cheap: OpenCV's SIMD
norms). Sharpness (variance of the Laplacian at a short side of 360 px) and colorfulness (Hasler
and Suesstrunk, on a 160 px wide nearest-neighbour sample) are measured on sampled frames (by
default every 12th and every 4th: 2 and 6 a second at 24 fps), at small fixed sizes, to stay
within the decode budget.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from veolab.analysis.checks import CheckThresholds
from veolab.analysis.segments import RunTracker, Segment, at_least, longest

# 8-bit planar formats whose planes can be read directly; anything else is converted once.
DIRECT_FORMATS = frozenset(
    {
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "gray",
    }
)
SHARPNESS_SHORT_SIDE = 360
COLOUR_WIDTH = 160


def frame_planes(frame: Any) -> tuple[list[np.ndarray], bool]:
    """The frame's 8-bit planes as NumPy views (no copy) and whether it is full range."""
    name = frame.format.name
    if name not in DIRECT_FORMATS:
        frame = frame.reformat(format="yuv420p")
        name = "yuv420p"
    planes = []
    for p in frame.planes:
        buf = np.frombuffer(p, dtype=np.uint8, count=p.line_size * p.height)
        planes.append(buf.reshape(p.height, p.line_size)[:, : p.width])
    full_range = name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2
    return planes, full_range


def sad(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Sum of absolute differences over all planes."""
    return float(sum(cv2.norm(x, y, cv2.NORM_L1) for x, y in zip(a, b, strict=True)))


def colorfulness(planes: list[np.ndarray], full_range: bool) -> float:
    """Hasler and Suesstrunk's M on a small nearest-neighbour sample (BT.709 YCbCr -> RGB)."""
    if len(planes) < 3:
        return 0.0
    y = planes[0]
    w = min(COLOUR_WIDTH, y.shape[1])
    h = max(1, round(w * y.shape[0] / y.shape[1]))
    yl, cb, cr = (
        cv2.resize(p, (w, h), interpolation=cv2.INTER_NEAREST).astype(np.float32)
        for p in planes[:3]
    )
    # float32 throughout, the same operations in the same order as the textbook form
    # r = clip(yl + 1.5748 cr), g = clip(yl - 0.1873 cb - 0.4681 cr), b = clip(yl + 1.8556 cb),
    # done in place: the temporaries were most of the cost at this size
    cb -= 128.0
    cr -= 128.0
    if not full_range:
        yl -= 16.0
        yl *= 255 / 219
        cb *= 255 / 224
        cr *= 255 / 224
    r = cr * 1.5748
    r += yl
    g = cb * 0.1873
    np.subtract(yl, g, out=g)
    g -= cr * 0.4681
    b = cb
    b *= 1.8556
    b += yl
    for c in (r, g, b):
        np.clip(c, 0, 255, out=c)
    yb = r + g
    yb *= 0.5
    yb -= b
    rg = r
    rg -= g
    return float(math.sqrt(rg.var() + yb.var()) + 0.3 * math.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


def sharpness(y: np.ndarray) -> float:
    """Variance of the Laplacian of the luma scaled to a short side of 360 px."""
    h, w = y.shape
    scale = SHARPNESS_SHORT_SIDE / min(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = y if size == (w, h) else cv2.resize(y, size, interpolation=interp)
    _, std = cv2.meanStdDev(cv2.Laplacian(small, cv2.CV_32F))
    return float(std[0, 0] ** 2)


class VideoAnalyzer:
    """Feed frames in display order with :meth:`feed`; :meth:`finish` returns the metrics."""

    def __init__(
        self, thresholds: CheckThresholds, colour_step: int = 4, sharpness_step: int = 12
    ) -> None:
        self.thr = thresholds
        self.colour_step = max(1, colour_step)
        self.sharpness_step = max(1, sharpness_step)
        self.n = 0
        self.first_t: float | None = None
        self.last_t = 0.0
        self.size = (0, 0)  # width, height of the first frame
        self._bright_sum = 0.0
        self._black_frames = 0
        self._black = RunTracker()
        self._prev: list[np.ndarray] | None = None
        self._prev_frame: Any = None  # keeps the planes' buffers alive
        self._prev_mafd = 0.0
        self._ref: list[np.ndarray] | None = None
        self._ref_frame: Any = None
        self._ref_t = 0.0
        self._ref_frozen = False  # at least one frame after the reference matched it
        self._ref_lo = self._ref_hi = 0.0  # bounds of the SAD of the previous frame to _ref
        self._frozen: list[Segment] = []
        self._longest_frozen = 0.0
        self.cuts: list[float] = []
        self._motion_sum = 0.0
        self._motion_n = 0
        self._b_hist: list[tuple[float, bool]] = []  # (mean luma, cut at this frame) x 2
        self._flicker_sum = 0.0
        self._flicker_n = 0
        self._sharp: list[float] = []
        self._colour: list[float] = []

    def _black_threshold(self, full_range: bool) -> int:
        t = self.thr.black_pixel_threshold
        return int(t * 255) if full_range else int(16 + t * (235 - 16))

    def feed(self, frame: Any, t: float) -> None:
        planes, full_range = frame_planes(frame)
        y = planes[0]
        count = sum(p.size for p in planes)
        if self.first_t is None:
            self.first_t = t
            self.size = (frame.width, frame.height)
        self.last_t = t

        # cv2.mean's own arithmetic (sum x 1/n) on the exact integer sum, which NORM_L1 of 8-bit
        # pixels reads faster than cv2.mean does
        mean_y = float(cv2.norm(y, cv2.NORM_L1)) * (1.0 / y.size)
        self._bright_sum += mean_y
        th = self._black_threshold(full_range)
        ratio = self.thr.black_picture_ratio
        is_black = False
        # a frame with >= ratio of its pixels at or below th cannot be brighter than this
        if mean_y <= ratio * th + (1 - ratio) * 255 + 1e-6:
            _, above = cv2.threshold(y, th, 255, cv2.THRESH_BINARY)
            is_black = (y.size - cv2.countNonZero(above)) >= ratio * y.size
        self._black_frames += is_black
        self._black.update(is_black, t)

        cut = False
        noise = self.thr.freeze_noise
        if self._prev is not None:
            y_sad = float(cv2.norm(self._prev[0], y, cv2.NORM_L1))
            total = y_sad + sad(self._prev[1:], planes[1:])
            mafd = y_sad / y.size  # the scene score of YUV input looks at luma only
            score = min(mafd, abs(mafd - self._prev_mafd)) / 100.0
            self._prev_mafd = mafd
            cut = score > self.thr.scene_threshold
            if cut:
                self.cuts.append(round(t, 6))
            else:
                self._motion_sum += y_sad / y.size
                self._motion_n += 1
            if self._ref is None or self._ref_frame is self._prev_frame:
                lo = hi = total
            else:
                # SAD is a distance: |d(ref, prev) - d(prev, this)| <= d(ref, this) <= the sum.
                # When those bounds already settle the comparison, the exact value is not needed
                # (a still stretch compares every frame with its first one otherwise)
                lo = max(self._ref_lo - total, total - self._ref_hi, 0.0)
                hi = self._ref_hi + total
                if lo / count / 256.0 <= noise < hi / count / 256.0:
                    lo = hi = sad(self._ref, planes)
            if hi / count / 256.0 <= noise:
                self._ref_frozen = True
                self._ref_lo, self._ref_hi = lo, hi
            else:
                self._close_freeze(t)
                self._ref, self._ref_frame, self._ref_t = planes, frame, t
                self._ref_lo = self._ref_hi = 0.0
        else:
            self._ref, self._ref_frame, self._ref_t = planes, frame, t

        self._b_hist.append((mean_y, cut))
        if len(self._b_hist) == 3:
            (b0, _), (b1, c1), (b2, c2) = self._b_hist
            if not (c1 or c2):
                self._flicker_sum += abs(b1 - (b0 + b2) / 2)
                self._flicker_n += 1
            self._b_hist.pop(0)

        if self.n % self.sharpness_step == 0:
            self._sharp.append(sharpness(y))
        if self.n % self.colour_step == 0:
            self._colour.append(colorfulness(planes, full_range))
        self._prev, self._prev_frame = planes, frame
        self.n += 1

    def _close_freeze(self, end: float) -> None:
        if self._ref_frozen:
            seg = Segment(start=round(self._ref_t, 6), end=round(end, 6))
            self._longest_frozen = max(self._longest_frozen, seg.duration)
            if at_least([seg], self.thr.freeze_min_duration):
                self._frozen.append(seg)
        self._ref_frozen = False

    def finish(self, end: float) -> dict[str, Any]:
        """The picture metrics; ``end`` is when the last frame stops showing."""
        self._close_freeze(end)
        black = self._black.finish(end)
        longest_black = longest(black)
        black = at_least(black, self.thr.black_min_duration)
        self._prev = self._prev_frame = self._ref = self._ref_frame = None
        n = max(1, self.n)
        return {
            "brightness_mean": round(self._bright_sum / n, 4),
            "black_fraction": round(self._black_frames / n, 6),
            "black_segments": black,
            "n_black_segments": len(black),
            "longest_black_s": longest_black,
            "frozen_segments": self._frozen,
            "n_frozen_segments": len(self._frozen),
            "longest_frozen_s": self._longest_frozen,
            "cuts": self.cuts,
            "n_cuts": len(self.cuts),
            "sharpness": round(float(np.mean(self._sharp)) if self._sharp else 0.0, 4),
            "colorfulness": round(float(np.mean(self._colour)) if self._colour else 0.0, 4),
            "motion": round(self._motion_sum / self._motion_n if self._motion_n else 0.0, 4),
            "flicker": round(self._flicker_sum / self._flicker_n if self._flicker_n else 0.0, 4),
        }
