"""``veolab check``: exit codes, the table of checks, --json, --thumbnails, bad input."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from media import encode, known_clip, pattern, tone

from veolab.cli import cli


@functools.cache
def _good() -> bytes:
    """2 s, 320x180, 24 fps, with sound: passes --duration 2 --resolution 320x180 --audio."""
    return encode([pattern(i) for i in range(48)], audio=tone(2.0))


@pytest.fixture
def good(tmp_path) -> Path:
    path = tmp_path / "good.mp4"
    path.write_bytes(_good())
    return path


@pytest.fixture
def known(tmp_path) -> Path:
    path = tmp_path / "known.mp4"
    path.write_bytes(known_clip())
    return path


def _rows(output: str) -> dict[str, list[str]]:
    """The table rows by check name: [name, PASS/FAIL, value, expected...]."""
    rows = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in ("PASS", "FAIL"):
            rows[parts[0]] = parts
    return rows


def run(*args: str):
    return CliRunner().invoke(cli, ["check", *args])


def test_passing_clip_exits_0_with_a_table(good):
    result = run(str(good), "--duration", "2", "--resolution", "320x180", "--audio")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("good.mp4: mp4 (isom), ")
    assert lines[1] == "video: h264 High 320x180 yuv420p, 24 fps, 48 frames, 2.000 s"
    assert lines[2].startswith("audio: aac LC 48000 Hz stereo, 2.0")
    assert lines[3].split() == ["check", "result", "value", "expected"]
    rows = _rows(result.output)
    assert list(rows) == [
        "duration",
        "resolution",
        "aspect_ratio",
        "fps",
        "frame_count",
        "audio_present",
        "audio_not_silent",
        "black_segments",
        "frozen_segments",
    ]
    assert rows["duration"] == ["duration", "PASS", "2", "2", "+/-", "0.1", "s"]
    assert rows["resolution"] == ["resolution", "PASS", "320x180", "320x180"]
    assert rows["aspect_ratio"] == ["aspect_ratio", "PASS", "16:9", "16:9"]
    assert rows["frame_count"] == ["frame_count", "PASS", "48", "48"]
    assert rows["audio_present"] == ["audio_present", "PASS", "yes", "audio", "stream"]
    assert lines[-1] == "PASSED: all 9 checks"


def test_failing_clip_exits_1_and_names_the_failures(known):
    result = run(str(known), "--duration", "8", "--resolution", "720p", "--no-audio")
    assert result.exit_code == 1, result.output
    rows = _rows(result.output)
    assert rows["duration"][:3] == ["duration", "FAIL", "6"]
    assert rows["resolution"][:4] == ["resolution", "FAIL", "320x180", "1280x720"]
    assert rows["aspect_ratio"][:2] == ["aspect_ratio", "PASS"]
    assert rows["frame_count"][:4] == ["frame_count", "FAIL", "144", "192"]
    assert rows["audio_present"] == ["audio_present", "FAIL", "yes", "no", "audio", "stream"]
    assert rows["black_segments"][:3] == ["black_segments", "FAIL", "0.75"]
    assert rows["frozen_segments"][:3] == ["frozen_segments", "FAIL", "1.25"]
    assert result.output.splitlines()[-1] == (
        "FAILED: 6 of 8 checks (duration, resolution, frame_count, audio_present, "
        "black_segments, frozen_segments)"
    )


def test_only_the_asked_for_expectations_are_checked(good):
    result = run(str(good), "--fps", "0")
    assert result.exit_code == 0
    assert list(_rows(result.output)) == ["black_segments", "frozen_segments"]


def test_json_output_is_the_documented_contract(known, tmp_path):
    result = run(str(known), "--duration", "6", "--json", "--thumbnails", str(tmp_path / "th"))
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert list(doc) == ["probe", "metrics", "checks", "passed"]
    assert doc["passed"] is False
    assert doc["checks"][0] == {
        "name": "duration",
        "passed": True,
        "value": 6.0,
        "expected": "6 +/- 0.1 s",
    }
    assert doc["metrics"]["n_cuts"] == 4
    assert doc["probe"]["video"]["width"] == 320
    assert "Wrote 12 images" in result.stderr
    assert (tmp_path / "th" / "contact_sheet.jpg").stat().st_size > 1000
    assert len(list((tmp_path / "th" / "thumbnails").glob("*.jpg"))) == 11


def test_thresholds_can_be_overridden(known):
    result = run(str(known), "-t", "max_black_segment=1", "-t", "max-frozen-segment=2")
    assert result.exit_code == 0, result.output
    assert " ".join(_rows(result.output)["black_segments"][1:]) == "PASS 0.75 longest <= 1 s"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-t", "max_blak_segment=1"], "Error: --threshold: max_blak_segment: unknown field"),
        (
            ["-t", "nonsense"],
            "Error: --threshold 'nonsense': use NAME=VALUE, e.g. max_black_segment=0.25",
        ),
        (
            ["-t", "max_black_segment=-1"],
            "Error: --threshold: max_black_segment: Input should be greater than or equal to 0",
        ),
    ],
)
def test_bad_thresholds_exit_2(good, args, message):
    result = run(str(good), *args)
    assert result.exit_code == 2
    assert result.stderr.strip() == message


def test_bad_resolution_exits_2(good):
    result = run(str(good), "--resolution", "8k")
    assert result.exit_code == 2
    assert "use 720p, 1080p, 4k or WIDTHxHEIGHT" in result.stderr


def test_4k_and_the_new_ratios_name_their_sizes():
    from veolab.cli.check import _parse_resolution

    assert _parse_resolution("4K", None) == (3840, 2160)
    assert _parse_resolution("4k", "9:16") == (2160, 3840)
    assert _parse_resolution("720p", "4:3") == (960, 720)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "Error: {path}: no such file"),
        (b"", "Error: {path} is empty: not a video"),
        (
            b"<html>502 Bad Gateway</html>" * 40,
            "Error: {path} cannot be read as a video: Invalid data found when processing input",
        ),
    ],
)
def test_unanalysable_file_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    result = run(str(path))
    assert result.exit_code == 2
    assert result.stderr == message.format(path=path) + "\n"
    assert "Traceback" not in result.output


def test_truncated_file_exits_2(tmp_path):
    data = encode([pattern(i) for i in range(48)], faststart=True)
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: len(data) * 6 // 10])
    result = run(str(path), "--duration", "2")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {path} is truncated or corrupt: decoding ")
    assert result.stdout == ""


def test_help_lists_the_options():
    result = CliRunner().invoke(cli, ["check", "--help"])
    assert result.exit_code == 0
    for opt in (
        "--duration",
        "--resolution",
        "--aspect-ratio",
        "--audio / --no-audio",
        "--negative-prompt",
        "--json",
        "--thumbnails",
        "--threshold",
    ):
        assert opt in result.output


def _process(*args: str):
    return subprocess.run(
        [sys.executable, "-m", "veolab", "check", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_process_exits_with_the_verdict_and_all_its_output(good, known):
    """`veolab check` ends without the interpreter's teardown: nothing written may be lost."""
    passed = _process(str(good), "--duration", "2", "--json")
    assert passed.returncode == 0, passed.stderr
    assert json.loads(passed.stdout)["passed"] is True  # the whole document, flushed
    failed = _process(str(known), "--duration", "9")
    assert failed.returncode == 1
    assert failed.stdout.splitlines()[-1].startswith("FAILED: ")
    missing = _process(str(good.parent / "nope.mp4"))
    assert (missing.returncode, missing.stdout) == (2, "")
    assert missing.stderr == f"Error: {good.parent / 'nope.mp4'}: no such file\n"


def test_the_process_runs_openblas_and_opencv_single_threaded_unless_told(good, tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys\n"
        "from veolab.cli import main\n"
        "sys.argv = ['veolab', '--version']\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    import cv2\n"
        "    print(os.environ['OPENBLAS_NUM_THREADS'], cv2.getNumThreads(), file=sys.stderr)\n"
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENBLAS_NUM_THREADS", "OPENCV_FOR_THREADS_NUM")
    }
    default = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True, env=env)
    assert default.stderr.split() == ["1", "1"]
    told = subprocess.run(
        [sys.executable, str(probe)],
        capture_output=True,
        text=True,
        env={**env, "OPENBLAS_NUM_THREADS": "2", "OPENCV_FOR_THREADS_NUM": "2"},
    )
    assert told.stderr.split() == ["2", "2"]


def test_the_report_reads_at_80_columns_piped(known):
    result = run(str(known), "--duration", "2")
    lines = result.stdout.splitlines()
    assert [ln for ln in lines if len(ln) > 80] == []
    picture = next(i for i, ln in enumerate(lines) if ln.startswith("picture: brightness "))
    assert lines[picture + 1].startswith("  ") and "cuts " in lines[picture + 1]
