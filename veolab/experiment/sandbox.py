"""The sandbox prompt templates render in: no escapes, bounded size and work.

Templates are untrusted input (a shared ``prompts/`` folder, a pasted experiment file), so they
render in Jinja's :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment`: no attribute starting
with ``_`` (``cycler.__init__.__globals__``, ``''.__class__.__mro__``), no changing lists or
dicts. On top of that, :class:`PromptSandbox` bounds what one render may allocate and do:

- a value a template makes (a string, a list, a number's digits) has at most ``MAX_VALUE_SIZE``
  characters or items, nested lists counted with their contents. Where the size is known
  beforehand it is checked *before* the work: ``*``, ``+``, ``**``, ``%``, ``range()``, the
  padding and formatting string methods and filters; other calls and filters are checked right
  after, so growth never compounds;
- numbers made by ``*`` and ``**`` have at most ``MAX_NUMBER_DIGITS`` digits;
- one render takes at most ``MAX_STEPS`` steps (loop iterations, calls and filters; a macro
  call counts ten, measuring ten items of a value one), which stops nested loops and runaway macro
  recursion within about a second;
- the caller (:class:`veolab.experiment.templates.PromptTemplates`) stops the output at
  ``MAX_OUTPUT_CHARS`` and refuses a prompt above ``MAX_PROMPT_CHARS``.

A limit raises :class:`LimitError` (a Jinja ``TemplateRuntimeError``) saying which limit and how
to stay under it; the caller turns it into a one-line ``TemplateError`` with the template and line.
This is not a memory limit for the whole process: it bounds the ways a template can ask for a
lot of memory or time, which is what a prompt template has no reason to do.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import re
import string
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.runtime import Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

MAX_PROMPT_CHARS = 20_000  # the rendered prompt, after whitespace is collapsed
MAX_OUTPUT_CHARS = 200_000  # the raw output, before whitespace is collapsed
MAX_VALUE_SIZE = 100_000  # characters or items of any one value a template makes
MAX_NUMBER_DIGITS = 1_000  # decimal digits of a number made by * or **
MAX_STEPS = 100_000  # loop iterations + calls + filters (+ items measured / 10), per render
MAX_LIPSUM = 100  # paragraphs (and words per paragraph / 10) of lipsum()

_STEP_FILTER = "veolab_steps"
_SIZE_FILTER = "veolab_sized"


class LimitError(jinja2.TemplateRuntimeError):
    """A template went over one of the sandbox's limits."""


class _Steps:
    """A render's work so far, in tenths of a step (measuring one item costs a tenth)."""

    def __init__(self) -> None:
        self.count = 0

    def charge(self, tenths: int = 10) -> None:
        self.count += tenths
        if self.count > MAX_STEPS * 10:
            raise LimitError(
                f"the template took more than {MAX_STEPS:,} steps (loop iterations and calls): "
                "loop over fewer items"
            )


_steps: ContextVar[_Steps | None] = ContextVar("veolab_template_steps", default=None)


@contextlib.contextmanager
def render_budget() -> Iterator[None]:
    """Give the renders inside a fresh step budget (``MAX_STEPS``)."""
    token = _steps.set(_Steps())
    try:
        yield
    finally:
        _steps.reset(token)


def _charge(tenths: int = 10) -> None:
    steps = _steps.get()
    if steps is not None:
        steps.charge(tenths)


def value_size(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """About how many characters ``str(value)`` makes; counting stops once past ``limit``.

    Containers count their items and what is inside them (a list holding one big string ten
    times counts it ten times, as ``str()`` would write it ten times).
    """
    total = 0
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
            continue
        _charge(1)
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, bool) or item is None:
            total += 4
        elif isinstance(item, int):
            total += item.bit_length() * 3 // 10 + 1
        elif isinstance(item, dict):
            total += len(item) + 2
            stack.append(itertools.chain(item.keys(), item.values()))
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 2
            stack.append(iter(item))
        elif isinstance(item, Namespace):
            attrs = object.__getattribute__(item, "_Namespace__attrs")
            total += len(attrs) + 12
            stack.append(iter(attrs.values()))
        else:
            total += 8
        if total > limit:
            return total
    return total


_END = object()


def _check_size(what: str, size: int) -> None:
    if size > MAX_VALUE_SIZE:
        raise LimitError(
            f"{what} would make more than {MAX_VALUE_SIZE:,} characters or items (the sandbox's "
            "limit): make it smaller"
        )


def _check_value(what: str, value: Any) -> Any:
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset | Namespace):
        _check_size(what, value_size(value))
    return value


def _check_digits(what: str, digits: float) -> None:
    if digits > MAX_NUMBER_DIGITS:
        raise LimitError(
            f"{what} would make a number of about {int(digits) + 1:,} digits, more than the "
            f"sandbox's {MAX_NUMBER_DIGITS:,}: use smaller numbers"
        )


def _digits(n: int) -> float:
    return math.log10(abs(n)) if n else 0.0


def _check_ints(what: str, args: Iterable[Any]) -> None:
    for a in args:
        if isinstance(a, int) and not isinstance(a, bool) and abs(a) > MAX_VALUE_SIZE:
            raise LimitError(
                f"{what}: {a:,} is above the sandbox's limit of {MAX_VALUE_SIZE:,} "
                "characters or items: use a smaller number"
            )


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _format_size(what: str, fmt: str, args: Iterable[Any], percent: bool) -> int:
    """The size a ``%`` or ``str.format`` call would make, checking widths and precisions."""
    numbers: list[int] = []
    if percent:
        for width, precision in _PERCENT_SPEC.findall(fmt):
            numbers += [int(n) for n in (width, precision) if n.isdigit()]
    else:
        try:
            parsed = list(string.Formatter().parse(fmt))
        except ValueError:
            parsed = []
        for _, _, spec, _ in parsed:
            numbers += [int(n) for n in re.findall(r"\d+", spec or "")]
    arg_list = list(args)
    _check_ints(what, numbers)
    _check_ints(what, arg_list)
    return len(fmt) + sum(numbers) + sum(value_size(a) for a in arg_list)


def _binop_size(operator: str, left: Any, right: Any) -> None:
    seqs = str | bytes | list | tuple
    if operator == "*":
        if isinstance(left, int) and isinstance(right, seqs):
            left, right = right, left
        if isinstance(left, seqs) and isinstance(right, int):
            _check_ints("'*'", [right])
            _check_size("'*'", value_size(left) * max(right, 0))
        elif isinstance(left, int) and isinstance(right, int):
            _check_digits("'*'", _digits(left) + _digits(right))
    elif operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            _check_digits("'**'", _digits(left) * right)
    elif operator == "+":
        if isinstance(left, seqs) and isinstance(right, seqs):
            _check_size("'+'", value_size(left) + value_size(right))
    elif operator == "%" and isinstance(left, str):
        values = right if isinstance(right, tuple) else [right]
        if isinstance(right, dict):
            values = list(right.values())
        _check_size("'%'", _format_size("'%'", left, values, percent=True))


def _str_method_size(name: str, s: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Check a call of a str method whose result can be much longer than the string."""
    what = f"str.{name}()"
    if name in ("center", "ljust", "rjust", "zfill"):
        _check_ints(what, args)
    elif name == "expandtabs":
        _check_ints(what, [*args, *kwargs.values()])
        tab = next(iter([*args, *kwargs.values()]), 8)
        if isinstance(tab, int):
            _check_size(what, len(s) + s.count("\t") * max(tab, 0))
    elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        old, new = args[0], args[1]
        hits = s.count(old) if old else len(s) + 1
        _check_size(what, len(s) + hits * max(len(new) - len(old), 0))
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((value_size(v) for v in args[0].values()), default=0)
        _check_size(what, len(s) * max(longest, 1))
    elif name == "join" and args:
        items = args[0]
        if isinstance(items, list | tuple | set | frozenset | dict | str):
            _check_size(what, value_size(items) + len(s) * len(items))
    elif name in ("format", "format_map"):
        values: list[Any] = [*args, *kwargs.values()]
        if name == "format_map" and args and isinstance(args[0], dict):
            values = list(args[0].values())
        _check_size(what, _format_size(what, s, values, percent=False))


# filter name -> check of (value, args, kwargs) before the filter runs
def _filter_center(value: Any, args: tuple, kwargs: dict) -> None:
    _check_ints("filter center", [*args, *kwargs.values()])


def _filter_indent(value: Any, args: tuple, kwargs: dict) -> None:
    width = args[0] if args else kwargs.get("width", 4)
    _check_ints("filter indent", [width])
    w = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    s = value if isinstance(value, str) else ""
    _check_size("filter indent", len(s) + (s.count("\n") + 1) * max(w, 0))


def _filter_format(value: Any, args: tuple, kwargs: dict) -> None:
    if isinstance(value, str):
        values = list(kwargs.values()) or list(args)
        _check_size("filter format", _format_size("filter format", value, values, percent=True))


def _filter_replace(value: Any, args: tuple, kwargs: dict) -> None:
    if isinstance(value, str):
        _str_method_size("replace", value, args[:2], {})


def _filter_join(value: Any, args: tuple, kwargs: dict) -> None:
    sep = args[0] if args else kwargs.get("d", "")
    if isinstance(value, list | tuple | set | frozenset | dict | str):
        sep_len = len(sep) if isinstance(sep, str) else 0
        _check_size("filter join", value_size(value) + sep_len * len(value))


def _filter_wordwrap(value: Any, args: tuple, kwargs: dict) -> None:
    _check_ints("filter wordwrap", [*args, *kwargs.values()])
    wrap = args[2] if len(args) > 2 else kwargs.get("wrapstring", "\n")
    s = value if isinstance(value, str) else ""
    if isinstance(wrap, str):
        _check_size("filter wordwrap", len(s) * (1 + len(wrap)))


def _filter_tojson(value: Any, args: tuple, kwargs: dict) -> None:
    indent = args[0] if args else kwargs.get("indent")
    if isinstance(indent, int) and indent > 100:
        raise LimitError(f"filter tojson: indent {indent} is above 100: use a smaller indent")
    n = value_size(value)
    _check_size("filter tojson", n * (1 + (indent if isinstance(indent, int) else 0)))


def _filter_ints(name: str) -> Callable[[Any, tuple, dict], None]:
    def check(value: Any, args: tuple, kwargs: dict) -> None:
        _check_ints(f"filter {name}", [*args, *kwargs.values()])

    return check


_FILTER_CHECKS: dict[str, Callable[[Any, tuple, dict], None]] = {
    "center": _filter_center,
    "indent": _filter_indent,
    "format": _filter_format,
    "replace": _filter_replace,
    "join": _filter_join,
    "wordwrap": _filter_wordwrap,
    "tojson": _filter_tojson,
    "slice": _filter_ints("slice"),
    "batch": _filter_ints("batch"),
    "truncate": _filter_ints("truncate"),
}


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a filter: its input measured (containers), its arguments checked, its result too."""
    lead = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _charge()
        value, rest = args[lead] if len(args) > lead else None, args[lead + 1 :]
        if isinstance(value, list | tuple | dict | set | frozenset | Namespace):
            _check_value(f"filter {name}", value)
        if check is not None:
            check(value, rest, kwargs)
        return _check_value(f"filter {name}", func(*args, **kwargs))

    return guarded


def _steps_filter(iterable: Any) -> Iterator[Any]:
    """What every ``{% for %}`` loops over: the same items, one step each."""
    for item in iterable:
        _charge()
        yield item


def _sized_filter(value: Any) -> Any:
    """Each part of a ``~`` concatenation: measured before it becomes a string."""
    return _check_value("'~'", value)


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    if not (0 <= n <= MAX_LIPSUM and 0 <= min <= max <= 10 * MAX_LIPSUM):
        raise LimitError(
            f"lipsum(n={n}, min={min}, max={max}): use n at most {MAX_LIPSUM} and max at most "
            f"{10 * MAX_LIPSUM}"
        )
    return generate_lorem_ipsum(n=n, html=html, min=min, max=max)


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, with every ``for`` loop counted and every ``~`` part measured."""

    def visit_Template(self, node: nodes.Template, frame: Any = None) -> None:
        for loop in list(node.find_all(nodes.For)):
            loop.iter = nodes.Filter(
                loop.iter, _STEP_FILTER, [], [], None, None, lineno=loop.iter.lineno
            )
        for concat in list(node.find_all(nodes.Concat)):
            concat.nodes = [
                nodes.Filter(part, _SIZE_FILTER, [], [], None, None, lineno=part.lineno)
                for part in concat.nodes
            ]
        node.set_environment(self.environment)
        super().visit_Template(node, frame)


class PromptSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox with veolab's size and step limits (see the module docstring)."""

    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        options.setdefault("finalize", self._finalize)
        super().__init__(**options)
        self.filters = {name: _guard_filter(name, f) for name, f in self.filters.items()}
        self.filters[_STEP_FILTER] = _steps_filter
        self.filters[_SIZE_FILTER] = _sized_filter
        self.globals["lipsum"] = _lipsum

    @staticmethod
    def _finalize(value: Any) -> Any:
        return _check_value("the expression", value)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _binop_size(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        # a macro call costs Jinja about as much as ten loop iterations
        _charge(100 if isinstance(__obj, Macro) else 10)
        target = getattr(__obj, "__wrapped__", __obj)  # the sandbox wraps str.format
        if __obj is range or target is range or __obj is __self.globals.get("range"):
            try:
                n = len(range(*args, **kwargs))
            except (TypeError, ValueError, OverflowError):
                n = None  # let range() itself say what is wrong
            if n is not None and n > MAX_VALUE_SIZE:
                raise LimitError(
                    f"range() would make {n:,} numbers, more than the sandbox's "
                    f"{MAX_VALUE_SIZE:,}: use a smaller range"
                )
        owner = getattr(target, "__self__", None)
        if isinstance(owner, str):
            _str_method_size(getattr(target, "__name__", ""), owner, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_value(f"{getattr(target, '__name__', 'the call')}()", result)
