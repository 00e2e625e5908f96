"""Malformed experiment files: each gives one line naming the file and the field, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli

GOOD = """\
name: t
template: t.j2
vars: {subject: a fox}
params: {resolution: 720p, duration: 4}
seeds: [1]
"""

# (file text, expected message after "<path>: ")
BAD = [
    ("name: t\n", "give exactly one of `template:` (a file in prompts/) or `prompt:`"),
    ("template: t.j2\n", "name: required field is missing"),
    (
        GOOD + "seedz: [1]\n",
        "seedz: unknown field (check the spelling; see docs/experiments.md)",
    ),
    (
        GOOD.replace("duration: 4", "duration: 5"),
        "run resolution=720p, duration=5: duration: Input should be 4, 6 or 8 (got 5)",
    ),
    (
        GOOD.replace("resolution: 720p", "resolution: 8k"),
        "run resolution=8k, duration=4: resolution: Input should be '720p', '1080p' or '4k' "
        "(got '8k')",
    ),
    (
        GOOD.replace("params: {", "params: {colour: red, "),
        "params: unknown param 'colour': allowed are negative_prompt, aspect_ratio, duration, "
        "resolution, generate_audio, image, last_frame, reference_images, fps",
    ),
    (
        GOOD.replace("params: {", "params: {seed: 3, "),
        "params: seed is not a param: use `seeds:` or `repeats:` with `base_seed:`",
    ),
    (
        GOOD.replace("seeds: [1]", "seeds: [1, 1]"),
        "seeds: seeds repeat: each seed is one run, list each once",
    ),
    (GOOD.replace("seeds: [1]", "seeds: [-1]"), "seeds: seed -1 is outside 0..4294967295"),
    (GOOD.replace("seeds: [1]", "seeds: []"), "seeds: give at least one seed"),
    (GOOD + "repeats: 3\n", "give `seeds:` or `repeats:` (with `base_seed:`), not both"),
    (
        GOOD + "zip: {a: [1, 2], b: [1]}\n",
        "zip: zip lists must have the same length (got {'a': 2, 'b': 1})",
    ),
    (GOOD + "concurrency: 0\n", "concurrency: Input should be greater than or equal to 1"),
    (GOOD + "budget: -1\n", "budget: Input should be greater than or equal to 0"),
    (
        GOOD + "provider: {name: sim, modle: veo-3.1}\n",
        "provider.modle: unknown field (sim takes: model, base_url, connect_timeout, "
        "read_timeout, job_timeout, max_in_flight, latency, jitter, defects)",
    ),
    (
        GOOD + "provider: {name: sim, mode: queue}\n",
        "provider.mode: unknown field (sim takes: model, base_url, connect_timeout, "
        "read_timeout, job_timeout, max_in_flight, latency, jitter, defects)",
    ),
    (
        GOOD + "provider: {name: segmind, mode: fast}\n",
        "provider.mode: Input should be 'queue' or 'sync' (got 'fast')",
    ),
    (
        GOOD + "provider: {api_key: SG_abcd}\n",
        "provider: api_key: an API key never goes in an experiment file: set the provider's "
        "key variable (SEGMIND_API_KEY) or pass --api-key",
    ),
    (
        GOOD + "provider: {model: veo-4}\n",
        "provider.model: Input should be 'veo-3.1', 'veo-3.1-fast', 'veo-3.1-lite', 'veo-3' or "
        "'veo-3-fast' (got 'veo-4')",
    ),
    (
        GOOD + "variants: [{name: a}, {name: a}]\n",
        "variant names repeat: give each variant a distinct name",
    ),
    (GOOD + "variants: [{vars: {x: 1}}]\n", "variants.0.name: required field is missing"),
    (
        GOOD.replace("resolution: 720p", "resolution: 1080p"),
        "run resolution=1080p, duration=4: resolution 1080p requires duration 8 "
        "(got duration 4): use --duration 8 or "
        "--resolution 720p (Veo 3.1 rules; --no-veo-rules turns them off)",
    ),
    (
        GOOD.replace("params: {", "params: {image: missing.png, "),
        "params.image: image file not found: {dir}/missing.png (check the path)",
    ),
    ("- just\n- a list\n", "an experiment file must be a YAML mapping (name:, template:, ...)"),
    (
        "name: [unclosed\n",
        " line 2: expected ',' or ']', but got '<stream end>': fix the YAML syntax",
    ),
    (
        GOOD.replace("name: t", "name: a/b"),
        "name: use letters, digits, '-', '_', '.' and spaces only",
    ),
    (GOOD + "checks: {max_black_segmnt: 1}\n", "checks: max_black_segmnt: unknown field"),
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "t.j2").write_text("{{ subject }} in the snow")
    (tmp_path / "experiments").mkdir()
    return tmp_path


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_experiment_file(project: Path, text: str, expected: str) -> None:
    path = project / "experiments" / "bad.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 2, result.output
    expected = expected.replace("{dir}", str(path.parent))
    sep = ":" if expected.startswith(" line") else ": "
    assert result.stderr == f"Error: {path}{sep}{expected}\n"
    assert "Traceback" not in result.output


def test_missing_file_and_missing_variable(project: Path) -> None:
    r = CliRunner().invoke(cli, ["plan", str(project / "nope.yaml")])
    assert (r.exit_code, r.stderr) == (
        2,
        f"Error: experiment file not found: {project / 'nope.yaml'}\n",
    )
    path = project / "experiments" / "e.yaml"
    path.write_text(GOOD.replace("vars: {subject: a fox}", "vars: {}"))
    r = CliRunner().invoke(cli, ["plan", str(path)])
    assert r.exit_code == 2
    assert (
        r.stderr
        == f"Error: template t.j2: 'subject' is undefined: add it to vars in {path.resolve()}\n"
    )


def test_at_least_fifteen_cases() -> None:
    assert len(BAD) >= 15
