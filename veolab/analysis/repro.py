"""How alike are two clips of the same request? Reproducibility metrics for ``veolab rerun``.

    m = reproducibility(original_mp4, rerun_mp4)
    m.repro_score, m.identical_frames
    # -> (1.0, 1.0)

Measured on decoded frames (never on file bytes: two encodes of the same pictures differ):

- ``psnr_db`` / ``ssim``: mean luma PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window,
  sigma 1.5) over ``samples`` frames spread evenly over the clip; identical frames count as
  PSNR ``PSNR_CAP`` dB and SSIM 1.0. ``psnr_min_db`` / ``ssim_min``: the worst sampled frame.
- ``identical_frames``: the fraction of all frames whose decoded pixels (Y, U and V) are equal,
  out of the longer clip's frame count.
- ``audio_corr``: Pearson correlation of the mono mixes over the shorter track (1.0 when the
  samples are equal; 0.0 when only one clip has audio; None when neither has).
- ``repro_score`` in [0, 1]: ``coverage * (2*ssim + psnr_db/PSNR_CAP_SCORE + audio) / 4``
  (without audio: ``(2*ssim + psnr)/3``), every term clipped to [0, 1]; ``coverage`` is the
  shorter clip's frame count over the longer one's. Equal pictures and sound give exactly 1.0.
"""

from __future__ import annotations

import hashlib
import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from veolab.errors import AnalysisError

PSNR_CAP = 100.0  # dB reported for identical frames (MLflow stores no infinity)
PSNR_CAP_SCORE = 50.0  # dB at which the PSNR term of the score saturates
DEFAULT_SAMPLES = 16


@dataclass
class ReproMetrics:
    frames_a: int
    frames_b: int
    frames_compared: int
    psnr_db: float
    psnr_min_db: float
    ssim: float
    ssim_min: float
    identical_frames: float
    audio_corr: float | None
    repro_score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Decoded:
    n: int
    digests: list[bytes]
    luma: dict[int, np.ndarray]
    audio: np.ndarray | None


def _open(src: bytes | str | Path):
    import av

    try:
        return av.open(io.BytesIO(src) if isinstance(src, bytes | bytearray) else str(src))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise AnalysisError(f"cannot open the video for the reproducibility check: {exc}") from exc


def _decode(src: bytes | str | Path, keep: set[int] | None) -> _Decoded:
    """Every frame's digest, the luma of the frames in ``keep`` (all when None), the audio."""
    import av

    digests: list[bytes] = []
    luma: dict[int, np.ndarray] = {}
    chunks: list[np.ndarray] = []
    with _open(src) as container:
        if not container.streams.video:
            raise AnalysisError("the clip has no video stream: nothing to compare")
        streams = [container.streams.video[0]]
        if container.streams.audio:
            streams.append(container.streams.audio[0])
        try:
            for frame in container.decode(*streams):
                if isinstance(frame, av.AudioFrame):
                    a = frame.to_ndarray().astype(np.float64)
                    if a.ndim == 2 and not frame.format.is_planar:
                        a = a.reshape(-1, len(frame.layout.channels)).T
                    chunks.append(a.mean(axis=0) if a.ndim == 2 else a)
                    continue
                yuv = frame.to_ndarray(format="yuv420p")
                i = len(digests)
                digests.append(hashlib.blake2b(yuv.tobytes(), digest_size=16).digest())
                if keep is None or i in keep:
                    luma[i] = yuv[: frame.height].copy()
        except av.error.FFmpegError as exc:
            raise AnalysisError(f"the clip does not decode: {exc}") from exc
    audio = np.concatenate(chunks) if chunks else None
    return _Decoded(len(digests), digests, luma, audio)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Luma PSNR in dB of two 8-bit planes; PSNR_CAP when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0:
        return PSNR_CAP
    return min(PSNR_CAP, 10 * math.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two 8-bit planes (Gaussian 11x11, sigma 1.5, K1 0.01, K2 0.03)."""
    import cv2

    if np.array_equal(a, b):
        return 1.0
    x, y = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(s.mean())


def audio_correlation(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    """Pearson correlation over the shorter track; see the module docstring for the edges."""
    if a is None and b is None:
        return None
    if a is None or b is None or len(a) == 0 or len(b) == 0:
        return 0.0
    n = min(len(a), len(b))
    x, y = a[:n], b[:n]
    if np.array_equal(x, y) and len(a) == len(b):
        return 1.0
    sx, sy = float(x.std()), float(y.std())
    if sx == 0 or sy == 0:
        return 1.0 if np.array_equal(x, y) else 0.0
    return float(np.clip(np.corrcoef(x, y)[0, 1], -1.0, 1.0))


def sample_indices(n: int, k: int = DEFAULT_SAMPLES) -> list[int]:
    """``k`` frame indices spread evenly over ``n`` frames (first and last included)."""
    if n <= 0:
        return []
    k = max(1, min(k, n))
    return sorted({round(i * (n - 1) / max(1, k - 1)) for i in range(k)})


def reproducibility(
    original: bytes | str | Path, other: bytes | str | Path, samples: int = DEFAULT_SAMPLES
) -> ReproMetrics:
    """Compare ``other`` against ``original`` (MP4 bytes or paths)."""
    import cv2

    a = _decode(original, None)
    idx = sample_indices(a.n, samples)
    b = _decode(other, set(idx))
    pairs = [i for i in idx if i in b.luma and i in a.luma]
    if not pairs:
        raise AnalysisError("the clips have no frames in common: nothing to compare")
    psnrs, ssims = [], []
    for i in pairs:
        fa, fb = a.luma[i], b.luma[i]
        if fa.shape != fb.shape:
            fb = cv2.resize(fb, (fa.shape[1], fa.shape[0]), interpolation=cv2.INTER_AREA)
        psnrs.append(psnr(fa, fb))
        ssims.append(ssim(fa, fb))
    common = min(a.n, b.n)
    same = sum(1 for i in range(common) if a.digests[i] == b.digests[i])
    longest = max(a.n, b.n)
    identical = same / longest
    corr = audio_correlation(a.audio, b.audio)
    coverage = common / longest
    s_mean, p_mean = float(np.mean(ssims)), float(np.mean(psnrs))
    terms = [2 * _clip01(s_mean), _clip01(p_mean / PSNR_CAP_SCORE)]
    if corr is not None:
        terms.append(_clip01(corr))
    score = coverage * sum(terms) / (len(terms) + 1)
    if identical == 1.0 and corr in (None, 1.0):
        score = 1.0  # exact by construction, free of rounding
    return ReproMetrics(
        frames_a=a.n,
        frames_b=b.n,
        frames_compared=len(pairs),
        psnr_db=round(p_mean, 4),
        psnr_min_db=round(float(min(psnrs)), 4),
        ssim=round(s_mean, 6),
        ssim_min=round(float(min(ssims)), 6),
        identical_frames=round(identical, 6),
        audio_corr=None if corr is None else round(corr, 6),
        repro_score=round(min(1.0, max(0.0, score)), 6),
    )


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))


__all__ = ["ReproMetrics", "audio_correlation", "psnr", "reproducibility", "sample_indices", "ssim"]
