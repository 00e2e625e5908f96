"""Every bad input is one line on stderr, exit 2, no traceback and nothing half-written.

One table: experiment files, templates, request parameters, images and command-line options.
Each case writes its files into an empty project (the working directory), runs one ``veolab``
command in-process, and asserts the exit code, that stderr is exactly one ``Error: ...`` line
containing the expected phrase, that stdout is empty, and that the project holds exactly the
files it held before (no MLflow store or run, no video store, no output file).
Experiment cases use ``veolab plan`` (no MLflow store is opened, so they stay fast); the few
``run`` cases fail before the store is opened. The provider is the offline ``sim``.
"""

from __future__ import annotations

import base64
import sqlite3
import struct
import subprocess
import sys
import zlib
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


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


# a valid PNG header claiming 60000 x 60000 pixels, with a tiny compressed IDAT (~100 bytes)
BOMB = (
    b"\x89PNG\r\n\x1a\n"
    + _chunk(b"IHDR", struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0))
    + _chunk(b"IDAT", zlib.compress(b"\0" * 1024, 9))
    + _chunk(b"IEND", b"")
)
BOMB_URI = "data:image/png;base64," + base64.b64encode(BOMB).decode()


def exp(text: str = GOOD, **files: str) -> tuple[list[str], dict[str, str]]:
    """``veolab plan e.yaml`` on ``text`` (files: more paths under the project)."""
    return ["plan", "e.yaml"], {"e.yaml": text, **files}


def good(old: str, new: str) -> tuple[list[str], dict[str, str]]:
    """GOOD with one substitution."""
    assert old in GOOD
    return exp(GOOD.replace(old, new))


def more(extra: str) -> tuple[list[str], dict[str, str]]:
    """GOOD with more lines."""
    return exp(GOOD + extra)


def param(text: str) -> tuple[list[str], dict[str, str]]:
    """GOOD whose params are ``text`` (a YAML flow mapping's inside)."""
    return good("params: {resolution: 720p, duration: 4}", f"params: {{{text}}}")


def tpl(source: str, vars_: str = "{subject: a fox}", **files: str):
    """An experiment whose template x.j2 is ``source``."""
    text = GOOD.replace("template: t.j2", "template: x.j2").replace("{subject: a fox}", vars_)
    return exp(text, **{"prompts/x.j2": source, **files})


def gen(*args: str) -> tuple[list[str], dict[str, str]]:
    return ["generate", "-p", "a fox", "--resolution", "720p", "--duration", "4", *args], {}


def values(n: int) -> str:
    return "[" + ", ".join(str(i) for i in range(n)) + "]"


P = pytest.param
CASES = [
    # -- experiment files: structure, YAML, schema ------------------------------------------
    P(*exp("name: [unclosed\n"), "fix the YAML syntax", id="yaml-unclosed"),
    P(*exp("name: t\n  bad: indent\n"), "fix the YAML syntax", id="yaml-indent"),
    P(*exp("name: t\nprompt: 'x\n"), "fix the YAML syntax", id="yaml-unclosed-quote"),
    P(*exp("\t- tab\n"), "fix the YAML syntax", id="yaml-tab"),
    P(*exp(""), "must be a YAML mapping", id="empty-file"),
    P(*exp("- a\n- b\n"), "must be a YAML mapping", id="list-file"),
    P(*exp("just a string\n"), "must be a YAML mapping", id="scalar-file"),
    P(["plan", "nope.yaml"], {}, "experiment file not found: nope.yaml", id="missing-file"),
    P(["plan", "adir"], {"adir/x": ""}, "cannot read experiment file adir", id="file-is-dir"),
    P(*exp(GOOD + "name: u\n"), "line 6: key 'name' appears twice (first on line 1)", id="dup"),
    P(*param("duration: 4, duration: 8"), "key 'duration' appears twice", id="dup-flow"),
    P(*more("variants:\n  - name: a\n    name: b\n"), "key 'name' appears twice", id="dup-deep"),
    P(*exp("template: t.j2\n"), "name: required field is missing", id="no-name"),
    P(*exp("name: t\n"), "give exactly one of `template:`", id="no-template"),
    P(*more("prompt: x\n"), "give exactly one of `template:`", id="template-and-prompt"),
    P(*more("seedz: [1]\n"), "seedz: unknown field", id="unknown-field"),
    P(*more("provider: {name: sim, modle: veo-3.1}\n"), "provider.modle: unknown", id="typo-deep"),
    P(*more("provider: {model: veo-4}\n"), "provider.model: Input should be", id="bad-model"),
    P(*more("provider: {name: segmind, mode: fast}\n"), "provider.mode: Input", id="bad-mode"),
    P(*more("provider: {mode: sync}\n"), "provider.mode: unknown field (sim takes", id="sim-mode"),
    P(*more("provider: {read_timeout: 0}\n"), "provider.read_timeout: Input", id="timeout-0"),
    P(*more("provider: 3\n"), "provider: give a provider name or a mapping", id="provider-int"),
    P(*good("name: t", "name: a/b"), "name: use letters, digits", id="name-chars"),
    P(*good("name: t", "name: ''"), "name: String should have at least 1", id="name-empty"),
    P(
        *good("name: t", f"name: {'n' * 201}"),
        "name: String should have at most 200",
        id="name-long",
    ),
    P(*more("concurrency: 0\n"), "concurrency: Input should be greater than", id="concurrency-0"),
    P(*more("concurrency: 65\n"), "concurrency: Input should be less than", id="concurrency-65"),
    P(*more("concurrency: many\n"), "concurrency: give a whole number", id="concurrency-str"),
    P(*more("concurrency: true\n"), "concurrency: give a whole number (got True)", id="conc-bool"),
    P(*more("budget: -1\n"), "budget: Input should be greater than or equal to 0", id="budget"),
    P(*more("budget: lots\n"), "budget: Input should be a valid number", id="budget-str"),
    P(*more("rate_limit: 0\n"), "rate_limit: Input should be greater than 0", id="rate-limit"),
    P(*more("confirm_above: -5\n"), "confirm_above: Input should be greater", id="confirm"),
    P(*more("prices: {veo-9: {audio: 1, no_audio: 1}}\n"), "prices.veo-9", id="prices-model"),
    P(*more("prices: {veo-3.1: {audio: -1, no_audio: 1}}\n"), "audio: Input", id="prices-neg"),
    P(*more("checks: {max_black_segmnt: 1}\n"), "max_black_segmnt: unknown field", id="checks"),
    P(*more("veo_rules: perhaps\n"), "veo_rules: Input should be a valid boolean", id="veo-rules"),
    P(*more("vars: {x: 1}\n"), "key 'vars' appears twice", id="dup-vars"),
    P(*good("seeds: [1]", "seeds: []"), "seeds: give at least one seed", id="seeds-empty"),
    P(*good("seeds: [1]", "seeds: [1, 1]"), "seeds: seeds repeat", id="seeds-repeat"),
    P(*good("seeds: [1]", "seeds: [-1]"), "seed -1 is outside 0..4294967295", id="seed-neg"),
    P(*good("seeds: [1]", "seeds: [4294967296]"), "seed 4294967296 is outside", id="seed-big"),
    P(*good("seeds: [1]", "seeds: [true]"), "seeds.0: give a whole number (got True)", id="s-bool"),
    P(*good("seeds: [1]", "seeds: [1.5]"), "seeds.0: give a whole number (got 1.5)", id="s-float"),
    P(*good("seeds: [1]", "seeds: 7"), "seeds: Input should be a valid list", id="seeds-int"),
    P(*good("seeds: [1]", "repeats: 0"), "repeats: Input should be greater", id="repeats-0"),
    P(*good("seeds: [1]", "repeats: 10001"), "repeats: Input should be less", id="repeats-big"),
    P(*good("seeds: [1]", "repeats: true"), "repeats: give a whole number", id="repeats-bool"),
    P(*more("repeats: 3\n"), "give `seeds:` or `repeats:`", id="seeds-and-repeats"),
    P(*good("seeds: [1]", "repeats: 2\nbase_seed: -1"), "base_seed: Input", id="base-seed"),
    P(*more("max_runs: 0\n"), "max_runs: Input should be greater than or equal to 1", id="mr-0"),
    P(*more("max_runs: lots\n"), "max_runs: give a whole number", id="max-runs-str"),
    # -- experiment files: sweeps ------------------------------------------------------------
    P(*good("{subject: a fox}", "{subject: []}"), "vars: subject is an empty list", id="empty"),
    P(*param("resolution: 720p, duration: []"), "params: duration is an empty list", id="e-par"),
    P(
        *more("variants: [{name: v, vars: {subject: []}}]\n"),
        "variants.0.vars: subject is an empty list",
        id="empty-variant-var",
    ),
    P(*more("zip: {a: [1, 2], b: [1]}\n"), "zip lists must have the same length", id="zip-len"),
    P(*more("zip: {a: [], b: []}\n"), "zip lists must not be empty", id="zip-empty"),
    P(*more("zip: {subject: [a, b]}\n"), "are in both vars and zip", id="zip-overlap"),
    P(*more("zip: {a: 1}\n"), "zip.a: Input should be a valid list", id="zip-scalar"),
    P(*more("variants: [{name: a}, {name: a}]\n"), "variant names repeat", id="variant-names"),
    P(*more("variants: [{vars: {x: 1}}]\n"), "variants.0.name: required field", id="v-no-name"),
    P(*more("variants: [{name: a, seeds: [1]}]\n"), "variants.0.seeds: unknown", id="v-field"),
    P(*more("variants: [{name: a, params: {seed: 1}}]\n"), "seed is not a param", id="v-seed"),
    P(*param("colour: red"), "unknown param 'colour'", id="param-unknown"),
    P(*param("seed: 3"), "seed is not a param", id="param-seed"),
    P(*param("prompt: x"), "prompt is not a param", id="param-prompt"),
    P(
        *good("{subject: a fox}", "{subject: a fox, other: [1, 2]}"),
        "are the same request",
        id="duplicate-requests",
    ),
    P(
        *exp(
            GOOD.replace(
                "{subject: a fox}", f"{{subject: {values(1000)}, b: {values(1000)}}}"
            ).replace("seeds: [1]", f"seeds: {values(1000)}")
        ),
        "the grid makes 1,000,000,000 runs, more than max_runs 10,000: largest axes "
        "var.subject 1,000, var.b 1,000, seeds 1,000; raise max_runs or --max-runs",
        id="grid-1e9",
    ),
    P(
        *exp(GOOD.replace("seeds: [1]", "repeats: 200") + f"vars: {{x: {values(100)}}}\n"),
        "key 'vars' appears twice",
        id="dup-before-size",
    ),
    P(
        *good("{subject: a fox}", f"{{subject: {values(200)}}}\nmax_runs: 100"),
        "the grid makes 200 runs, more than max_runs 100: largest axes var.subject 200",
        id="grid-max-runs",
    ),
    P(*more("template: nope.j2\n"), "key 'template' appears twice", id="dup-template"),
    P(*good("template: t.j2", "template: nope.j2"), "template 'nope.j2' not found", id="no-tpl"),
    P(*good("template: t.j2", "template: ../e.yaml"), "template '../e.yaml' not found", id="t-up"),
    P(*good("template: t.j2", "template: /etc/passwd"), "'/etc/passwd' not found", id="t-abs"),
    # -- templates -----------------------------------------------------------------------------
    P(*tpl("{{ subject "), "template x.j2: line 1: unexpected end of template", id="syntax"),
    P(*tpl("{% if subject %}x"), "template x.j2: line 1: Unexpected end of template", id="no-end"),
    P(*tpl("{{ subject|nofilter }}"), "No filter named 'nofilter'", id="unknown-filter"),
    P(*tpl("{{ lighting }}"), "template x.j2: 'lighting' is undefined: add it to vars", id="undef"),
    P(*tpl("{{ subject.colour.name }}"), "has no attribute 'colour'", id="undef-attr"),
    P(
        *tpl("{{ cycler.__init__.__globals__.os.popen('id; touch PWNED').read() }}"),
        "access to attribute '__init__' of 'type' object is unsafe",
        id="escape-popen",
    ),
    P(*tpl("{{ ''.__class__.__mro__ }}"), "attribute '__class__' of 'str'", id="escape-mro"),
    P(*tpl("{{ joiner.__call__ }}"), "is unsafe", id="escape-dunder"),
    P(*tpl("{{ [1].append(2) }}"), "attribute 'append' of 'list' object", id="mutate-list"),
    P(*tpl("{{ {}.update(a=1) }}"), "attribute 'update' of 'dict' object", id="mutate-dict"),
    P(*tpl("{{ 1/0 }}"), "template x.j2: line 1: ZeroDivisionError: division by zero", id="div0"),
    P(*tpl("a\n{{ 'a' * 10**9 }}"), "line 2: '*': 1,000,000,000 is above", id="alloc-str"),
    P(*tpl("{{ [0] * 10**9 }}"), "'*': 1,000,000,000 is above the sandbox's", id="alloc-list"),
    P(*tpl("{{ ('a' * 1000) * 1000 }}"), "'*' would make more than 100,000", id="alloc-mul"),
    P(*tpl("{{ 10 ** 100000 }}"), "'**' would make a number of about 100,001", id="alloc-pow"),
    P(*tpl("{{ range(10**9)|list }}"), "range() would make 1,000,000,000", id="alloc-range"),
    P(
        *tpl("{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"),
        "the template took more than 100,000 steps",
        id="cpu-loops",
    ),
    P(*tpl("{{ 'x'|center(10**9) }}"), "filter center: 1,000,000,000 is above", id="center"),
    P(*tpl("{{ '%999999999d' % 1 }}"), "'%': 999,999,999 is above", id="percent-width"),
    P(*tpl("{{ '{:>999999999}'.format(1) }}"), "str.format(): 999,999,999", id="format-width"),
    P(*tpl("{{ lipsum(10**6) }}"), "use n at most 100", id="lipsum"),
    P(*tpl("{{ 'a' * 20001 }}"), "rendered a prompt of 20,001 characters, more than", id="long"),
    P(*tpl("{# nothing #}"), "template x.j2 rendered an empty prompt", id="empty-prompt"),
    P(*tpl("a {% include 'x.j2' %}"), "includes or calls itself without end", id="recursion"),
    P(
        *tpl("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"),
        "includes or calls itself without end",
        id="macro-recursion",
    ),
    P(*tpl("{% include '../e.yaml' %}"), "includes '../e.yaml', which is not", id="inc-up"),
    P(*tpl("{% include '/etc/passwd' %}"), "includes '/etc/passwd', which is not", id="inc-abs"),
    P(*tpl("{% include 'gone.j2' %}"), "includes 'gone.j2', which is not a template", id="inc-404"),
    P(*tpl("{% include name %}", "{name: ../e.yaml}"), "includes '../e.yaml'", id="inc-dynamic"),
    P(
        *tpl("{% include 'bad.j2' %}", **{"prompts/bad.j2": "{% for %}"}),
        "template bad.j2: line 1:",
        id="inc-syntax",
    ),
    P(
        *tpl("{{ subject }}\n{% include 'zero.j2' %}", **{"prompts/zero.j2": "a\n{{ 1 // 0 }}"}),
        "template zero.j2 (included by x.j2): line 2: ZeroDivisionError",
        id="inc-div0",
    ),
    # -- request parameters (Veo rules) -------------------------------------------------------
    P(*param("resolution: 720p, duration: 5"), "duration: Input should be 4, 6 or 8", id="dur-5"),
    P(*param("resolution: 720p, duration: -8"), "duration: Input should be 4, 6", id="dur-neg"),
    P(*param("resolution: 8k, duration: 4"), "resolution: Input should be '720p'", id="res-8k"),
    P(*param("resolution: 720p, duration: 4, aspect_ratio: '2:1'"), "aspect_ratio", id="ratio"),
    P(*param("resolution: 1080p, duration: 4"), "resolution 1080p requires duration 8", id="1080"),
    P(*param("resolution: 720p, duration: 4, generate_audio: maybe"), "generate_audio", id="aud"),
    P(
        *param("resolution: 720p, duration: 4, negative_prompt: [1, 2]"),
        "negative_prompt",
        id="neg",
    ),
    P(
        *param("resolution: 720p, duration: 8, last_frame: good.png"),
        "last_frame requires image (a first frame)",
        id="last-without-image",
    ),
    P(
        *param("duration: 8, reference_images: [good.png, good.png, good.png, good.png]"),
        "reference_images: at most 3 allowed (got 4)",
        id="refs-4",
    ),
    P(
        *param("duration: 8, aspect_ratio: '9:16', reference_images: [good.png]"),
        "reference_images require aspect_ratio 16:9 and duration 8",
        id="refs-portrait",
    ),
    P(
        *param("resolution: 720p, duration: 4, reference_images: [good.png]"),
        "reference_images require aspect_ratio 16:9 and duration 8",
        id="refs-4s",
    ),
    P(
        *param("duration: 8, image: good.png, reference_images: [good.png]"),
        "reference_images cannot be combined with image or last_frame",
        id="refs-and-image",
    ),
    # -- images --------------------------------------------------------------------------------
    P(*param("duration: 8, image: missing.png"), "image file not found: ", id="img-missing"),
    P(*param("duration: 8, image: text.png"), "does not decode as an image", id="img-text"),
    P(*param("duration: 8, image: adir"), "is a directory: give an image file", id="img-dir"),
    P(*param("duration: 8, image: ''"), "an image reference must be", id="img-empty"),
    P(*param("duration: 8, image: 7"), "give image paths or URLs as strings", id="img-number"),
    P(*param("duration: 8, image: bomb.png"), "declares 60000x60000 pixels", id="img-bomb"),
    P(
        *param("duration: 8, image: good.png, last_frame: bomb.png"),
        "params.last_frame: image file",
        id="last-frame-bomb",
    ),
    P(*param("duration: 8, reference_images: [bomb.png]"), "declares 60000x60000", id="ref-bomb"),
    P(*param(f"duration: 8, image: '{BOMB_URI}'"), "the data: URI declares 60000x60000", id="uri"),
    P(*param("duration: 8, image: 'data:image/png;base64,!!!'"), "invalid base64", id="b64"),
    P(*param("duration: 8, image: 'data:nonsense'"), "malformed data: URI", id="bad-uri"),
    P(*param("duration: 8, image: 'data:image/png;base64,aGVsbG8='"), "does not decode", id="d"),
    P(*param("duration: 8, image: 'ftp://x.org/a.png'"), "unsupported image URL scheme", id="ftp"),
    P(*param("duration: 8, image: 'file:///etc/a.png'"), "unsupported image URL scheme", id="f:/"),
    # -- command line: plan and run ----------------------------------------------------------
    P(["plan"], {}, "Missing argument 'FILE'", id="plan-no-file"),
    P(["plan", "e.yaml", "--max-runs", "0"], {"e.yaml": GOOD}, "0 is not in the range", id="mr0"),
    P(["plan", "e.yaml", "--max-runs", "x"], {"e.yaml": GOOD}, "'x' is not a valid", id="mr-x"),
    P(
        ["plan", "e.yaml", "--max-runs", "3"],
        {"e.yaml": GOOD.replace("seeds: [1]", "seeds: [1, 2, 3, 4]")},
        "the grid makes 4 runs, more than max_runs 3: largest axes seeds 4",
        id="plan-max-runs",
    ),
    P(["plan", "e.yaml", "--provider", "nope"], {"e.yaml": GOOD}, "unknown provider", id="p-prov"),
    P(["plan", "e.yaml", "--bogus"], {"e.yaml": GOOD}, "No such option '--bogus'", id="plan-opt"),
    P(
        ["run", "e.yaml", "--concurrency", "0"],
        {"e.yaml": GOOD},
        "'--concurrency': 0 is not in",
        id="conc-0",
    ),
    P(
        ["run", "e.yaml", "--concurrency", "65"],
        {"e.yaml": GOOD},
        "'--concurrency': 65 is not",
        id="conc-65",
    ),
    P(
        ["run", "e.yaml", "--concurrency", "x"],
        {"e.yaml": GOOD},
        "'--concurrency': 'x' is not",
        id="conc-x",
    ),
    P(
        ["run", "e.yaml", "--budget", "-1"],
        {"e.yaml": GOOD},
        "'--budget': -1.0 is not in",
        id="run-budget",
    ),
    P(
        ["run", "e.yaml", "--budget", "lots"],
        {"e.yaml": GOOD},
        "'--budget': 'lots'",
        id="run-budget-str",
    ),
    P(
        ["run", "e.yaml", "--max-runs", "-1"],
        {"e.yaml": GOOD},
        "'--max-runs': -1 is not",
        id="run-max-runs",
    ),
    P(["run", "e.yaml", "--provider", "nope"], {"e.yaml": GOOD}, "unknown provider", id="r-prov"),
    P(["run", "nope.yaml"], {}, "experiment file not found", id="run-missing"),
    P(
        ["run", "e.yaml"],
        {"e.yaml": GOOD, "prompts/t.j2": "{{ ''.__class__ }}"},
        "template t.j2: line 1: access to attribute '__class__'",
        id="run-escape",
    ),
    P(
        ["run", "e.yaml", "--max-runs", "1"],
        {"e.yaml": GOOD.replace("seeds: [1]", "seeds: [1, 2]")},
        "the grid makes 2 runs, more than max_runs 1",
        id="run-grid",
    ),
    P(["nosuchcommand"], {}, "No such command 'nosuchcommand'", id="unknown-command"),
    # -- command line: generate ----------------------------------------------------------------
    P(*gen("--duration", "5"), "'5' is not one of '4', '6', '8'", id="gen-duration"),
    P(*gen("--resolution", "8k"), "'8k' is not one of '720p', '1080p', '4k'", id="gen-res"),
    P(*gen("--aspect-ratio", "2:1"), "'2:1' is not one of '16:9', '9:16', '4:3'", id="gen-ratio"),
    P(*gen("--seed", "-1"), "seed: Input should be greater than or equal to 0", id="gen-seed"),
    P(*gen("--seed", "4294967296"), "seed: Input should be less than or equal", id="gen-s-big"),
    P(*gen("--seed", "abc"), "'abc' is not a valid integer", id="gen-seed-str"),
    P(*gen("--resolution", "1080p"), "resolution 1080p requires duration 8", id="gen-1080"),
    P(*gen("--last-frame", "good.png"), "last_frame requires image", id="gen-last"),
    P(*gen("--image", "missing.png"), "image file not found: missing.png", id="gen-img"),
    P(*gen("--image", "text.png"), "does not decode as an image", id="gen-text"),
    P(*gen("--image", "bomb.png"), "image file bomb.png declares 60000x60000", id="gen-bomb"),
    P(*gen("--image", BOMB_URI), "the data: URI declares 60000x60000 pixels", id="gen-bomb-uri"),
    P(*gen("--image", "data:image/png;base64,%%%"), "invalid base64", id="gen-b64"),
    P(*gen("--image", "gopher://x/a.png"), "unsupported image URL scheme", id="gen-scheme"),
    P(*gen("--reference-image", "bomb.png"), "declares 60000x60000", id="gen-ref-bomb"),
    P(
        *gen(*["--reference-image", "good.png"] * 4),
        "reference_images: at most 3 allowed (got 4)",
        id="gen-refs-4",
    ),
    P(*gen("--provider", "nope"), "unknown provider 'nope'", id="gen-provider"),
    P(*gen("--model", "veo-4"), "model: Input should be 'veo-3.1', 'veo-3.1-fast'", id="gen-model"),
    P(*gen("--mode", "sync"), "provider sim: mode: unknown field", id="gen-sim-mode"),
    P(*gen("--mode", "fast"), "'fast' is not one of 'queue', 'sync'", id="gen-mode"),
    P(*gen("-o", "adir"), "File 'adir' is a directory", id="gen-output-dir"),
    P(["generate"], {}, "Missing option '-p' / '--prompt'", id="gen-no-prompt"),
    P(["generate", "-p", "   "], {}, "prompt: must not be empty", id="gen-blank-prompt"),
    # -- command line: check, compare, rate ----------------------------------------------------
    P(["check", "missing.mp4"], {}, "missing.mp4: no such file", id="check-missing"),
    P(["check", "text.png"], {}, "text.png is a still image", id="check-not-video"),
    P(["check", "good.png", "--resolution", "8k"], {}, "use 720p, 1080p, 4k", id="check-res"),
    P(
        ["check", "good.png", "--duration", "0"],
        {},
        "'--duration': 0.0 is not",
        id="check-duration",
    ),
    P(["check", "good.png", "--fps", "-1"], {}, "'--fps': -1.0 is not in", id="check-fps"),
    P(
        ["check", "good.png", "--aspect-ratio", "2:1"],
        {},
        "'--aspect-ratio': '2:1'",
        id="check-ratio",
    ),
    P(
        ["check", "good.png", "--n-thumbnails", "500"],
        {},
        "'--n-thumbnails': 500",
        id="check-thumbs",
    ),
    P(["check", "good.png", "-t", "nonsense"], {}, "--threshold 'nonsense': use NAME=", id="t"),
    P(["check", "good.png", "-t", "max_blak=1"], {}, "max_blak: unknown field", id="check-t"),
    P(["check", "adir"], {}, "File 'adir' is a directory", id="check-dir"),
    P(["compare", "x", "--json", "--csv"], {}, "--json and --csv: choose one", id="compare"),
    P(["compare"], {}, "Missing argument 'EXPERIMENT'", id="compare-no-arg"),
    P(["rate", "abc", "high"], {}, "'high' is not a valid float", id="rate-score"),
    P(["rate", "abc", "9"], {}, "score 9.0 is outside 1 to 5", id="rate-range"),
]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_png) -> Path:
    """An empty project and working directory: prompts/t.j2, a few images and a folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "t.j2").write_text("{{ subject }} in the snow")
    make_png("good.png", (200, 40, 40))
    (tmp_path / "bomb.png").write_bytes(BOMB)
    (tmp_path / "text.png").write_text("hello, not an image")
    (tmp_path / "adir").mkdir()
    return tmp_path


def snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*"))}


def mlflow_runs(root: Path) -> int:
    db = root / "mlruns" / "mlflow.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


@pytest.mark.parametrize(("argv", "files", "phrase"), CASES)
def test_bad_input(project: Path, argv: list[str], files: dict[str, str], phrase: str) -> None:
    for name, text in files.items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    before = snapshot(project)
    result = CliRunner().invoke(cli, argv, prog_name="veolab")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1 and result.stderr.endswith("\n"), result.stderr
    assert phrase in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # nothing half-written: no MLflow store or run, no video store, no output, no PWNED
    assert snapshot(project) == before
    assert mlflow_runs(project) == 0
    assert not (project / "veolab-home").exists()


def test_the_table_is_large_and_its_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) >= 100
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("argv", "phrase"),
    [
        (["plan", "e.yaml"], "template x.j2: line 1: access to attribute '__init__'"),
        (["run", "e.yaml", "--max-runs", "0"], "Invalid value for '--max-runs'"),
        (["generate", "-p", "fox", "--image", "bomb.png"], "declares 60000x60000 pixels"),
    ],
)
def test_no_traceback_reaches_stderr_of_a_real_process(
    project: Path, argv: list[str], phrase: str
) -> None:
    (project / "prompts" / "x.j2").write_text(
        "{{ cycler.__init__.__globals__.os.popen('id; touch PWNED').read() }}"
    )
    (project / "e.yaml").write_text(GOOD.replace("template: t.j2", "template: x.j2"))
    before = snapshot(project)
    proc = subprocess.run(
        [sys.executable, "-m", "veolab", *argv], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("Error: "), proc.stderr
    assert phrase in proc.stderr
    assert snapshot(project) == before
