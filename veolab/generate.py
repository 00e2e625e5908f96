"""One generation, end to end, without tracking: what ``veolab generate`` does.

>>> import asyncio
>>> out = asyncio.run(generate_one({"prompt": "calm sea", "resolution": "720p",
...     "duration": 4, "seed": 1}, output="sea.mp4"))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from veolab.errors import ConfigError
from veolab.fsutil import atomic_write_bytes, check_writable, remove_empty_dirs
from veolab.providers import ProviderConfig, get_provider
from veolab.request import VideoRequest, format_validation_error


@dataclass
class GenerateOutcome:
    """Where the video went and what identifies it."""

    path: Path
    size: int
    seed: int | None
    request_hash: str
    cost: float | None
    request_id: str | None


async def generate_one(
    params: dict[str, Any],
    *,
    provider: str = "sim",
    model: str = "veo-3.1",
    output: Path | str | None = None,
    veo_rules: bool = True,
    config: ProviderConfig | None = None,
) -> GenerateOutcome:
    """Validate, generate, verify, and write the MP4 atomically (no file on any error).

    Raises RequestError / ImageReferenceError / ConfigError (bad input, before any provider
    call), a ProviderError subclass (the provider failed) or InvalidOutputError (not an MP4).
    """
    request = VideoRequest.build(**{**params, "veo_rules": veo_rules})
    if config is None:
        try:
            config = ProviderConfig.model_validate({"name": provider, "model": model})
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc)) from exc
    created: list[Path] = []
    if output is not None:
        created = _check_output(Path(output))  # before the (maybe paid) generation
    try:
        prov = get_provider(provider, config)
        try:
            result = await prov.generate(request)
        finally:
            await prov.aclose()
        video = result.video_bytes()
        from veolab.mp4 import verify_mp4

        verify_mp4(video)
    except BaseException:
        remove_empty_dirs(created)  # leave no empty output folder behind a failure
        raise
    # the hash of the request as actually made: with the seed the host used
    made = request.with_seed(result.seed) if result.seed is not None else request
    path = Path(output) if output else Path(f"veolab-{made.request_hash()[:12]}.mp4")
    try:
        atomic_write_bytes(path, video)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return GenerateOutcome(
        path, len(video), result.seed, made.request_hash(), result.cost, result.request_id
    )


def _check_output(path: Path) -> list[Path]:
    try:
        return check_writable(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the output {path}: {exc.strerror or exc} (check -o/--output)"
        ) from exc
