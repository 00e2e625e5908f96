"""Thumbnails (first, middle, last and N evenly spaced stills) and a contact sheet.

Targets are placed from the header duration before decoding starts; while frames stream past,
the first frame at or after each target (within half a frame) is scaled to the thumbnail width
and JPEG-encoded, so only the small stills are kept. Evenly spaced stills sit at the middle of N
equal slices of the clip: for 8 s and N = 8, at 0.5, 1.5, ... 7.5 s.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from av.video.reformatter import VideoReformatter

from veolab.analysis.result import Thumbnail

JPEG_QUALITY = 85
SHEET_COLUMNS = 4
SHEET_PAD = 6
# the label band under each still, as a fraction of its width: 35 px for a 320 px still, so
# the time stays legible when a viewer (MLflow's artifact preview) shows the sheet scaled down
LABEL_BAND = 0.11
LABEL_TEXT = 0.6  # the text's cap height, as a fraction of the band


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:  # pragma: no cover - OpenCV only fails on empty images
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


class ThumbnailCollector:
    """Picks and encodes the stills while frames stream past."""

    def __init__(self, duration: float | None, fps: float | None, n: int = 8, width: int = 320):
        self.width = max(16, int(width))
        self.half_frame = 0.5 / fps if fps else 0.02
        targets: list[tuple[float, str | None]] = [(0.0, "first")]
        if duration and duration > 0:
            targets.append((duration / 2, "middle"))
            for k in range(max(0, int(n))):
                targets.append(((k + 0.5) * duration / n, f"t{k + 1:02d}"))
        self._pending = sorted(targets, key=lambda x: x[0])
        self._taken: list[tuple[str, float, np.ndarray]] = []
        self._last: Any = None
        self._last_t = 0.0
        # one scaler for every still: ``frame.reformat`` would set up a new one for each, with
        # its own pool of slice threads (same pixels either way; threads only split the rows)
        self._scaler = VideoReformatter()

    def _render(self, frame: Any) -> np.ndarray:
        height = _even(self.width * frame.height / max(1, frame.width))
        return self._scaler.reformat(
            frame, width=self.width, height=height, format="rgb24", interpolation="AREA", threads=1
        ).to_ndarray()

    def feed(self, frame: Any, t: float) -> None:
        self._last, self._last_t = frame, t
        rgb = None
        while self._pending and t + self.half_frame + 1e-9 >= self._pending[0][0]:
            _, label = self._pending.pop(0)
            rgb = self._render(frame) if rgb is None else rgb
            self._taken.append((self._name(label, t), t, rgb))

    @staticmethod
    def _name(label: str | None, t: float) -> str:
        if label in ("first", "middle", "last") or label is None:
            return label or "last"
        return f"{label}_{t:.2f}s"

    def finish(self) -> tuple[list[Thumbnail], bytes]:
        """The thumbnails in time order (``last`` at the end) and the contact sheet JPEG."""
        if self._last is None:
            return [], b""
        # targets past the last frame (a clip shorter than its header) fall on the last frame
        last_rgb = self._render(self._last)
        for _, label in self._pending:
            self._taken.append((self._name(label, self._last_t), self._last_t, last_rgb))
        self._pending = []
        self._taken.append(("last", self._last_t, last_rgb))
        self._last = None
        thumbs = [Thumbnail(name, round(t, 6), _jpeg(rgb)) for name, t, rgb in self._taken]
        sheet = contact_sheet(self._taken)
        return thumbs, sheet


def contact_sheet(
    tiles: list[tuple[str, float, np.ndarray]], columns: int = SHEET_COLUMNS
) -> bytes:
    """One JPEG: the stills in a grid, each labelled with its time and name in white on a
    black band under it."""
    if not tiles:
        return b""
    h, w = tiles[0][2].shape[:2]
    cols = min(columns, len(tiles))
    rows = -(-len(tiles) // cols)
    band = max(18, round(w * LABEL_BAND))
    cell_h = h + band
    sheet = np.full(
        (SHEET_PAD + rows * (cell_h + SHEET_PAD), SHEET_PAD + cols * (w + SHEET_PAD), 3),
        0,
        dtype=np.uint8,
    )
    font = cv2.FONT_HERSHEY_SIMPLEX
    (_, cap), _ = cv2.getTextSize("0", font, 1.0, 1)
    scale = band * LABEL_TEXT / cap
    thickness = 2 if scale >= 0.6 else 1
    for i, (name, t, rgb) in enumerate(tiles):
        r, c = divmod(i, cols)
        y0, x0 = SHEET_PAD + r * (cell_h + SHEET_PAD), SHEET_PAD + c * (w + SHEET_PAD)
        tile = rgb if rgb.shape[:2] == (h, w) else cv2.resize(rgb, (w, h))
        sheet[y0 : y0 + h, x0 : x0 + w] = tile
        minutes, seconds = divmod(t, 60)
        label = f"{int(minutes)}:{seconds:05.2f}  {name.split('_')[0]}"
        baseline = y0 + h + (band + round(cap * scale)) // 2
        cv2.putText(
            sheet, label, (x0 + 4, baseline), font, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
    return _jpeg(sheet)
