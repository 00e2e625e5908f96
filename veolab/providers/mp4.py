"""The old home of the MP4 check, kept for existing imports: it lives in
:mod:`veolab.providers._http.verify` and is public as ``veolab.providers.verify_mp4``."""

from veolab.providers._http.verify import (
    MAX_MP4_BYTES,
    MIN_MP4_BYTES,
    looks_like_html,
    verify_mp4,
)

__all__ = ["MAX_MP4_BYTES", "MIN_MP4_BYTES", "looks_like_html", "verify_mp4"]
