"""Prompt templates: Jinja with StrictUndefined, rooted at ``prompts/``.

    t = PromptTemplates(Path("prompts"))
    t.render("quickstart.j2", {"subject": "a fox"}).text

A missing variable is a TemplateError that names the variable and the template. Whitespace is
collapsed so the rendered prompt is clean. A template's sha256 covers its own source and every
template it includes or imports, so editing a macro changes the hash of the prompts that use it.

Templates are untrusted: they render in :class:`veolab.experiment.sandbox.PromptSandbox` (no
escapes, bounded size and work), and the prompt is at most ``MAX_PROMPT_CHARS`` characters. Any
failure while rendering (a sandbox refusal, a limit, ``1/0``, a template including itself) is one
TemplateError naming the template and the line.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import jinja2
import jinja2.meta

from veolab.errors import TemplateError
from veolab.experiment.sandbox import (
    MAX_OUTPUT_CHARS,
    MAX_PROMPT_CHARS,
    LimitError,
    PromptSandbox,
    render_budget,
)

INLINE = "<inline prompt>"


@dataclass(frozen=True)
class Rendered:
    text: str
    template: str  # name in prompts/ or "<inline prompt>"
    source: str
    sha256: str
    files: dict[str, str]  # the template and every template it includes/imports: {name: source}


def clean_prompt(text: str) -> str:
    """Collapse every run of whitespace to one space and strip the ends."""
    return " ".join(text.split())


class PromptTemplates:
    """Renders templates from one folder (``prompts/``) or inline text."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        loader = jinja2.FileSystemLoader(str(root)) if root else jinja2.DictLoader({})
        self.env = PromptSandbox(
            loader=loader,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self._compiled: dict[str, tuple[jinja2.Template, str, dict[str, str]]] = {}

    def _source(self, name: str) -> str:
        try:
            assert self.env.loader is not None
            return self.env.loader.get_source(self.env, name)[0]
        except jinja2.TemplateNotFound as exc:
            where = self.root if self.root else "prompts/"
            raise TemplateError(
                f"template {name!r} not found in {where}: check `template:`"
            ) from exc

    def closure(self, name: str, source: str) -> dict[str, str]:
        """The template and everything it includes/imports, recursively: {name: source}."""
        files: dict[str, str] = {}
        stack = [(name, source)]
        while stack:
            n, src = stack.pop()
            if n in files:
                continue
            files[n] = src
            try:
                refs = jinja2.meta.find_referenced_templates(self.env.parse(src))
            except jinja2.TemplateSyntaxError as exc:
                raise TemplateError(f"template {n}: line {exc.lineno}: {exc.message}") from exc
            for ref in sorted(r for r in refs if r):
                try:
                    stack.append((ref, self._source(ref)))
                except TemplateError as exc:
                    raise TemplateError(
                        f"template {n}: includes {ref!r}, which is not a template in "
                        f"{self.root or 'prompts/'}: check the name (paths outside it are refused)"
                    ) from exc
        return files

    @staticmethod
    def _hash(files: dict[str, str]) -> str:
        h = hashlib.sha256()
        for n, src in files.items():
            h.update(n.encode() + b"\0" + src.encode() + b"\0")
        return h.hexdigest()

    def load(
        self, name: str | None, inline: str | None = None
    ) -> tuple[jinja2.Template, str, dict[str, str]]:
        key = name or INLINE + (inline or "")
        if key in self._compiled:
            return self._compiled[key]
        if name:
            source = self._source(name)
            files = self.closure(name, source)
            label = name
        else:
            source = inline or ""
            files = self.closure(INLINE, source)
            label = INLINE
        try:
            tpl = self.env.from_string(source) if not name else self.env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"template {label}: line {exc.lineno}: {exc.message}") from exc
        self._compiled[key] = (tpl, source, files)
        return self._compiled[key]

    def render(
        self,
        name: str | None,
        variables: dict[str, Any],
        inline: str | None = None,
        where: str = "",
    ) -> Rendered:
        tpl, source, files = self.load(name, inline)
        label = name or INLINE
        try:
            with render_budget():
                text = clean_prompt(self._generate(tpl, label, variables))
        except jinja2.UndefinedError as exc:
            hint = f": add it to vars in {where}" if where else ": add it to vars"
            raise TemplateError(f"template {label}: {exc.message}{hint}") from exc
        except TemplateError:
            raise
        except Exception as exc:  # a template may fail in any way: it is input, not code
            raise self._failure(exc, label) from exc
        if len(text) > MAX_PROMPT_CHARS:
            raise TemplateError(
                f"template {label} rendered a prompt of {len(text):,} characters, more than the "
                f"limit of {MAX_PROMPT_CHARS:,}: shorten the template or its vars"
            )
        if not text:
            raise TemplateError(f"template {label} rendered an empty prompt")
        return Rendered(
            text=text, template=label, source=source, sha256=self._hash(files), files=files
        )

    @staticmethod
    def _generate(tpl: jinja2.Template, label: str, variables: dict[str, Any]) -> str:
        """Render piece by piece, stopping as soon as the output passes MAX_OUTPUT_CHARS."""
        pieces: list[str] = []
        size = 0
        gen = cast(Generator[str, None, None], tpl.generate(**variables))
        try:
            for piece in gen:
                size += len(piece)
                if size > MAX_OUTPUT_CHARS:
                    raise TemplateError(
                        f"template {label} renders more than {MAX_OUTPUT_CHARS:,} characters "
                        f"(a prompt may have at most {MAX_PROMPT_CHARS:,}): shorten the template "
                        "or its vars"
                    )
                pieces.append(piece)
        finally:
            gen.close()
        return "".join(pieces)

    def _where(self, exc: BaseException) -> tuple[str | None, int | None]:
        """The innermost template frame of ``exc``'s traceback: (template name, line)."""
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return exc.name, exc.lineno
        found: tuple[str | None, int | None] = (None, None)
        root = os.path.normpath(str(self.root)) if self.root else None
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename == "<template>":
                found = (INLINE, tb.tb_lineno)
            elif root and filename.startswith(root + os.sep):
                found = (os.path.relpath(filename, root).replace(os.sep, "/"), tb.tb_lineno)
            tb = tb.tb_next
        return found

    def _failure(self, exc: Exception, label: str) -> TemplateError:
        """One line for any exception a render raised: the template, the line, what to do."""
        name, line = self._where(exc)
        where = f"template {name or label}" + (
            f" (included by {label})" if name and name != label else ""
        )
        if line:
            where += f": line {line}"
        text = " ".join(str(exc).split()).rstrip(".")
        if len(text) > 300:
            text = text[:299] + "…"
        if isinstance(exc, jinja2.exceptions.SecurityError):
            return TemplateError(
                f"{where}: {text} (templates render in a sandbox: no attributes starting with "
                "'_', no changing lists or dicts): remove it from the template"
            )
        if isinstance(exc, LimitError):
            return TemplateError(f"{where}: {text}")
        if isinstance(exc, RecursionError):
            return TemplateError(
                f"{where}: the template includes or calls itself without end: remove the cycle"
            )
        if isinstance(exc, jinja2.TemplateNotFound):
            return TemplateError(
                f"{where}: includes {exc.name!r}, which is not a template in "
                f"{self.root or 'prompts/'}: check the name"
            )
        if isinstance(exc, jinja2.TemplateSyntaxError):
            return TemplateError(f"{where}: {exc.message}")
        kind = "" if isinstance(exc, jinja2.TemplateError) else f"{type(exc).__name__}: "
        return TemplateError(f"{where}: {kind}{text or 'failed'}: fix the template")
