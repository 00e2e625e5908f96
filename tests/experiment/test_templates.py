from __future__ import annotations

from pathlib import Path

import pytest

from veolab.errors import TemplateError
from veolab.experiment.templates import INLINE, PromptTemplates, clean_prompt

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    root = tmp_path / "prompts"
    (root / "macros").mkdir(parents=True)
    (root / "macros" / "cam.j2").write_text(
        '{% macro cam(k) %}{% if k == "wide" %}wide shot{% else %}{{ k }}{% endif %}{% endmacro %}'
    )
    (root / "style.j2").write_text("shot on 35mm film")
    (root / "scene.j2").write_text(
        '{% import "macros/cam.j2" as m %}\n'
        "{{ subject }}   walks\n\n   in {{ light }},\n"
        "{{ m.cam(shot) }}, {% include 'style.j2' %}\n"
    )
    return root


def test_render_with_import_and_include_is_clean(prompts: Path) -> None:
    r = PromptTemplates(prompts).render(
        "scene.j2", {"subject": "a fox", "light": "dusk", "shot": "wide"}
    )
    assert r.text == "a fox walks in dusk, wide shot, shot on 35mm film"
    assert r.template == "scene.j2"
    assert r.source.startswith('{% import "macros/cam.j2" as m %}')
    assert len(r.sha256) == 64


def test_missing_variable_names_variable_and_template(prompts: Path) -> None:
    with pytest.raises(TemplateError) as exc:
        PromptTemplates(prompts).render(
            "scene.j2", {"subject": "a fox", "shot": "wide"}, where="exp.yaml"
        )
    assert str(exc.value) == "template scene.j2: 'light' is undefined: add it to vars in exp.yaml"


def test_hash_covers_included_and_imported_templates(prompts: Path) -> None:
    before = PromptTemplates(prompts).render(
        "scene.j2", {"subject": "a", "light": "b", "shot": "c"}
    )
    (prompts / "style.j2").write_text("shot on 16mm film")
    after = PromptTemplates(prompts).render("scene.j2", {"subject": "a", "light": "b", "shot": "c"})
    assert before.sha256 != after.sha256
    assert after.text.endswith("shot on 16mm film")
    (prompts / "style.j2").write_text("shot on 35mm film")
    (prompts / "macros" / "cam.j2").write_text("{% macro cam(k) %}{{ k }}!{% endmacro %}")
    changed_macro = PromptTemplates(prompts).render(
        "scene.j2", {"subject": "a", "light": "b", "shot": "c"}
    )
    assert changed_macro.sha256 not in (before.sha256, after.sha256)


def test_unknown_template_and_syntax_error(prompts: Path) -> None:
    with pytest.raises(TemplateError, match=r"template 'nope.j2' not found in .*prompts"):
        PromptTemplates(prompts).render("nope.j2", {})
    (prompts / "bad.j2").write_text("{{ subject ")
    with pytest.raises(TemplateError, match=r"template bad.j2: line 1: unexpected end of template"):
        PromptTemplates(prompts).render("bad.j2", {"subject": "x"})


def test_inline_prompt_and_empty_render() -> None:
    t = PromptTemplates(None)
    r = t.render(None, {"x": "red"}, inline="a {{ x }}   car")
    assert (r.text, r.template) == ("a red car", INLINE)
    with pytest.raises(TemplateError, match="rendered an empty prompt"):
        t.render(None, {}, inline="{# nothing #}   ")


def test_clean_prompt() -> None:
    assert clean_prompt("  a\n\n b\t c  ") == "a b c"


def test_shipped_keynote_template_renders() -> None:
    t = PromptTemplates(REPO / "prompts")
    r = t.render(
        "keynote.j2",
        {"speaker": "a CEO", "outfit": "a suit", "lighting": "warm light", "stage": "a big stage"},
    )
    assert "a CEO in a suit walking onto a big stage" in r.text
    assert "Lighting: warm light." in r.text
    assert "Camera: wide establishing shot" in r.text
    assert "\n" not in r.text


def test_rendered_files_are_the_whole_closure(prompts: Path) -> None:
    r = PromptTemplates(prompts).render("scene.j2", {"subject": "a", "light": "b", "shot": "c"})
    assert sorted(r.files) == ["macros/cam.j2", "scene.j2", "style.j2"]
    assert r.files["style.j2"] == "shot on 35mm film"
