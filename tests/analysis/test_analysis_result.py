"""Thumbnails, the contact sheet, images on disk, bytes vs path, and constant memory."""

from __future__ import annotations

import functools

import cv2
import numpy as np
import pytest
from media import BLACK, encode, known_clip, pattern

from veolab.analysis import analyze_video, probe_video


@functools.cache
def _known():
    return analyze_video(known_clip())


def _image(jpeg: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def test_thumbnail_names_and_times():
    res = _known()  # 6 s at 24 fps: eight slices of 0.75 s, stills at their middles
    names = [t.name for t in res.thumbnails]
    assert names == [
        "first",
        "t01_0.38s",
        "t02_1.12s",
        "t03_1.88s",
        "t04_2.62s",
        "middle",
        "t05_3.38s",
        "t06_4.12s",
        "t07_4.88s",
        "t08_5.62s",
        "last",
    ]
    times = {t.name: t.time_s for t in res.thumbnails}
    assert times["first"] == 0.0 and times["middle"] == 3.0
    assert times["last"] == pytest.approx(143 / 24, abs=1e-6)
    assert times["t03_1.88s"] == pytest.approx(1.875, abs=1e-6)


def test_thumbnails_show_the_frame_at_their_time():
    res = _known()
    by = {t.name: _image(t.jpeg) for t in res.thumbnails}
    assert by["first"].shape == (180, 320, 3)  # 320 wide, aspect kept
    assert by["t03_1.88s"].mean() < 20  # inside the black span 1.25-2.0 s
    assert by["t02_1.12s"].mean() > 60
    last = by["last"].astype(int)  # the grey span: no colour
    assert np.abs(last[..., 0] - last[..., 2]).mean() < 4


def test_thumbnail_width_and_count_are_settings():
    res = analyze_video(known_clip(), n_thumbnails=3, thumb_width=160)
    assert [t.name for t in res.thumbnails] == [
        "first",
        "t01_1.00s",
        "middle",
        "t02_3.00s",
        "t03_5.00s",
        "last",
    ]
    assert _image(res.thumbnails[0].jpeg).shape == (90, 160, 3)


def test_contact_sheet_is_one_grid_of_every_still():
    res = _known()
    sheet = _image(res.contact_sheet)
    # 11 stills in 4 columns: 3 rows of 180 px tiles plus 35 px labels and padding
    assert sheet.shape == (6 + 3 * (180 + 35 + 6), 6 + 4 * (320 + 6), 3)


def test_contact_sheet_labels_are_large_white_on_black():
    sheet = _image(_known().contact_sheet)
    band = sheet[6 + 180 : 6 + 180 + 35, 6 : 6 + 320]  # under the first still
    text_rows = np.flatnonzero((band.max(axis=2) > 128).any(axis=1))
    assert text_rows.size and text_rows[-1] - text_rows[0] + 1 >= 16  # was 9 px
    assert band[:3].max() < 40 and band.max() > 240  # black band, white text


def test_write_images(tmp_path):
    res = _known()
    paths = res.write_images(tmp_path / "out")
    rel = sorted(str(p.relative_to(tmp_path / "out")) for p in paths)
    assert rel == sorted(
        [f"thumbnails/{t.name}.jpg" for t in res.thumbnails] + ["contact_sheet.jpg"]
    )
    assert (tmp_path / "out" / "contact_sheet.jpg").read_bytes() == res.contact_sheet
    assert not list((tmp_path / "out").rglob("*.part"))


def test_bytes_and_path_give_the_same_result(tmp_path):
    data = known_clip()
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    from_path, from_bytes = analyze_video(path), analyze_video(data)
    assert from_path.to_dict() == from_bytes.to_dict()
    assert from_path.contact_sheet == from_bytes.contact_sheet
    assert probe_video(path) == from_path.probe
    assert probe_video(memoryview(data)).size_bytes == len(data)


def test_a_clip_shorter_than_a_slice_still_gets_every_still():
    res = analyze_video(encode([pattern(0), BLACK]))
    assert [t.name for t in res.thumbnails][:2] == ["first", "t01_0.00s"]
    assert res.thumbnails[-1].name == "last"
    assert res.metrics.frame_count == 2


def test_decoding_on_a_thread_gives_the_same_result():
    data = known_clip()
    threaded, serial = analyze_video(data), analyze_video(data, decode_thread=False)
    assert threaded.to_dict() == serial.to_dict()
    assert [t.jpeg for t in threaded.thumbnails] == [t.jpeg for t in serial.thumbnails]


def test_leaving_the_frame_loop_early_stops_the_decode_thread():
    import io
    import threading

    import av

    from veolab.analysis.decode import open_frames

    with av.open(io.BytesIO(known_clip())) as container:
        with open_frames(container, [container.streams.video[0]]) as frames:
            for n, _ in enumerate(frames, 1):
                if n == 3:
                    break
            assert [t for t in threading.enumerate() if t.name == "veolab-decode"]
        assert not [t for t in threading.enumerate() if t.name == "veolab-decode"]
