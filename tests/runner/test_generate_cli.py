"""``veolab generate``: exact output, exit codes, and no file on any error."""

from __future__ import annotations

import io
from pathlib import Path

import av
import click
import pytest
from click.testing import CliRunner, Result

from veolab import errors
from veolab.cli import cli
from veolab.cli.common import handle_errors
from veolab.providers import available_providers
from veolab.providers.sim import SimProvider
from veolab.request import VideoRequest

FOX = "a red fox running through snow"
# sha256 of the canonical JSON of FOX at 720p, 4 s, seed 7 (a stable contract: see docs/generate.md)
FOX_HASH = "fe1f4fb48337f2f38269da841be257618a165e27eac3635a27a75817e21b3bd3"
FAST = ["--resolution", "720p", "--duration", "4"]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["generate", *args], prog_name="veolab")


@pytest.fixture
def out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder, also the working directory (where default names land)."""
    folder = tmp_path / "out"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def test_generate_prints_path_seed_and_hash(out: Path) -> None:
    target = out / "fox.mp4"
    result = run("-p", FOX, *FAST, "--seed", "7", "-o", str(target))
    assert result.exit_code == 0, result.output
    size = target.stat().st_size
    assert result.stdout == (
        f"Wrote {target} ({size / 1e6:.2f} MB)\nseed: 7\nrequest hash: {FOX_HASH}\ncost: $0.00\n"
    )
    assert result.stderr == ""
    assert sorted(p.name for p in out.iterdir()) == ["fox.mp4"]  # no temporary left behind
    with av.open(io.BytesIO(target.read_bytes())) as c:
        v = c.streams.video[0].codec_context
        assert (v.width, v.height) == (1280, 720)
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size) == 96
        assert len(c.streams.audio) == 1
    assert (
        FOX_HASH
        == VideoRequest.build(prompt=FOX, resolution="720p", duration=4, seed=7).request_hash()
    )


def test_every_parameter_is_an_option(out: Path, make_png) -> None:
    first = make_png("first.png", (200, 30, 30))
    last = make_png("last.png", (30, 30, 200))
    result = run(
        "--prompt", "a calm blue sea", "--negative-prompt", "people",
        "--aspect-ratio", "9:16", "--duration", "4", "--resolution", "720p", "--no-audio",
        "--image", str(first), "--last-frame", str(last), "--seed", "3", "-o", "sea.mp4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = VideoRequest.build(
        prompt="a calm blue sea",
        negative_prompt="people",
        aspect_ratio="9:16",
        duration=4,
        resolution="720p",
        generate_audio=False,
        image=str(first),
        last_frame=str(last),
        seed=3,
    ).request_hash()
    assert result.stdout.splitlines()[2] == f"request hash: {expected}"
    with av.open(str(out / "sea.mp4")) as c:
        v = c.streams.video[0].codec_context
        assert (v.width, v.height) == (720, 1280)
        assert len(c.streams.audio) == 0


def test_reference_images_option(out: Path) -> None:
    refs = ["https://example.com/1.png", "https://example.com/2.png"]
    result = run(
        "-p", "a lake", "--resolution", "720p", "--seed", "1", "--no-audio",
        "--reference-image", refs[0], "--reference-image", refs[1], "-o", "lake.mp4",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    expected = VideoRequest.build(
        prompt="a lake", resolution="720p", seed=1, generate_audio=False, reference_images=refs
    ).request_hash()
    assert f"request hash: {expected}\n" in result.stdout


def test_no_seed_reports_the_one_used(out: Path) -> None:
    result = run("-p", FOX, *FAST, "--no-audio", "-o", "fox.mp4")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[1].startswith("seed: ")
    seed = int(lines[1].removeprefix("seed: "))
    made = VideoRequest.build(
        prompt=FOX, resolution="720p", duration=4, generate_audio=False, seed=seed
    )
    assert lines[2] == f"request hash: {made.request_hash()}"


def test_default_output_name(out: Path) -> None:
    result = run("-p", FOX, *FAST, "--seed", "7")
    assert result.exit_code == 0, result.output
    name = f"veolab-{FOX_HASH[:12]}.mp4"
    assert [p.name for p in out.iterdir()] == [name]
    assert result.stdout.startswith(f"Wrote {name} (")


def test_no_veo_rules(out: Path) -> None:
    args = ["-p", FOX, *FAST, "--seed", "7", "--last-frame", "https://example.com/l.png"]
    refused = run(*args, "-o", "x.mp4")
    assert refused.exit_code == 2
    assert list(out.iterdir()) == []
    relaxed = run(*args, "--no-veo-rules", "-o", "x.mp4")
    assert relaxed.exit_code == 0, relaxed.output
    assert (out / "x.mp4").is_file()


def test_api_key_never_printed(out: Path) -> None:
    result = run("-p", FOX, *FAST, "--seed", "7", "--api-key", "sk-secret-123", "-o", "a.mp4")
    assert result.exit_code == 0
    assert "sk-secret-123" not in result.output


BAD = [
    (
        [*FAST[2:], "-p", FOX],  # 1080p (the default) with 4 s
        "Error: resolution 1080p requires duration 8 (got duration 4): use --duration 8 or "
        "--resolution 720p (Veo 3.1 rules; --no-veo-rules turns them off)",
    ),
    (["-p", "   ", *FAST], "Error: prompt: must not be empty"),
    (["-p", FOX, *FAST, "--seed", "-1"], "Error: seed: Input should be greater than or equal to 0"),
    (
        ["-p", FOX, *FAST, "--seed", "4294967296"],
        "Error: seed: Input should be less than or equal to 4294967295",
    ),
    (
        ["-p", FOX, *FAST, "--image", "missing.png"],
        "Error: image file not found: missing.png (check the path)",
    ),
    (
        ["-p", FOX, *FAST, "--image", "notes.txt"],
        "Error: image file notes.txt does not decode as an image: give a PNG, JPEG, WebP or "
        "BMP file",
    ),
    (
        ["-p", FOX, *FAST, "--image", "ftp://example.com/a.png"],
        "Error: unsupported image URL scheme in 'ftp://example.com/a.png': use http(s), a "
        "data: URI or a path",
    ),
    (
        [
            "-p",
            FOX,
            "--resolution",
            "720p",
            *[f"--reference-image=https://e.com/{i}" for i in "1234"],
        ],
        "Error: reference_images: at most 3 allowed (got 4)",
    ),
    (
        ["-p", FOX, *FAST, "--last-frame", "https://example.com/l.png"],
        "Error: last_frame requires image (a first frame): add --image (Veo 3.1 rules; "
        "--no-veo-rules turns them off)",
    ),
    (
        ["-p", FOX, "--model", "veo-3.1-lite", "--reference-image", "https://e.com/r.png"],
        "Error: reference_images not offered by sim veo-3.1-lite: change the parameter or "
        "--model (--no-veo-rules sends it anyway)",
    ),
    (
        ["-p", FOX, "--resolution", "4k", "--fps", "30"],
        "Error: 4k not offered by sim veo-3.1 (720p, 1080p); fps 30 not offered by sim veo-3.1 "
        "(24): change the parameter or --model (--no-veo-rules sends it anyway)",
    ),
    (
        ["-p", FOX, *FAST, "--provider", "nope"],
        # every installed provider, whatever other hosts are installed
        f"Error: unknown provider 'nope': choose one of {', '.join(available_providers())}",
    ),
    (
        ["-p", FOX, *FAST, "-o", "/proc/no/such/dir/x.mp4"],
        "Error: cannot write the output /proc/no/such/dir/x.mp4: No such file or directory "
        "(check -o/--output)",
    ),
]


@pytest.mark.parametrize(("args", "line"), BAD)
def test_bad_input_is_one_line_exit_2_and_no_file(out: Path, args: list[str], line: str) -> None:
    (out / "notes.txt").write_text("not an image\n")
    result = run(*args, "-o", "x.mp4") if "-o" not in args else run(*args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr == line + "\n"
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert isinstance(result.exception, SystemExit)  # no traceback


USAGE = [
    (
        ["-p", FOX, "--duration", "5"],
        "Error: Invalid value for '--duration': '5' is not one of '4', '6', '8'.",
    ),
    (["--resolution", "720p"], "Error: Missing option '-p' / '--prompt'."),
    (
        ["-p", FOX, "--seed", "abc"],
        "Error: Invalid value for '--seed': 'abc' is not a valid integer.",
    ),
    (
        ["-p", FOX, "--aspect-ratio", "2:1"],
        "Error: Invalid value for '--aspect-ratio': '2:1' is not one of '16:9', '9:16', '4:3', "
        "'1:1', '3:4'.",
    ),
    (
        ["-p", FOX, "--fps", "25"],
        "Error: Invalid value for '--fps': '25' is not one of '24', '30'.",
    ),
]


@pytest.mark.parametrize(("args", "last_line"), USAGE)
def test_click_usage_errors_exit_2(out: Path, args: list[str], last_line: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    # one line: what is wrong and where the help is, no usage dump
    assert result.stderr == f"{last_line} (see 'veolab generate --help')\n"
    assert list(out.iterdir()) == []


def test_provider_failure_exits_3_without_a_file(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refuse(self: SimProvider, request: VideoRequest, **_: object) -> None:
        raise errors.ProviderConnectionError("could not reach the host: connection refused")

    monkeypatch.setattr(SimProvider, "generate", refuse)
    result = run("-p", FOX, *FAST, "--seed", "7", "-o", "x.mp4")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == "Error: could not reach the host: connection refused\n"
    assert list(out.iterdir()) == []
    # an output folder made for the video is not left behind, empty, by the failure
    result = run("-p", FOX, *FAST, "--seed", "7", "-o", "new/sub/x.mp4")
    assert result.exit_code == 3
    assert list(out.iterdir()) == []


def test_output_that_is_not_an_mp4_exits_3_without_a_file(
    out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veolab.providers import ProviderResult

    async def html(self: SimProvider, request: VideoRequest, **_: object) -> ProviderResult:
        return ProviderResult(video=b"<!DOCTYPE html><html>502 Bad Gateway</html>", seed=1)

    monkeypatch.setattr(SimProvider, "generate", html)
    result = run("-p", FOX, *FAST, "--seed", "7", "-o", "x.mp4")
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: the output is an HTML page, not a video: the host returned an error\n"
    )
    assert list(out.iterdir()) == []


def test_veo_3_takes_4_3_at_30_fps(out: Path) -> None:
    target = out / "square.mp4"
    args = ["--model", "veo-3", "--aspect-ratio", "4:3", "--fps", "30", "--seed", "7"]
    result = run("-p", FOX, *FAST, *args, "-o", str(target))
    assert result.exit_code == 0, result.output
    with av.open(io.BytesIO(target.read_bytes())) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height, v.average_rate) == (960, 720, 30)
        assert v.frames == 120


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(cli, ["generate", "--help"], prog_name="veolab")
    assert result.exit_code == 0
    assert result.stdout.startswith("Usage: veolab generate [OPTIONS]\n")
    for option in (
        "--prompt", "--negative-prompt", "--aspect-ratio", "--duration", "--resolution",
        "--audio / --no-audio", "--image", "--last-frame", "--reference-image", "--seed",
        "--no-veo-rules", "--provider", "--model", "--output", "--fps",
    ):  # fmt: skip
        assert option in result.stdout, option


# -- the exit-code contract of every command -----------------------------------------------


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.VeolabError("a check failed"), 1),
        (errors.BudgetExceededError("a check failed"), 1),
        (errors.AbortedError("a check failed"), 1),
        (errors.ConfigError("a check failed"), 2),
        (errors.RequestError("a check failed"), 2),
        (errors.ImageReferenceError("a check failed"), 2),
        (errors.MissingKeyError("a check failed"), 2),
        (errors.UnknownProviderError("a check failed"), 2),
        (errors.AnalysisError("a check failed"), 2),
        (errors.ProviderError("a check failed"), 3),
        (errors.ProviderConnectionError("a check failed"), 3),
        (errors.RateLimitError("a check failed"), 3),
        (errors.ServerError("a check failed"), 3),
        (errors.InvalidOutputError("a check failed"), 3),
        (errors.OutcomeUnknownError("a check failed"), 3),
        (errors.TrackingError("a check failed"), 3),
    ],
)
def test_handle_errors_maps_exit_codes(exc: Exception, code: int) -> None:
    @click.command()
    @handle_errors
    def boom() -> None:
        raise exc

    result = CliRunner().invoke(boom, [])
    assert result.exit_code == code
    assert result.stderr == "Error: a check failed\n"
    assert result.stdout == ""


def test_ok_is_exit_0_and_interrupt_is_130() -> None:
    @click.command()
    @handle_errors
    def fine() -> None:
        click.echo("done")

    @click.command()
    @handle_errors
    def interrupted() -> None:
        raise KeyboardInterrupt

    assert (CliRunner().invoke(fine, []).exit_code, CliRunner().invoke(fine, []).stdout) == (
        0,
        "done\n",
    )
    result = CliRunner().invoke(interrupted, [])
    assert (result.exit_code, result.stderr) == (130, "Interrupted.\n")
