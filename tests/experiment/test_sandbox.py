"""Templates are untrusted: the sandbox refuses escapes, bounds allocation and work, and every
failure is one TemplateError naming the template and the line."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from veolab.cli import cli
from veolab.errors import TemplateError
from veolab.experiment.sandbox import MAX_PROMPT_CHARS, value_size
from veolab.experiment.templates import PromptTemplates

POPEN = "{{ cycler.__init__.__globals__.os.popen('id; touch PWNED').read() }}"
MRO = "{{ ''.__class__.__mro__ }}"
UNSAFE = "(templates render in a sandbox: no attributes starting with '_', no changing lists or "
UNSAFE += "dicts): remove it from the template"


@pytest.fixture
def prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # where `touch PWNED` would land
    root = tmp_path / "prompts"
    (root / "macros").mkdir(parents=True)
    (root / "macros" / "cam.j2").write_text("{% macro cam(k) %}{{ k|upper }} shot{% endmacro %}")
    (root / "style.j2").write_text("shot on 35mm film")
    (root / "self.j2").write_text("a fox {% include 'self.j2' %}")
    (root / "zero.j2").write_text("a fox\nin the snow\n{{ 1/0 }}")
    (root / "top.j2").write_text("{{ subject }}\n{% include 'zero.j2' %}")
    (root / "up.j2").write_text("{% include '../secret.txt' %}")
    (root / "abs.j2").write_text("{% include '/etc/hostname' %}")
    (tmp_path / "secret.txt").write_text("do not read")
    return root


def render(root: Path, text: str, **variables: object) -> str:
    return PromptTemplates(root).render(None, variables, inline=text).text


def error(root: Path, text: str, **variables: object) -> str:
    with pytest.raises(TemplateError) as exc:
        render(root, text, **variables)
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_escapes_render_nothing(prompts: Path, tmp_path: Path) -> None:
    assert error(prompts, POPEN) == (
        "template <inline prompt>: line 1: access to attribute '__init__' of 'type' object is "
        f"unsafe {UNSAFE}"
    )
    assert error(prompts, "a fox\n" + MRO) == (
        "template <inline prompt>: line 2: access to attribute '__class__' of 'str' object is "
        f"unsafe {UNSAFE}"
    )
    assert error(prompts, "{{ [1].append(2) }}").startswith(
        "template <inline prompt>: line 1: access to attribute 'append' of 'list' object"
    )
    assert not (tmp_path / "PWNED").exists()
    assert not Path("PWNED").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{{ 'a' * 10**9 }}", "'*': 1,000,000,000 is above the sandbox's limit of 100,000"),
        ("{{ ['a'] * 200000 }}", "'*': 200,000 is above the sandbox's limit of 100,000"),
        (
            "{{ ('a' * 1000) * 1000 }}",
            "'*' would make more than 100,000 characters or items (the sandbox's limit): make it "
            "smaller",
        ),
        ("{{ 10 ** 100000 }}", "'**' would make a number of about 100,001 digits"),
        ("{{ (10 ** 600) * (10 ** 600) }}", "'*' would make a number of about 1,201 digits"),
        ("{{ range(10**9)|length }}", "range() would make 1,000,000,000 numbers"),
        ("{% for i in range(10**9) %}{% endfor %}", "range() would make 1,000,000,000 numbers"),
        (
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
            "the template took more than 100,000 steps (loop iterations and calls)",
        ),
        (
            "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}"
            "{{ f(40) }}",
            "the template took more than 100,000 steps",
        ),
        ("{{ 'x'|center(10**9) }}", "filter center: 1,000,000,000 is above"),
        ("{{ 'x'.ljust(10**9) }}", "str.ljust(): 1,000,000,000 is above"),
        ("{{ '{:>999999999}'.format(1) }}", "str.format(): 999,999,999 is above"),
        ("{{ '%999999999s' % 'x' }}", "'%': 999,999,999 is above"),
        ("{{ '%s'|format('x' * 100000) }}", "filter format would make more than 100,000"),
        ("{{ ('a' * 90000).replace('a', 'bb') }}", "str.replace() would make more than 100,000"),
        ("{{ 'a'|indent(10**9) }}", "filter indent: 1,000,000,000 is above"),
        ("{{ lipsum(10**6) }}", "lipsum(n=1000000, min=20, max=100): use n at most 100"),
        (
            "{% set a = 'x' * 50000 %}{{ [a, a, a]|join }}",
            "filter join would make more than 100,000 characters or items",
        ),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "'~' would make more than 100,000 characters",
        ),
    ],
)
def test_allocation_and_work_are_bounded(prompts: Path, text: str, expected: str) -> None:
    message = error(prompts, text)
    assert message.startswith("template <inline prompt>: line 1: "), message
    assert expected in message


def test_prompt_length_is_capped(prompts: Path) -> None:
    assert len(render(prompts, "{{ 'a' * n }}", n=MAX_PROMPT_CHARS)) == MAX_PROMPT_CHARS
    assert error(prompts, "{{ 'a' * n }}", n=MAX_PROMPT_CHARS + 1) == (
        "template <inline prompt> rendered a prompt of 20,001 characters, more than the limit of "
        "20,000: shorten the template or its vars"
    )
    # the raw output stops early, long before whitespace collapsing could shrink it
    assert error(prompts, "{% for i in range(3000) %}{{ ' ' * 99 }}{% endfor %}") == (
        "template <inline prompt> renders more than 200,000 characters (a prompt may have at most "
        "20,000): shorten the template or its vars"
    )


def test_runtime_failures_name_template_and_line(prompts: Path) -> None:
    t = PromptTemplates(prompts)
    with pytest.raises(TemplateError) as exc:
        t.render("top.j2", {"subject": "a fox"})
    assert str(exc.value) == (
        "template zero.j2 (included by top.j2): line 3: ZeroDivisionError: division by zero: "
        "fix the template"
    )
    with pytest.raises(TemplateError) as exc:
        t.render("self.j2", {})
    assert str(exc.value) == (
        "template self.j2: line 1: the template includes or calls itself without end: "
        "remove the cycle"
    )
    assert error(prompts, "{% macro f() %}{{ f() }}{% endmacro %}\n{{ f() }}") == (
        "template <inline prompt>: line 1: the template includes or calls itself without end: "
        "remove the cycle"
    )
    assert error(prompts, "a\n{{ 'abc'.index('z') }}") == (
        "template <inline prompt>: line 2: ValueError: substring not found: fix the template"
    )
    assert error(prompts, "{% include name %}", name="../secret.txt") == (
        f"template <inline prompt>: line 1: includes '../secret.txt', which is not a template in "
        f"{prompts}: check the name"
    )


@pytest.mark.parametrize(("name", "ref"), [("up.j2", "../secret.txt"), ("abs.j2", "/etc/hostname")])
def test_includes_outside_prompts_are_refused(prompts: Path, name: str, ref: str) -> None:
    with pytest.raises(TemplateError) as exc:
        PromptTemplates(prompts).render(name, {})
    assert str(exc.value) == (
        f"template {name}: includes {ref!r}, which is not a template in {prompts}: check the name "
        "(paths outside it are refused)"
    )


def test_ordinary_templates_still_render(prompts: Path) -> None:
    text = (
        '{% import "macros/cam.j2" as m %}{% set shots = ["wide", "close"] %}'
        "{{ subject|title }} {{ m.cam(shots[0]) }}, {% include 'style.j2' %}; "
        "{% for s in shots %}{{ loop.index }}:{{ s }}{{ ', ' if not loop.last }}{% endfor %}; "
        "{{ '%s at %d%%' % (light, 50) }} {{ '{} light'.format(light) }} {{ shots|join('/') }} "
        "{{ 'ab' * 2 }} {{ range(3)|list|sum }} {{ 2 ** 10 }} {{ 'x'|center(5) }}"
        "{{ [1, 2] + [3] }} {{ subject ~ '!' }} {{ 'a-b'.replace('-', ' ') }}"
    )
    assert render(prompts, text, subject="a red fox", light="dusk") == (
        "A Red Fox WIDE shot, shot on 35mm film; 1:wide, 2:close; dusk at 50% dusk light "
        "wide/close abab 3 1024 x [1, 2, 3] a red fox! a b"
    )


def test_value_size_counts_nested_contents() -> None:
    big = "x" * 1000
    assert value_size(big) == 1000
    assert value_size([big, big]) == 2004
    assert value_size({"k": [big]}) == 1 + 3 + 1 + 1000 + 2
    assert value_size([[big] * 1000] * 1000, limit=10_000) <= 11_010  # stops counting early


def _runs(tmp_path: Path) -> int:
    db = tmp_path / "mlruns" / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


@pytest.mark.parametrize("command", ["plan", "run"])
@pytest.mark.parametrize("payload", [POPEN, MRO])
def test_cli_refuses_template_escapes(
    prompts: Path, tmp_path: Path, command: str, payload: str
) -> None:
    (prompts / "evil.j2").write_text("a fox\n" + payload)
    exp = tmp_path / "evil.yaml"
    exp.write_text("name: evil\ntemplate: evil.j2\nparams: {resolution: 720p, duration: 4}\n")
    result = CliRunner().invoke(cli, [command, str(exp)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: template evil.j2: line 2: access to attribute '__")
    assert result.stderr.endswith(f"{UNSAFE}\n")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "PWNED").exists()
    assert _runs(tmp_path) == 0
    assert not (tmp_path / "veolab-home" / "store").exists()
