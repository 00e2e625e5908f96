"""Prompt templates: Jinja with StrictUndefined, rooted at ``prompts/``.

    >>> t = PromptTemplates(Path("prompts"))                      # doctest: +SKIP
    >>> t.render("quickstart.j2", {"subject": "a fox"}).text      # doctest: +SKIP

A missing variable is a TemplateError that names the variable and the template. Whitespace is
collapsed so the rendered prompt is clean. A template's sha256 covers its own source and every
template it includes or imports, so editing a macro changes the hash of the prompts that use it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from veolab.errors import TemplateError

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
        self.env = jinja2.Environment(
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
                stack.append((ref, self._source(ref)))
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
            text = clean_prompt(tpl.render(**variables))
        except jinja2.UndefinedError as exc:
            hint = f": add it to vars in {where}" if where else ": add it to vars"
            raise TemplateError(f"template {label}: {exc.message}{hint}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"template {label}: {exc}") from exc
        if not text:
            raise TemplateError(f"template {label} rendered an empty prompt")
        return Rendered(
            text=text, template=label, source=source, sha256=self._hash(files), files=files
        )
