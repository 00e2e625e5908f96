"""Image inputs: ``image`` is the first frame, ``last_frame`` the last, references tint."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from veolab.providers.sim.engine import SimDefects, render_mp4
from veolab.providers.sim.render import fit_image
from veolab.request import VideoRequest

W, H = 320, 180


def quadrants(w: int, h: int, colours: list[tuple[int, int, int]]) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = colours[0]
    img[: h // 2, w // 2 :] = colours[1]
    img[h // 2 :, : w // 2] = colours[2]
    img[h // 2 :, w // 2 :] = colours[3]
    return img


FIRST = quadrants(640, 360, [(230, 30, 30), (30, 230, 30), (30, 30, 230), (230, 230, 30)])
LAST = quadrants(640, 360, [(30, 230, 230), (230, 30, 230), (240, 240, 240), (20, 20, 20)])


@pytest.fixture
def images(tmp_path: Path) -> dict[str, str]:
    paths = {}
    for name, img in {
        "first": FIRST,
        "last": LAST,
        "square": np.full((100, 100, 3), 255, np.uint8),
        "green": np.full((30, 50, 3), (0, 255, 0), np.uint8),
    }.items():
        path = tmp_path / f"{name}.png"
        cv2.imwrite(str(path), img[..., ::-1])
        paths[name] = str(path)
    return paths


def frames(cache: dict, seed: int = 1, **fields: Any) -> np.ndarray:
    """Decoded frames at a quarter of the output size."""
    fields.setdefault("resolution", "720p")
    fields.setdefault("duration", 4)
    fields.setdefault("prompt", "a fast car")
    req = VideoRequest.build(seed=seed, **fields)
    key = ("images", req.request_hash(), req.veo_rules)
    if key not in cache:
        data = render_mp4(req, seed, SimDefects())
        geo = req.geometry()
        w, h = geo.width // 4, geo.height // 4
        with av.open(io.BytesIO(data)) as c:
            cache[key] = np.stack(
                [f.to_ndarray(format="rgb24", width=w, height=h) for f in c.decode(video=0)]
            ).astype(np.float32)
    return cache[key]


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_image_is_the_first_frame(sim_cache: dict, images: dict[str, str]) -> None:
    f = frames(sim_cache, image=images["first"])
    assert diff(f[0], fit_image(FIRST, W, H)) < 4
    assert diff(f[0], fit_image(LAST, W, H)) > 60
    # then it moves (a slow push-in and pan), it does not stand still
    diffs = np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3))
    assert diff(f[-1], f[0]) > 10
    assert (diffs > 0.05).mean() > 0.9


def test_last_frame_is_the_last_frame(sim_cache: dict, images: dict[str, str]) -> None:
    f = frames(sim_cache, image=images["first"], last_frame=images["last"])
    assert diff(f[0], fit_image(FIRST, W, H)) < 4
    assert diff(f[-1], fit_image(LAST, W, H)) < 4
    middle = f[len(f) // 2]
    assert diff(middle, f[0]) > 30 and diff(middle, f[-1]) > 30  # motion between
    # the way from first to last is gradual: no jump bigger than a few grey levels
    assert np.abs(np.diff(f, axis=0)).mean(axis=(1, 2, 3)).max() < 5


def test_image_is_scaled_to_fit(sim_cache: dict, images: dict[str, str]) -> None:
    wide = frames(sim_cache, image=images["square"])[0]  # a white square in a 16:9 frame
    assert wide[:, :40].mean() < 5 and wide[:, -40:].mean() < 5  # pillarbox
    assert wide[:, 100:220].mean() > 240
    tall = frames(sim_cache, image=images["first"], aspect_ratio="9:16")[0]
    assert tall.shape == (320, 180, 3)
    # the 16:9 image fills the width of the 9:16 frame: letterboxed, black above and below
    assert tall[:100].mean() < 5 and tall[-100:].mean() < 5
    assert diff(tall, fit_image(FIRST, 180, 320)) < 4


@pytest.mark.slow
def test_url_images_stand_in_as_flat_colours(sim_cache: dict) -> None:
    a = frames(sim_cache, image="https://example.com/a.png")[0]
    b = frames(sim_cache, image="https://example.com/b.png")[0]
    assert a.reshape(-1, 3).std(axis=0).max() < 3  # one flat colour
    assert diff(a, b) > 10  # chosen by the URL
    again = frames(sim_cache, seed=2, image="https://example.com/a.png")[0]
    assert diff(a, again) < 2  # not by the seed


@pytest.mark.slow
def test_reference_images_tint_the_palette(sim_cache: dict, images: dict[str, str]) -> None:
    plain = frames(sim_cache, prompt="a lake", veo_rules=False).mean(axis=(0, 1, 2))
    tinted = frames(
        sim_cache, prompt="a lake", reference_images=[images["green"]], veo_rules=False
    ).mean(axis=(0, 1, 2))
    assert tinted[1] > plain[1] + 30  # greener
    assert tinted[1] > 2 * max(tinted[0], tinted[2])
