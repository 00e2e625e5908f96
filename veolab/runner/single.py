"""One generation, end to end, without tracking: what ``veolab generate`` does.

import asyncio
out = asyncio.run(generate_one({"prompt": "calm sea", "resolution": "720p",
    "duration": 4, "seed": 1}, output="sea.mp4"))

It goes through the one pipeline (``veolab.runner.pipeline``): a ledger claim before paying, the
job id recorded, the video verified and fully decoded and kept under
``$VEOLAB_HOME/generated/`` before it is copied to the output. Each call is an intentional new
purchase; a call interrupted after its submit is resumed (not paid again) by the next call with
the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from veolab._fs import atomic_write_bytes, check_writable, remove_empty_dirs
from veolab.errors import ConfigError, MissingKeyError, RequestError
from veolab.providers import Provider, ProviderConfig, provider_class
from veolab.request import VideoRequest


@dataclass
class GenerateOutcome:
    """Where the video went and what identifies it."""

    path: Path
    size: int
    seed: int | None
    request_hash: str
    cost: float | None
    request_id: str | None
    checks_passed: bool | None = None


async def generate_one(
    params: dict[str, Any],
    *,
    provider: str = "sim",
    model: str | None = None,
    output: Path | str | None = None,
    veo_rules: bool = True,
    config: ProviderConfig | Mapping[str, Any] | None = None,
) -> GenerateOutcome:
    """Validate, generate, verify, decode, and write the MP4 atomically (no file on any error).

    ``config`` (a mapping or a config model) is validated by the provider's config class;
    ``model`` (default: the provider's first) overrides its model.

    Raises RequestError / ImageReferenceError / ConfigError (bad input, before any provider
    call), a ProviderError subclass (the provider failed; OutputNotObtainedError when it billed
    but the video could not be obtained or is corrupt).
    """
    from veolab._fs import veolab_home
    from veolab.runner.ledger import Ledger
    from veolab.runner.pipeline import Custody, CustodyOptions, Job, numbered_keys

    request = VideoRequest.build(**{**params, "veo_rules": veo_rules})
    cls = provider_class(provider)
    data = config.dump() if isinstance(config, ProviderConfig) else dict(config or {})
    config = cls.configure(data | ({"model": model} if model else {}))
    wrong = cls.problems(request, config.model) if veo_rules else []
    if wrong:  # what this (host, model) cannot do: refused before anything is paid
        raise RequestError(
            "; ".join(wrong) + ": change the parameter or --model (--no-veo-rules sends it anyway)"
        )
    created: list[Path] = []
    if output is not None:
        created = _check_output(Path(output))  # before the (maybe paid) generation
    try:
        prov = cls(config)
        try:
            prov.check_ready()  # before any claim or payment is recorded
        except MissingKeyError as exc:
            if type(prov).check_ready is not Provider.check_ready:
                raise  # the provider's own check says how to fix it (vertex: two ways)
            raise MissingKeyError(
                f"No {provider.capitalize()} API key: set {cls.key_env_var} or pass --api-key"
            ) from exc
        paid = bool(cls.paid)
        estimate = prov.estimate_cost(request, config.model)
        ledger = Ledger()
        try:
            prefix = f"generate/{provider}/{config.model}/{request.request_hash()}/"
            (key,) = numbered_keys(ledger, prefix, 1)
            name = key.removeprefix("generate/").replace("/", "-")
            dest = veolab_home() / "generated" / f"{name}.mp4"
            custody = Custody(
                prov,
                ledger,
                paid,
                CustodyOptions(repay_hint="run it again to pay for a new one", give_up_lost=True),
            )
            job = Job(key, "veolab generate", request, estimate, dest)
            try:
                got = await custody.obtain(job)
            finally:
                await prov.aclose()
            await custody.logged(job, None)
        finally:
            ledger.close()
    except BaseException:
        remove_empty_dirs(created)  # leave no empty output folder behind a failure
        raise
    seed = got.result.seed if got.result is not None else got.meta.get("seed")
    # the hash of the request as actually made: with the seed the host used
    made = request.with_seed(seed) if seed is not None else request
    path = Path(output) if output else Path(f"veolab-{made.request_hash()[:12]}.mp4")
    try:
        atomic_write_bytes(path, got.video)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return GenerateOutcome(
        path,
        len(got.video),
        seed,
        made.request_hash(),
        got.cost if paid else (got.result.cost if got.result is not None else None),
        got.result.request_id if got.result is not None else got.meta.get("request_id"),
        got.analysis.passed if got.analysis is not None else None,
    )


def _check_output(path: Path) -> list[Path]:
    try:
        return check_writable(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot write the output {path}: {exc.strerror or exc} (check -o/--output)"
        ) from exc
