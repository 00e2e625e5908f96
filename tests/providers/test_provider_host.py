"""A new host is one class and an entry point: a toy HTTP host built on the shared machinery
(``veolab.providers._http``) is configured, validated, priced and planned like the built-in
ones, and talks HTTP through an injected ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from click.testing import CliRunner

import veolab.providers as registry
from veolab.cli import cli
from veolab.errors import ConfigError, ProviderConnectionError
from veolab.experiment import load_experiment
from veolab.providers import Provider, ProviderConfig, ProviderResult, get_provider
from veolab.providers._http import HTTPClient, HTTPConfig, transport_error, with_retries
from veolab.providers._http.retry import wait_hint
from veolab.request import VideoRequest
from veolab.runner import plan_experiment

MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 12 + b"\x00\x00\x04\x08mdat" + b"\x00" * 1024
MP4 += b"\x00\x00\x00\x08moov"


class ToyConfig(HTTPConfig):
    name: str = "toy"
    region: str = "eu"


class ToyProvider(Provider):
    """What a new host writes: capabilities, models, prices, its config and generate()."""

    name: ClassVar[str] = "toy"
    paid: ClassVar[bool] = True
    needs_key: ClassVar[bool] = True
    key_env_var: ClassVar[str | None] = "TOY_KEY"
    config_class: ClassVar[type[ProviderConfig]] = ToyConfig
    models: ClassVar[tuple[str, ...]] = ("toy-1", "toy-1-lite")
    prices: ClassVar[dict[str, dict[str, float]]] = {
        "toy-1": {"audio": 0.3, "no_audio": 0.1},
        "toy-1-lite": {"audio": 0.05, "no_audio": 0.05},
    }
    transport: ClassVar[httpx.AsyncBaseTransport | None] = None
    config: ToyConfig

    async def generate(
        self, request: VideoRequest, *, on_submitted: Callable[[str], None] | None = None
    ) -> ProviderResult:
        base = self.config.base_url or "https://toy.example"
        http = HTTPClient(
            self.config,
            self.config.api_key or "",
            [base],
            transport=self.transport,
            key_header="authorization",
            key_prefix="Bearer ",
        )

        async def once() -> httpx.Response:
            try:
                resp = await http.client().get(f"{base}/video", headers=http.headers_for(base))
            except httpx.TransportError as exc:
                raise transport_error(exc, host="Toy", what="download", sent_matters=False) from exc
            if resp.status_code >= 500:
                raise ProviderConnectionError(f"toy answered {resp.status_code}")
            return resp

        attempts: list[int] = []
        try:
            resp = await with_retries(once, config=self.config, what="toy", attempts=attempts)
        finally:
            await http.aclose()
        return ProviderResult(resp.content, request.seed, metadata={"attempts": len(attempts)})


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> type[ToyProvider]:
    """Register ``toy`` as an entry point would."""
    real = registry.provider_class
    monkeypatch.setattr(
        registry, "provider_class", lambda name: ToyProvider if name == "toy" else real(name)
    )
    import veolab.runner.resolve as resolve

    monkeypatch.setattr(resolve, "provider_class", registry.provider_class)
    return ToyProvider


def test_a_toy_host_is_configured_by_its_own_class(toy) -> None:
    prov = get_provider("toy", {"region": "us", "max_retries": 1})
    assert (prov.config.model, prov.config.region, prov.config.max_retries) == ("toy-1", "us", 1)
    with pytest.raises(ConfigError) as info:
        get_provider("toy", {"mode": "sync"})
    assert str(info.value).startswith("provider toy: mode: unknown field (toy takes: model, ")
    assert str(info.value).endswith(", region)")
    with pytest.raises(ConfigError) as info:
        get_provider("toy", {"model": "veo-3.1"})
    assert str(info.value) == (
        "provider toy: model: Input should be 'toy-1' or 'toy-1-lite' (got 'veo-3.1')"
    )


def test_a_toy_host_is_planned_and_priced_like_any_other(toy, tmp_path: Path) -> None:
    (tmp_path / "e.yaml").write_text(
        "name: toy\nprompt: a fox\nparams: {resolution: 720p, duration: 4, "
        "generate_audio: [true, false]}\nseeds: [1]\n"
        "provider: {name: toy, model: toy-1, region: ap}\n"
        "prices: {toy-1: {audio: 1.0, no_audio: 0.5}}\n"
    )
    plan = plan_experiment(load_experiment(tmp_path / "e.yaml"))
    assert (plan.provider, plan.model, plan.paid) == ("toy", "toy-1", True)
    assert [r.estimated_cost for r in plan.runs] == [4.0, 2.0]  # prices: over toy's own
    (tmp_path / "bad.yaml").write_text(
        "name: toy\nprompt: a fox\nprovider: {name: toy, regoin: ap}\n"
        "prices: {veo-3.1: {audio: 1, no_audio: 1}}\n"
    )
    r = CliRunner().invoke(cli, ["plan", str(tmp_path / "bad.yaml")])
    assert r.exit_code == 2
    assert "provider.regoin: unknown field (toy takes: model" in r.stderr


def test_a_toy_host_talks_http_through_the_shared_client(toy) -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(dict(request.headers))
        if len(seen) == 1:
            return httpx.Response(503)
        return httpx.Response(200, content=MP4, headers={"content-type": "video/mp4"})

    toy.transport = httpx.MockTransport(handler)
    try:
        prov = get_provider("toy", {"api_key": "TOY_abcdef", "retry_backoff": 0})
        result = asyncio.run(prov.generate(VideoRequest(prompt="a fox", seed=3)))
    finally:
        toy.transport = None
    assert result.video == MP4 and result.metadata == {"attempts": 2}
    assert [h["authorization"] for h in seen] == ["Bearer TOY_abcdef"] * 2


def test_the_key_goes_only_to_the_hosts_own_origins() -> None:
    http = HTTPClient(ProviderConfig(), "KEY1234", ["https://api.toy.example/v1"])
    assert http.headers_for("https://api.toy.example:443/jobs/1")["x-api-key"] == "KEY1234"
    assert "x-api-key" not in http.headers_for("https://cdn.toy.example/v.mp4")
    assert "x-api-key" not in http.headers_for("http://api.toy.example/jobs/1")  # not https


def test_wait_hints() -> None:
    headers = httpx.Headers({"retry-after": "7", "x-reset": "1000000100"})
    assert wait_hint(headers) == 7.0
    assert wait_hint(headers, ("x-reset",), now=1_000_000_000) == 100.0
    assert wait_hint(httpx.Headers({"retry-after": "soon"})) is None


def test_options_carry_a_hosts_own_fields_and_the_key_stays_out_of_dumps() -> None:
    from veolab.providers.segmind import SegmindConfig

    generic = ProviderConfig(api_key="SG_secret1", options={"mode": "sync", "max_retries": 0})
    prov = get_provider("segmind", generic)
    assert isinstance(prov.config, SegmindConfig)
    assert (prov.config.mode, prov.config.max_retries, prov.config.api_key) == (
        "sync",
        0,
        "SG_secret1",
    )
    assert "SG_secret1" not in repr(prov.config)
    assert "api_key" not in prov.config.model_dump()
    with pytest.raises(ConfigError) as info:
        get_provider("sim", {"latency": 1, "options": {"latency": 2}})
    assert str(info.value) == "provider sim: latency given both in options and on its own: keep one"
