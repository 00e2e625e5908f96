"""The vertex provider against the simulator's Vertex routes over real HTTP: an operation
resumed by name after a crash, outputs inline and in gs://, filtered outputs, several samples,
application default credentials through a token endpoint, and the token kept out of
everything logged."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from veolab.errors import FilteredError
from veolab.providers import get_provider, provider_class
from veolab.providers.vertex import VertexConfig, VertexProvider
from veolab.request import VideoRequest

TOKEN = "ya29.sim-token-0123456789"
FOX = VideoRequest(
    prompt="a red fox running", resolution="720p", duration=4, generate_audio=False, seed=3
)


class Crash(Exception):
    """Stands in for the process dying right after Vertex named the operation."""


def vertex(url: str, **settings) -> VertexProvider:
    fields = {
        "project": "proj",
        "location": "europe-west4",
        "base_url": url,
        "api_key": TOKEN,
        "poll_interval": 0.05,
        "poll_max_interval": 0.1,
    }
    prov = get_provider("vertex", fields | settings)
    assert isinstance(prov, VertexProvider)
    return prov


def run(prov: VertexProvider, coro):
    async def go():
        try:
            return await coro
        finally:
            await prov.aclose()

    return asyncio.run(go())


def test_an_operation_named_before_a_crash_is_resumed_not_paid_again(sim_server) -> None:
    srv = sim_server(api_key=TOKEN, latency=0.3, credits=10.0)
    prov = vertex(srv.base_url)
    named: list[str] = []

    def crash(operation: str) -> None:
        named.append(operation)
        raise Crash

    with pytest.raises(Crash):
        run(prov, prov.generate(FOX, on_submitted=crash))
    assert named[0].startswith(
        "projects/proj/locations/europe-west4/publishers/google/models/veo-3.1-generate-001/"
        "operations/"
    )
    prov = vertex(srv.base_url)
    result = run(prov, prov.resume(FOX, named[0]))
    assert result.request_id == named[0] and result.metadata["resumed"] is True
    jobs = srv.ledger()["jobs"]
    assert len(jobs) == 1 and named[0].endswith(jobs[0]["request_id"])
    assert jobs[0]["cost"] == 0.8 and srv.ledger()["credits_remaining"] == pytest.approx(9.2)
    routes = [a["route"] for a in srv.ledger()["attempts"]]
    assert routes.count("submit") == 1


def test_outputs_in_a_bucket_are_read_through_the_storage_api(sim_server) -> None:
    srv = sim_server(api_key=TOKEN)
    prov = vertex(srv.base_url, storage_uri="gs://veolab-out/runs/")
    result = run(prov, prov.generate(FOX))
    assert result.metadata["output"].startswith("gcs:gs://veolab-out/runs/")
    assert [a["route"] for a in srv.ledger()["attempts"]][-1] == "file"


def test_a_filtered_output_is_typed_and_not_billed(sim_server) -> None:
    srv = sim_server(api_key=TOKEN, credits=5.0)
    prov = vertex(srv.base_url)
    with pytest.raises(FilteredError) as caught:
        run(prov, prov.generate(FOX.model_copy(update={"prompt": "a fox [sim:filter]"})))
    assert caught.value.reasons and "usage guidelines" in caught.value.reasons[0]
    assert srv.ledger()["jobs"] == [] and srv.ledger()["credits_remaining"] == 5.0


def test_more_samples_are_billed_each_and_make_the_seed_meaningless(sim_server) -> None:
    srv = sim_server(api_key=TOKEN)
    prov = vertex(srv.base_url, sample_count=2, enhance_prompt=True)
    result = run(prov, prov.generate(FOX))
    assert result.metadata["videos"] == 2 and result.cost == pytest.approx(1.6)
    assert srv.ledger()["jobs"][0]["cost"] == pytest.approx(1.6)
    assert provider_class("vertex").seed_holds(prov.config) == (
        "vertex sample_count 2 (sampleCount > 1) and enhance_prompt on (Vertex rewrites the "
        "prompt): the seed does not hold with sampleCount > 1 or enhancePrompt"
    )
    assert VertexProvider.seed_holds(VertexConfig()) is None
    assert VertexProvider.output_params(prov.config) == {
        "vertex.sample_count": 2,
        "vertex.enhance_prompt": True,
        "vertex.person_generation": "default",
    }


def test_default_credentials_get_their_token_from_the_token_endpoint(
    sim_server, tmp_path: Path, monkeypatch
) -> None:
    srv = sim_server(api_key=TOKEN)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    # a service account key whose token_uri is the simulator's (an authorized_user file
    # always goes to Google's endpoint): the JWT grant is signed with a throwaway key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    adc = tmp_path / "adc.json"
    adc.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "adc-project",
                "private_key_id": "k1",
                "private_key": pem,
                "client_email": "veolab@adc-project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": f"{srv.base_url}/token",
            }
        )
    )
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(adc))
    prov = vertex(srv.base_url, api_key=None, project=None)
    result = run(prov, prov.generate(FOX))
    assert result.metadata["token_source"] == "adc" and len(srv.ledger()["jobs"]) == 1
    # the project came with the credentials
    assert result.request_id.startswith("projects/adc-project/")


def test_the_token_is_in_nothing_a_run_keeps(sim_server) -> None:
    srv = sim_server(api_key=TOKEN)
    prov = vertex(srv.base_url)
    result = run(prov, prov.generate(FOX))
    assert TOKEN not in json.dumps(result.metadata, default=str)
    bad = vertex(srv.base_url, api_key="ya29.wrong-token-000000")
    with pytest.raises(Exception) as caught:
        run(bad, bad.generate(FOX))
    assert type(caught.value).__name__ == "AuthenticationError"
    assert "wrong-token" not in str(caught.value)
    assert "401 UNAUTHENTICATED: Request had invalid authentication credentials" in str(
        caught.value
    )


def test_a_failed_operation_and_no_credits_are_the_hosts_words(sim_server) -> None:
    from veolab.errors import GenerationFailedError, PermissionDeniedError

    srv = sim_server(api_key=TOKEN, credits=0.5)
    srv.inject_faults({"route": "submit", "kind": "fail"})
    prov = vertex(srv.base_url, model="veo-3.1-fast")
    with pytest.raises(GenerationFailedError) as caught:
        run(prov, prov.generate(FOX))  # 4 s without audio on fast: $0.40
    assert type(caught.value) is GenerationFailedError and "(code 13:" in str(caught.value)
    prov = vertex(srv.base_url)
    with pytest.raises(PermissionDeniedError) as denied:  # $0.80 on veo-3.1: over the $0.50
        run(prov, prov.generate(FOX))
    assert "403 PERMISSION_DENIED: This API method requires billing to be enabled" in str(
        denied.value
    )
    assert srv.ledger()["jobs"] == []
