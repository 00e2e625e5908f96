"""Replicate's Veo models: parameters, rules and prices (one row per model).

Replicate serves Google's models as ``google/<name>`` with the same input names as Segmind's
(prompt, negative_prompt, aspect_ratio, duration, resolution, generate_audio, seed, image,
last_frame, reference_images) and bills per second of output video, with and without audio.
Sources: each model's page on replicate.com (its API tab for the inputs); prices as listed
there, which are Google's own list prices. Prices change: check the page before a large run.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from veolab.providers.capabilities import ModelCaps, table

AS_OF = "2026-11"


def _row(model: str, audio: float, no_audio: float, typical: float, **changes: Any) -> ModelCaps:
    host_model = f"google/{model}"
    row = ModelCaps(
        host="replicate",
        model=model,
        host_model=host_model,
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        usd_per_second={"audio": audio, "no_audio": no_audio},
        price_source=f"https://replicate.com/{host_model}",
        price_as_of=AS_OF,
        typical_seconds=typical,
        notes="output URL deleted after one hour: veolab downloads it at once",
    )
    return replace(row, **changes)


#: veo-3 and veo-3-fast: no last frame, no reference images on their Replicate pages
_VEO3: dict[str, Any] = {"last_frame": False, "max_reference_images": 0}

REPLICATE: dict[str, ModelCaps] = table(
    _row("veo-3.1", 0.40, 0.20, 90.0),
    _row("veo-3.1-fast", 0.15, 0.10, 60.0, max_reference_images=0),
    _row("veo-3", 0.40, 0.20, 120.0, **_VEO3),
    _row("veo-3-fast", 0.15, 0.10, 70.0, **_VEO3),
)
