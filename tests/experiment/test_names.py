"""Compact run names: the swept values, as few words as tell them apart, short enough for
MLflow's run name column."""

from __future__ import annotations

from pathlib import Path

import pytest

from veolab.experiment import load_experiment
from veolab.experiment.names import MAX_LABEL, compact_labels
from veolab.experiment.plan import FREE, build_plan


@pytest.mark.parametrize(
    ("variants", "labels"),
    [
        # one word tells the values apart
        (
            [(None, {"weather": "dark", "camera": "drone"}), (None, {"weather": "sunny rain"})],
            ["dark·drone", "sunny"],
        ),
        # values alike in their first words keep as many as it takes
        (
            [(None, {"subject": "a red fox"}), (None, {"subject": "a red cat"})],
            ["a red fox", "a red cat"],
        ),
        # numbers and booleans say their key, cut before their value; the whole is cut too
        (
            [(None, {"duration": 4, "generate_audio": True}), (None, {"duration": 8})],
            ["duration=4·gene…", "duration=8"],
        ),
        (
            [(None, {"generate_audio": False}), (None, {"generate_audio": True})],
            ["gener…=false", "genera…=true"],
        ),
        # a named variant leaves out what its name fixes, keeps what varies within it
        (
            [
                ("cool", {"light": "blue hour", "pace": "slow walk"}),
                ("cool", {"light": "blue hour", "pace": "fast run"}),
                ("warm", {"light": "golden hour", "pace": "slow walk"}),
            ],
            ["cool·slow", "cool·fast", "warm"],
        ),
        # nothing swept
        ([(None, {})], ["default"]),
    ],
)
def test_compact_labels(variants, labels):
    assert compact_labels(variants) == labels


def test_long_values_are_cut_and_the_whole_stays_short():
    long = "x" * 60
    [one, two] = compact_labels(
        [(None, {"a": long + " one", "b": "b " * 30}), (None, {"a": long + " two", "b": "c"})]
    )
    assert (one, two) == ("xxxxxxxxxxx…·b", "xxxxxxxxxxx…·c")
    [three] = compact_labels([(None, {"a": "alpha " * 5, "b": "beta " * 5, "c": "gamma"})])
    assert three == "alpha·beta·gamma" and len(three) == MAX_LABEL


def test_the_plan_gives_every_run_its_short_label(tmp_path: Path):
    (tmp_path / "e.yaml").write_text(
        "name: n\nprompt: '{{ weather }} sky, {{ camera }} shot'\n"
        "vars: {weather: [dark and stormy, bright and clear], camera: [drone, handheld]}\n"
        "seeds: [1, 42]\nprovider: {name: sim}\n"
    )
    plan = build_plan(load_experiment(tmp_path / "e.yaml"), provider="sim", model="m", pricing=FREE)
    assert [(r.short_label, r.seed) for r in plan.runs][:3] == [
        ("dark·drone", 1),
        ("dark·drone", 42),
        ("dark·handheld", 1),
    ]
    assert plan.runs[0].variant_label == "weather=dark and stormy, camera=drone"
