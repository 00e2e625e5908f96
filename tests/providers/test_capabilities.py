"""The capability table: each (host, model) row's rules and prices, and what a Provider
derives from its rows."""

from __future__ import annotations

import pytest

from veolab.providers import provider_class
from veolab.providers.base import Provider
from veolab.providers.capabilities import SEGMIND, SIM, ModelCaps, price, problems, table
from veolab.request import VideoRequest

REF = "https://example.com/ref.png"


def req(**fields) -> VideoRequest:
    return VideoRequest.build(prompt="a red fox", **fields)


# Segmind lists a range a generation: 4 s without audio to 8 s with audio
@pytest.mark.parametrize(
    ("model", "low", "high"),
    [
        ("veo-3.1", 0.80, 3.20),
        ("veo-3.1-fast", 0.40, 1.20),
        ("veo-3.1-lite", 0.25, 1.00),
        ("veo-3", 0.80, 3.20),
        ("veo-3-fast", 0.40, 1.20),
    ],
)
def test_segmind_prices_give_the_listed_range(model: str, low: float, high: float) -> None:
    row = SEGMIND[model]
    cheapest = req(resolution="720p", duration=4, generate_audio=False)
    dearest = req(resolution="1080p", duration=8, generate_audio=True)
    assert (price(row, cheapest), price(row, dearest)) == (low, high)
    assert row.price_source == f"https://www.segmind.com/models/{model}/api"
    assert row.price_as_of == "2026-11"


def test_segmind_family_and_its_order() -> None:
    assert list(SEGMIND) == ["veo-3.1", "veo-3.1-fast", "veo-3.1-lite", "veo-3", "veo-3-fast"]
    cls = provider_class("segmind")
    assert cls.models == tuple(SEGMIND)
    assert cls.prices["veo-3.1-lite"] == {"audio": 0.125, "no_audio": 0.0625}
    assert cls.typical_seconds["veo-3.1"] == 70.0
    assert provider_class("sim").models == cls.models


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        ("veo-3.1", {"resolution": "720p", "duration": 4}, []),
        (
            "veo-3.1-lite",
            {"reference_images": [REF]},
            ["reference_images not offered by segmind veo-3.1-lite"],
        ),
        ("veo-3.1-fast", {"reference_images": [REF, REF, REF]}, []),
    ],
)
def test_problems(model: str, fields: dict, expected: list[str]) -> None:
    assert problems(SEGMIND[model], req(**fields)) == expected


def test_problems_name_what_the_row_offers() -> None:
    row = ModelCaps(
        host="h",
        model="m",
        host_model="m-001",
        durations=(8,),
        resolutions=("720p",),
        aspect_ratios=("16:9",),
        audio=False,
        image=False,
        last_frame=False,
        max_reference_images=1,
        negative_prompt=False,
        seed=False,
    )
    request = VideoRequest.build(
        prompt="fox",
        duration=4,
        resolution="1080p",
        aspect_ratio="9:16",
        generate_audio=False,
        negative_prompt="blur",
        seed=3,
        image=REF,
        last_frame=REF,
        veo_rules=False,
    )
    assert problems(row, request) == [
        "duration 4 not offered by h m (8)",
        "1080p not offered by h m (720p)",
        "aspect_ratio 9:16 not offered by h m (16:9)",
        "generate_audio false not offered by h m (its videos always have audio)",
        "image (a first frame) not offered by h m",
        "last_frame not offered by h m",
        "negative_prompt not offered by h m",
        "seed not offered by h m (it picks its own)",
    ]
    refs = VideoRequest.build(prompt="fox", reference_images=[REF, REF], resolution="720p")
    assert problems(row, refs) == ["2 reference_images, more than h m takes (1)"]


def test_a_row_checks_its_price_keys() -> None:
    with pytest.raises(ValueError, match="unknown price keys"):
        ModelCaps(
            host="h",
            model="m",
            host_model="m",
            durations=(8,),
            resolutions=("720p",),
            aspect_ratios=("16:9",),
            usd_per_second={"audio": 1.0, "no_audio": 0.5, "8k": 9.0},
        )
    with pytest.raises(ValueError, match="listed twice"):
        table(SEGMIND["veo-3.1"], SEGMIND["veo-3.1"])
    with pytest.raises(ValueError, match="one host per table"):
        table(SEGMIND["veo-3.1"], SIM["veo-3.1-fast"])


def test_the_sim_serves_segmind_family_free() -> None:
    assert {m: r.host for m, r in SIM.items()} == dict.fromkeys(SEGMIND, "sim")
    sim = provider_class("sim")
    assert sim.price(req(), "veo-3.1") == 0.0
    assert sim.problems(req(reference_images=[REF]), "veo-3.1-lite") == [
        "reference_images not offered by sim veo-3.1-lite"
    ]


def test_a_provider_without_capabilities_keeps_its_models_and_prices() -> None:
    class Old(Provider):
        name = "old"
        paid = True
        models = ("m1",)
        prices = {"m1": {"audio": 0.5, "no_audio": 0.25}}

        async def generate(self, request, *, on_submitted=None):  # pragma: no cover
            raise NotImplementedError

    assert Old.models == ("m1",)
    assert Old.price(req(duration=8), "m1") == 4.0
    assert Old.problems(req(reference_images=[REF]), "m1") == []


def test_overrides_win_over_the_table() -> None:
    cls = provider_class("segmind")
    request = req(duration=8)
    assert cls.price(request, "veo-3.1") == 3.2
    assert cls.price(request, "veo-3.1", {"veo-3.1": {"audio": 0.1, "no_audio": 0.1}}) == 0.8


def test_the_docs_table_is_the_codes() -> None:
    """docs/hosts.md holds the table the installed providers' rows make (bench/hosts_table.py
    --write puts it there): a price or a row changed on one side only fails here."""
    import importlib.util
    from pathlib import Path

    from veolab.providers.capabilities import installed_rows, markdown_table

    script = Path(__file__).resolve().parents[2] / "bench" / "hosts_table.py"
    spec = importlib.util.spec_from_file_location("hosts_table", script)
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    table = markdown_table(installed_rows())
    assert tool.current() == table, "run: .venv/bin/python bench/hosts_table.py --write"
    # every installed host but the simulator, every model, each price with its page and month
    lines = table.splitlines()
    for row in installed_rows():
        price_line = next(
            ln for ln in lines if ln.startswith(f"| `{row.host}` | `{row.model}` | $")
        )
        assert f"<{row.price_source}> | {row.price_as_of} |" in price_line
    assert {r.host for r in installed_rows()} >= {"segmind"}
    assert "`sim`" not in table
    assert "| `segmind` | `veo-3.1-lite` | $0.125 | $0.0625 |" in table
