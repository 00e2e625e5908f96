"""VideoRequest: every type and range check, every Veo rule, and the hashing contract."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pydantic
import pytest

from veolab.errors import ImageReferenceError, RequestError
from veolab.request import (
    API_FIELDS,
    IMAGE_FIELDS,
    LIST_FIELDS,
    SEED_MAX,
    Geometry,
    VideoRequest,
    expected_geometry,
)

RULES = " (Veo 3.1 rules; --no-veo-rules turns them off)"
URL = "https://example.com/first.png"
URL2 = "https://example.com/last.png"
REF = "https://example.com/ref.png"


def build(**fields: object) -> VideoRequest:
    fields.setdefault("prompt", "a red fox running through snow")
    return VideoRequest.build(**fields)


# -- defaults and geometry ----------------------------------------------------------------


def test_defaults_are_the_apis() -> None:
    req = VideoRequest.build(prompt="a lake")
    assert (req.aspect_ratio, req.duration, req.resolution, req.generate_audio) == (
        "16:9",
        8,
        "1080p",
        True,
    )
    assert (req.negative_prompt, req.seed, req.image, req.last_frame) == (None, None, None, None)
    assert req.reference_images == []
    assert req.veo_rules is True


def test_the_eleven_api_fields() -> None:
    # fps, added later, is left out of the request while unset (see test_old_hashes_hold)
    assert set(API_FIELDS) == set(build().identity()) | {"fps"}
    assert set(API_FIELDS) == set(build(fps=30).identity())
    assert len(API_FIELDS) == 11


def test_old_hashes_hold() -> None:
    """Requests hashed before 4k, more aspect ratios and fps hash the same after: no store
    pays twice (the hashes below were computed by the request model before issue 14; the
    first one is in docs/hosts.md)."""
    fox = build(resolution="720p", duration=4, generate_audio=False, seed=7)
    assert fox.request_hash() == "b248ccdbdc2742a977809b96f9a43ddeb3500977c83d2aee6981688783506d0b"
    assert "fps" not in fox.canonical_json()
    sea = VideoRequest.build(
        prompt="calm sea",
        negative_prompt="blur",
        image="https://example.com/a.png",
        last_frame="https://example.com/b.png",
        seed=1,
    )
    assert sea.request_hash() == "40f0f0b3a7ce5bc1510f060a4ef913d77444b431c04466bcfa045d536f6c8d4d"
    # fps given is part of the request, even at the host's default
    assert fox.model_copy(update={"fps": 24}).request_hash() != fox.request_hash()


def test_the_field_lists_derive_from_the_model() -> None:
    assert API_FIELDS == tuple(f for f in VideoRequest.model_fields if f != "veo_rules")
    assert IMAGE_FIELDS == ("image", "last_frame", "reference_images")
    assert LIST_FIELDS == ("reference_images",)


def test_every_api_field_reaches_the_body_the_params_and_the_record() -> None:
    import asyncio

    from veolab.providers.segmind.body import request_body
    from veolab.tracking.generation import GenerationRecord

    full = build(negative_prompt="blur", seed=5, image=URL, last_frame=URL2, fps=30)
    refs = build(reference_images=[REF, URL], seed=1)

    async def upload(urls: list[str]) -> list[str]:
        raise AssertionError("URLs are sent as they are")

    for req in (full, refs):
        body = asyncio.run(request_body(req, inline_images=True, upload=upload))
        given = {k for k, v in req.api_values().items() if v not in (None, [])}
        assert set(body) == given
        params = GenerationRecord(
            request=req,
            provider="sim",
            model="veo-3.1",
            variant_id="v",
            variant_label="",
            variant_name=None,
            vars={},
            template="t.j2",
            template_sha256="0",
        ).params()
        assert set(req.api_values()) <= set(params)
        assert req is refs or set(API_FIELDS) <= set(params)
        assert set(req.to_record()["image_sources"]) == set(IMAGE_FIELDS)
    assert body["reference_images"] == [REF, URL]
    assert [(f, n) for f, n, _ in refs.images()] == [
        ("reference_images", "reference_0"),
        ("reference_images", "reference_1"),
    ]
    assert [n for _, n, _ in full.images()] == ["image", "last_frame"]


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "duration", "expected"),
    [
        ("720p", "16:9", 4, Geometry(1280, 720, 24, 96)),
        ("720p", "16:9", 6, Geometry(1280, 720, 24, 144)),
        ("720p", "16:9", 8, Geometry(1280, 720, 24, 192)),
        ("720p", "9:16", 4, Geometry(720, 1280, 24, 96)),
        ("720p", "9:16", 6, Geometry(720, 1280, 24, 144)),
        ("720p", "9:16", 8, Geometry(720, 1280, 24, 192)),
        ("1080p", "16:9", 8, Geometry(1920, 1080, 24, 192)),
        ("1080p", "9:16", 8, Geometry(1080, 1920, 24, 192)),
        ("4k", "16:9", 8, Geometry(3840, 2160, 24, 192)),
        ("4k", "9:16", 8, Geometry(2160, 3840, 24, 192)),
        ("720p", "4:3", 4, Geometry(960, 720, 24, 96)),
        ("720p", "1:1", 6, Geometry(720, 720, 24, 144)),
        ("720p", "3:4", 8, Geometry(720, 960, 24, 192)),
        ("1080p", "4:3", 8, Geometry(1440, 1080, 24, 192)),
        ("1080p", "1:1", 8, Geometry(1080, 1080, 24, 192)),
        ("1080p", "3:4", 8, Geometry(1080, 1440, 24, 192)),
    ],
)
def test_geometry(resolution: str, aspect_ratio: str, duration: int, expected: Geometry) -> None:
    req = build(resolution=resolution, aspect_ratio=aspect_ratio, duration=duration)
    assert req.geometry() == expected
    assert expected_geometry(resolution, aspect_ratio, duration) == expected


def test_fps() -> None:
    assert build().fps is None
    assert build(resolution="720p", duration=4, fps=30).geometry() == Geometry(1280, 720, 30, 120)
    assert build(fps=24).geometry() == build().geometry()
    assert build(resolution="4K").resolution == "4k"


def test_duration_accepts_seconds_text() -> None:
    assert build(duration="8s").duration == 8
    assert build(duration="6", resolution="720p").duration == 6


def test_blank_negative_prompt_is_none() -> None:
    assert build(negative_prompt="   ").negative_prompt is None
    assert build(negative_prompt="blur").negative_prompt == "blur"


def test_seed_bounds_are_inclusive() -> None:
    assert build(seed=0).seed == 0
    assert build(seed=SEED_MAX).seed == 4_294_967_295


# -- type and range checks ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": ""}, "prompt: must not be empty"),
        ({"prompt": "  \n "}, "prompt: must not be empty"),
        ({"prompt": None}, "prompt: Input should be a valid string"),
        ({"negative_prompt": 3}, "negative_prompt: Input should be a valid string"),
        (
            {"aspect_ratio": "2:1"},
            "aspect_ratio: Input should be '16:9', '9:16', '4:3', '1:1' or '3:4' (got '2:1')",
        ),
        ({"duration": 5}, "duration: Input should be 4, 6 or 8 (got 5)"),
        ({"duration": True}, "duration: Input should be 4, 6 or 8 (got True)"),
        ({"resolution": "8k"}, "resolution: Input should be '720p', '1080p' or '4k' (got '8k')"),
        ({"fps": 25}, "fps: Input should be 24 or 30 (got 25)"),
        (
            {"generate_audio": "maybe"},
            "generate_audio: Input should be a valid boolean, unable to interpret input",
        ),
        ({"seed": -1}, "seed: Input should be greater than or equal to 0"),
        ({"seed": 2**32}, "seed: Input should be less than or equal to 4294967295"),
        ({"seed": True}, "seed: must be an integer (got True)"),
        (
            {"seed": 1.5},
            "seed: Input should be a valid integer, got a number with a fractional part",
        ),
        ({"colour": "red"}, "colour: unknown field"),
        (
            {"reference_images": [REF, REF, REF, REF], "veo_rules": False},
            "reference_images: at most 3 allowed (got 4)",
        ),
    ],
)
def test_type_and_range_errors(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RequestError) as info:
        build(**fields)
    assert str(info.value) == message
    assert info.value.exit_code == 2


def test_missing_prompt() -> None:
    with pytest.raises(RequestError, match=r"^prompt: Field required$"):
        VideoRequest.build()


@pytest.mark.parametrize(
    "fields",
    [
        {"duration": 5},
        {"seed": -1},
        {"seed": 2**32},
        {"aspect_ratio": "2:1"},
        {"prompt": " "},
        {"reference_images": [REF] * 4},
    ],
)
def test_type_and_range_checks_stay_without_veo_rules(fields: dict[str, object]) -> None:
    with pytest.raises(RequestError):
        build(veo_rules=False, **fields)


# -- Veo 3.1 rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"duration": 4},
            "resolution 1080p requires duration 8 (got duration 4): use --duration 8 or "
            "--resolution 720p",
        ),
        (
            {"duration": 6, "aspect_ratio": "9:16"},
            "resolution 1080p requires duration 8 (got duration 6): use --duration 8 or "
            "--resolution 720p",
        ),
        (
            {"duration": 4, "resolution": "4k"},
            "resolution 4k requires duration 8 (got duration 4): use --duration 8 or "
            "--resolution 720p",
        ),
        (
            {"resolution": "720p", "aspect_ratio": "9:16", "reference_images": [REF]},
            "reference_images require aspect_ratio 16:9 and duration 8 "
            "(got aspect_ratio 9:16, duration 8)",
        ),
        (
            {"resolution": "720p", "duration": 6, "reference_images": [REF]},
            "reference_images require aspect_ratio 16:9 and duration 8 "
            "(got aspect_ratio 16:9, duration 6)",
        ),
        (
            {"reference_images": [REF], "image": URL},
            "reference_images cannot be combined with image or last_frame: drop one of them",
        ),
        (
            {"reference_images": [REF], "image": URL, "last_frame": URL2},
            "reference_images cannot be combined with image or last_frame: drop one of them",
        ),
        (
            {"last_frame": URL2},
            "last_frame requires image (a first frame): add --image",
        ),
        (
            {"resolution": "720p", "duration": 4, "reference_images": [REF], "last_frame": URL2},
            "reference_images require aspect_ratio 16:9 and duration 8 (got aspect_ratio 16:9, "
            "duration 4); reference_images cannot be combined with image or last_frame: drop one "
            "of them; last_frame requires image (a first frame): add --image",
        ),
    ],
)
def test_veo_rules(fields: dict[str, object], message: str) -> None:
    with pytest.raises(RequestError) as info:
        build(**fields)
    assert str(info.value) == message + RULES
    relaxed = build(veo_rules=False, **fields)
    assert relaxed.veo_rules is False
    for name, value in fields.items():
        if name not in ("image", "last_frame", "reference_images"):
            assert getattr(relaxed, name) == value


def test_rules_allow_their_documented_combinations() -> None:
    assert build(reference_images=[REF, REF, REF]).reference_images[2].value == REF
    both = build(image=URL, last_frame=URL2, resolution="720p", duration=4, aspect_ratio="9:16")
    assert (both.image and both.image.value, both.last_frame and both.last_frame.value) == (
        URL,
        URL2,
    )
    assert build(resolution="720p", duration=6).duration == 6


def test_python_field_turns_rules_off_directly() -> None:
    with pytest.raises(pydantic.ValidationError, match="requires duration 8"):
        VideoRequest(prompt="x", duration=4)
    assert VideoRequest(prompt="x", duration=4, veo_rules=False).duration == 4


# -- image references inside a request ------------------------------------------------------


def test_relative_image_paths_resolve_against_base_dir(make_png, tmp_path: Path) -> None:
    make_png("first.png", (200, 10, 10))
    req = VideoRequest.build(base_dir=tmp_path, prompt="x", image="first.png")
    assert req.image is not None
    assert req.image.kind == "file"
    assert req.image.value == str(tmp_path / "first.png")


def test_missing_image_file_is_an_image_error(tmp_path: Path) -> None:
    with pytest.raises(ImageReferenceError) as info:
        build(image=str(tmp_path / "nope.png"))
    assert str(info.value) == f"image file not found: {tmp_path / 'nope.png'} (check the path)"
    assert info.value.exit_code == 2


def test_one_reference_image_may_be_a_bare_string() -> None:
    assert [r.value for r in build(reference_images=REF).reference_images] == [REF]


# -- identity and hashing -----------------------------------------------------------------


def test_canonical_json_exact() -> None:
    req = VideoRequest.build(
        prompt="a lake", resolution="720p", duration=4, seed=7, reference_images=[]
    )
    assert req.canonical_json() == (
        '{"aspect_ratio":"16:9","duration":4,"generate_audio":true,"image":null,'
        '"last_frame":null,"negative_prompt":null,"prompt":"a lake","reference_images":[],'
        '"resolution":"720p","seed":7}'
    )
    assert req.request_hash() == hashlib.sha256(req.canonical_json().encode()).hexdigest()


def test_equal_requests_equal_hashes(make_png) -> None:
    png = make_png("a.png", (1, 2, 3))
    a = build(seed=1, image=str(png), resolution="720p", duration=4)
    b = build(seed=1, image=str(png), resolution="720p", duration=4)
    assert a is not b
    assert a.request_hash() == b.request_hash()
    # keyword order does not matter
    c = VideoRequest.build(
        duration=4,
        resolution="720p",
        image=str(png),
        seed=1,
        prompt="a red fox running through snow",
    )
    assert c.request_hash() == a.request_hash()


BASE = {"prompt": "a lake", "resolution": "720p", "duration": 8, "seed": 7}


@pytest.mark.parametrize(
    "change",
    [
        {"prompt": "a lake "},
        {"prompt": "A lake"},
        {"negative_prompt": "blur"},
        {"aspect_ratio": "9:16"},
        {"duration": 6},
        {"resolution": "1080p"},
        {"generate_audio": False},
        {"seed": 8},
        {"seed": None},
        {"image": URL},
        {"image": URL, "last_frame": URL2},
        {"reference_images": [REF]},
        {"fps": 30},
        {"aspect_ratio": "1:1"},
    ],
)
def test_any_parameter_change_changes_the_hash(change: dict[str, object]) -> None:
    assert (
        VideoRequest.build(**{**BASE, **change}).request_hash()
        != VideoRequest.build(**BASE).request_hash()
    )


def test_every_hash_is_distinct() -> None:
    variants = [
        {"aspect_ratio": "9:16"},
        {"duration": 6},
        {"generate_audio": False},
        {"seed": 0},
        {"negative_prompt": "x"},
        {"image": URL},
        {"reference_images": [REF]},
        {"reference_images": [REF, REF]},
    ]
    hashes = {VideoRequest.build(**{**BASE, **v}).request_hash() for v in variants}
    assert len(hashes) == len(variants)


def test_one_image_byte_changes_the_hash(tmp_path: Path) -> None:
    # BMP stores pixels raw: flipping one bit of the last pixel is a one-byte change of a file
    # that still decodes
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".bmp", np.full((8, 8, 3), 100, np.uint8))
    assert ok
    path = tmp_path / "a.bmp"
    path.write_bytes(buf.tobytes())
    before = build(image=str(path), resolution="720p").request_hash()
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    after = build(image=str(path), resolution="720p").request_hash()
    assert after != before


def test_images_count_by_content_not_by_path(make_png) -> None:
    a = make_png("a.png", (10, 20, 30))
    b = make_png("copy-with-another-name.png", (10, 20, 30))
    uri = "data:image/png;base64," + base64.b64encode(a.read_bytes()).decode()
    hashes = {build(image=x, resolution="720p").request_hash() for x in (str(a), str(b), uri)}
    assert len(hashes) == 1
    text = build(image=str(a), resolution="720p").canonical_json()
    assert str(a.parent) not in text and "a.png" not in text
    sha = hashlib.sha256(a.read_bytes()).hexdigest()
    assert f'"image":{{"sha256":"{sha}"}}' in text


def test_reference_image_order_matters() -> None:
    a = build(reference_images=[URL, URL2]).request_hash()
    b = build(reference_images=[URL2, URL]).request_hash()
    assert a != b


def test_veo_rules_flag_is_not_part_of_identity() -> None:
    a = build(resolution="720p", duration=4)
    b = build(resolution="720p", duration=4, veo_rules=False)
    assert a.request_hash() == b.request_hash()
    assert "veo_rules" not in a.canonical_json()


def test_with_seed() -> None:
    req = build(resolution="720p", duration=4)
    seeded = req.with_seed(42)
    assert (req.seed, seeded.seed) == (None, 42)
    assert seeded.request_hash() == build(resolution="720p", duration=4, seed=42).request_hash()


def test_to_record(make_png) -> None:
    png = make_png("a.png", (10, 20, 30))
    req = build(image=str(png), last_frame=URL2, resolution="720p", duration=4, seed=3)
    rec = req.to_record()
    sha = hashlib.sha256(png.read_bytes()).hexdigest()
    assert rec["image"] == {"sha256": sha}
    assert rec["last_frame"] == {"url": URL2}
    assert rec["image_sources"] == {"image": str(png), "last_frame": URL2, "reference_images": []}
    assert rec["veo_rules"] is True
    assert rec["request_hash"] == req.request_hash()
    json.dumps(rec)  # plain data


def test_model_dump_round_trips(make_png) -> None:
    png = make_png("a.png", (10, 20, 30))
    uri = "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()
    req = build(image=str(png), last_frame=uri, resolution="720p", duration=4, seed=3)
    dumped = req.model_dump()
    assert dumped["image"] == str(png)
    assert dumped["last_frame"] == uri
    assert "veo_rules" not in dumped
    assert json.loads(req.model_dump_json())["image"] == str(png)
    assert VideoRequest.build(**dumped).request_hash() == req.request_hash()
