"""The Veo family on Vertex AI: one capability row per model, under veolab's model names.

Parameters and limits: Google's Veo model pages and the Veo API reference on Vertex AI
(cloud.google.com/vertex-ai/generative-ai/docs/models/veo/..., .../model-reference/
veo-video-generation). Prices: the Veo section of Vertex AI's pricing page, per second of
video, with and without audio, and at 4k where it differs (read 2026-11; prices change).

On every row: the seed only holds with ``sampleCount`` 1 and ``enhancePrompt`` false, which
is what veolab sends unless the provider's config asks otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from veolab.providers.capabilities import ModelCaps, table

PRICE_SOURCE = "https://cloud.google.com/vertex-ai/generative-ai/pricing#veo"
PRICE_AS_OF = "2026-11"
SEED_NOTE = "the seed does not hold with sampleCount > 1 or enhancePrompt"


def _row(
    model: str,
    host_model: str,
    usd_per_second: dict[str, float],
    typical_seconds: float,
    **changes: Any,
) -> ModelCaps:
    row = ModelCaps(
        host="vertex",
        model=model,
        host_model=host_model,
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        seed_note=SEED_NOTE,
        usd_per_second=usd_per_second,
        price_source=PRICE_SOURCE,
        price_as_of=PRICE_AS_OF,
        typical_seconds=typical_seconds,
    )
    return replace(row, **changes)


VERTEX: dict[str, ModelCaps] = table(
    _row(
        "veo-3.1",
        "veo-3.1-generate-001",
        {"audio": 0.40, "no_audio": 0.20, "4k_audio": 0.60, "4k_no_audio": 0.40},
        90.0,
        resolutions=("720p", "1080p", "4k"),
        notes="reference images (asset) only 16:9 and 8 s",
    ),
    _row(
        "veo-3.1-fast",
        "veo-3.1-fast-generate-001",
        {"audio": 0.15, "no_audio": 0.10, "4k_audio": 0.35, "4k_no_audio": 0.30},
        60.0,
        resolutions=("720p", "1080p", "4k"),
        max_reference_images=0,
        notes="no reference images on Vertex's fast tier",
    ),
    _row(
        "veo-3",
        "veo-3.0-generate-001",
        {"audio": 0.40, "no_audio": 0.20},
        120.0,
        last_frame=False,
        max_reference_images=0,
        notes="a first frame, no last frame or reference images",
    ),
    _row(
        "veo-3-fast",
        "veo-3.0-fast-generate-001",
        {"audio": 0.15, "no_audio": 0.10},
        70.0,
        last_frame=False,
        max_reference_images=0,
        notes="as veo-3",
    ),
)

#: Vertex's model id -> veolab's model name ("veo-3.1-generate-001" -> "veo-3.1")
BY_HOST_MODEL: dict[str, str] = {row.host_model: name for name, row in VERTEX.items()}
