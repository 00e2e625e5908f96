"""The Prompt Registry: one version per template content, runs linked to the version they used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from veolab.experiment.templates import PromptTemplates
from veolab.tracking import schema as S
from veolab.tracking.prompts import link_run, prompt_name, register_templates, resolved_text
from veolab.tracking.store import Tracker


def _render(root: Path, main: str, macro: str):
    root.mkdir(parents=True, exist_ok=True)
    (root / "macros.j2").write_text(macro)
    (root / "ad.j2").write_text(main)
    return PromptTemplates(root).render("ad.j2", {"subject": "a fox"})


MAIN = "{% from 'macros.j2' import light %}{{ subject }} in {{ light() }}"


def test_same_content_reuses_the_version_and_an_edited_macro_makes_a_new_one(tmp_path):
    tracker = Tracker()
    first = _render(tmp_path / "p1", MAIN, "{% macro light() %}soft dusk{% endmacro %}")
    v1 = register_templates(tracker, [("ad.j2", first.sha256, first.files)])[first.sha256]
    again = register_templates(tracker, [("ad.j2", first.sha256, first.files)])[first.sha256]
    assert (v1.name, v1.version) == ("veolab.ad", 1)
    assert again.version == v1.version

    edited = _render(tmp_path / "p2", MAIN, "{% macro light() %}hard noon{% endmacro %}")
    assert edited.sha256 != first.sha256
    v2 = register_templates(tracker, [("ad.j2", edited.sha256, edited.files)])[edited.sha256]
    assert v2.version == 2
    # the version holds the template as it was used: its own text and the macro it imported
    assert "hard noon" in v2.template and MAIN in v2.template
    assert v2.tags[S.PROMPT_SHA256] == edited.sha256
    assert v2.tags[S.PROMPT_TEMPLATE] == "ad.j2"


def test_a_linked_run_is_found_by_the_documented_filter(tmp_path):
    import mlflow

    tracker = Tracker()
    r = _render(tmp_path / "p", MAIN, "{% macro light() %}soft dusk{% endmacro %}")
    v = register_templates(tracker, [("ad.j2", r.sha256, r.files)])[r.sha256]
    exp = tracker.experiment_id("prompts-test")
    linked = tracker.client.create_run(exp).info.run_id
    other = tracker.client.create_run(exp).info.run_id
    link_run(tracker, linked, v)

    run = tracker.client.get_run(linked)
    assert json.loads(run.data.tags["mlflow.linkedPrompts"]) == [
        {"name": "veolab.ad", "version": "1"}
    ]
    found = mlflow.search_runs(
        [exp],
        filter_string=f"tags.`{S.PROMPT}` = 'prompts:/veolab.ad/1'",
        output_format="list",
    )
    assert [x.info.run_id for x in found] == [linked]
    assert other != linked


def test_a_registry_failure_is_a_warning_not_an_error(tmp_path):
    tracker = Tracker()
    # a registered model of the same name is not a prompt: MLflow refuses to add a version
    tracker.client.create_registered_model("veolab.ad")
    warnings: list[str] = []
    got = register_templates(tracker, [("ad.j2", "f" * 64, {"ad.j2": "x"})], warnings=warnings)
    assert got == {}
    assert len(warnings) == 1 and warnings[0].startswith("prompt registry: veolab.ad not")


@pytest.mark.parametrize(
    ("template", "experiment", "name"),
    [
        ("quickstart.j2", "", "veolab.quickstart"),
        ("ads/market.j2", "", "veolab.ads.market"),
        ("<inline prompt>", "market ab", "veolab.market-ab.inline"),
        ("we!rd name.txt", "", "veolab.we-rd-name.txt"),
    ],
)
def test_prompt_names(template, experiment, name):
    assert prompt_name(template, experiment) == name


def test_resolved_text_lists_each_dependency_once_in_name_order():
    text = resolved_text("a.j2", {"a.j2": "A", "c.j2": "C", "b.j2": "B"})
    assert text == "A\n{# ---- b.j2 ---- #}\nB\n{# ---- c.j2 ---- #}\nC"
