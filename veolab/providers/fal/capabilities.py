"""fal.ai's Veo 3.1 apps: parameters, rules and prices (one row per model).

fal serves Veo 3.1 as ``fal-ai/veo3.1`` and the fast tier as ``fal-ai/veo3.1/fast``, each with
a text-to-video app and ``/image-to-video`` and ``/first-last-frame-to-video`` apps (and, for
veo-3.1, ``/reference-to-video``), chosen from the request (:func:`.body.app_for`). Durations
are sent as "4s"/"6s"/"8s"; it adds a ``4k`` resolution, priced apart. Source: each app's
model page and its llms.txt on fal.ai (inputs, limits and the per-second prices with and
without audio). Prices change: check the page before a large run.
"""

from __future__ import annotations

from veolab.providers.capabilities import ModelCaps, table

AS_OF = "2026-11"

FAL: dict[str, ModelCaps] = table(
    ModelCaps(
        host="fal",
        model="veo-3.1",
        host_model="fal-ai/veo3.1",
        durations=(4, 6, 8),
        resolutions=("720p", "1080p", "4k"),
        aspect_ratios=("16:9", "9:16"),
        max_reference_images=3,
        usd_per_second={"audio": 0.40, "no_audio": 0.20, "4k_audio": 0.60, "4k_no_audio": 0.40},
        price_source="https://fal.ai/models/fal-ai/veo3.1",
        price_as_of=AS_OF,
        typical_seconds=90.0,
        notes="reference images go to /reference-to-video, which takes no negative prompt or "
        "seed; auto_fix (off unless asked) may rewrite a refused prompt",
    ),
    ModelCaps(
        host="fal",
        model="veo-3.1-fast",
        host_model="fal-ai/veo3.1/fast",
        durations=(4, 6, 8),
        resolutions=("720p", "1080p", "4k"),
        aspect_ratios=("16:9", "9:16"),
        max_reference_images=0,
        usd_per_second={"audio": 0.15, "no_audio": 0.10, "4k_audio": 0.35, "4k_no_audio": 0.30},
        price_source="https://fal.ai/models/fal-ai/veo3.1/fast",
        price_as_of=AS_OF,
        typical_seconds=60.0,
        notes="no reference-to-video app on the fast tier",
    ),
)
