"""What ``veolab run`` shows while it works, on stderr.

On a terminal: a transient status line from the moment the command starts (planning, opening
the MLflow store, checking what is done), then a live display: a bar with the runs finished out
of the plan, the elapsed time and, once a run has finished, the time left; the counts in the
summary's words (``OUTCOME_WORDS``) and the spend so far; one row per run in flight with its
state (queued, waiting, generating, downloading, analysing, logging) and how long it has been
in it. When it stops (done, an error, Ctrl-C) the display is erased once and its last bar and
counts are printed once.

Anywhere else (a pipe, a file, CI): no bar and nothing before the first run starts, then plain
lines: one when the sweep starts, one each time another tenth of the runs finishes, and one a
minute while nothing else was printed (with what is in flight), so a log shows progress
without repainting.

Every line the live display draws is at least three columns short of the terminal's width: an
echoed ``^C`` then never wraps onto a new line, which made the bar appear twice after Ctrl-C.

This module imports rich only: it is imported before the heavy parts of the command.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.segment import Segment
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

QUEUED = "queued"
HEARTBEAT = 60.0  # seconds without a plain line before one says what is in flight
MAX_ROWS = 10  # runs in flight listed one by one; the rest are counted
BAR_WIDTH = 30
MARGIN = 3  # columns left free at the right of every live line (room for an echoed ^C)


def stderr_console() -> Console:
    return Console(stderr=True)


def is_live(console: Console) -> bool:
    """Whether ``console`` can repaint (a terminal that is not dumb)."""
    return console.is_terminal and not console.is_dumb_terminal


def clock(seconds: float) -> str:
    """``0:07``, ``12:30``, ``1:02:03``."""
    s = max(0, int(seconds))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Startup:
    """A one-line transient status on a terminal while the command prepares; nothing elsewhere.

    with Startup(console) as say:
        say("Planning experiments/quickstart.yaml...")
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or stderr_console()
        self._live: Live | None = None

    def __call__(self, text: str) -> None:
        if not is_live(self.console):
            return
        spinner = Table.grid(padding=(0, 1))
        spinner.add_column(no_wrap=True)
        spinner.add_column()  # the text gives way when the width is short, not the spinner
        spinner.add_row(Spinner("dots"), Text(text, no_wrap=True, overflow="ellipsis"))
        if self._live is None:
            self._live = Live(
                _Cropped(spinner), console=self.console, transient=True, refresh_per_second=12.5
            )
            self._live.start(refresh=True)  # drawn now, not at the first tick
        else:
            self._live.update(_Cropped(spinner), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __enter__(self) -> Startup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Cropped:
    """``renderable`` drawn at most ``MARGIN`` columns short of the width, every line cut there
    (what does not fit is cut, never wrapped onto a line of its own)."""

    def __init__(self, renderable: Any) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(10, options.max_width - MARGIN)
        lines = console.render_lines(self.renderable, options.update_width(width), pad=False)
        for line in lines:
            yield from Segment.adjust_line_length(line, width, pad=False)
            yield Segment.line()


class _Inflight:
    __slots__ = ("label", "seed", "since", "state")

    def __init__(self, label: str, seed: int, state: str, since: float) -> None:
        self.label, self.seed, self.state, self.since = label, seed, state, since


class SweepProgress:
    """Follows ``run_plan``'s events (pass :meth:`event` as ``on_event``) and shows them.

    ``console`` defaults to stderr; ``now`` is the clock (a test passes its own); ``heartbeat``
    is how long the plain lines may stay silent.
    """

    def __init__(
        self,
        plan: Any,
        status: Any,
        console: Console | None = None,
        *,
        now: Callable[[], float] = time.monotonic,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        from veolab.runner.status import DONE
        from veolab.runner.sweep import ALREADY, END, OUTCOME_WORDS, START, STATES

        self._words, self._already, self._start, self._end = OUTCOME_WORDS, ALREADY, START, END
        self._states = STATES
        self.plan = plan
        self.total = len(plan.runs)
        self.already = status.count(DONE)
        self.console = console or stderr_console()
        self.live_mode = is_live(self.console)
        self.now = now
        self.heartbeat = heartbeat
        self.counts: Counter[str] = Counter()
        self.spend = 0.0
        self.inflight: dict[int, _Inflight] = {}
        self.began: float | None = None  # the first event
        self.worked = 0  # runs finished that were not already done before the sweep
        self._lock = threading.RLock()
        self._live: Live | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._last_line = 0.0
        self._next_mark = 0
        self._unsaid = False  # something happened since the last plain line
        self._closed = False
        self.notice = ""  # what the sweep said that belongs to no run (waiting for a colleague)

    # -- the numbers ------------------------------------------------------------------------

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    def counts_text(self) -> str:
        """The counts in the summary's words (the non-zero ones) and the spend."""
        c = self.counts
        parts = [f"{word} {c[kind]}" for kind, word in self._words.items() if c[kind]]
        return f"{', '.join(parts) or 'generated 0'} | spend ${self.spend:.2f}"

    def elapsed(self) -> float:
        return 0.0 if self.began is None else self.now() - self.began

    def left(self) -> float | None:
        """Seconds to go at the pace so far; None until a run that had work to do finished."""
        if not self.worked or self.began is None:
            return None
        return self.elapsed() / self.worked * (self.total - self.finished)

    def timing_text(self) -> str:
        left = self.left()
        text = clock(self.elapsed())
        return (
            text
            if left is None or self.finished >= self.total
            else f"{text}, about {clock(left)} left"
        )

    def inflight_text(self) -> str:
        """``queued 3, generating 2``: runs in flight by state, in the pipeline's order."""
        by_state = Counter(r.state for r in self.inflight.values())
        order = {state: i for i, state in enumerate((QUEUED, *self._states))}
        states = sorted(by_state, key=lambda state: order.get(state, len(order)))
        return ", ".join(f"{state} {by_state[state]}" for state in states)

    # -- events (from the sweep's event loop thread) ----------------------------------------

    def event(self, kind: str, spec: Any, outcome: Any) -> None:
        with self._lock:
            now = self.now()
            first = self.began is None
            if first:
                self.began = now
            if kind == self._end and outcome is not None:
                self.inflight.pop(spec.index, None)
                self.counts[outcome.outcome] += 1
                self.spend += outcome.paid
                if outcome.outcome != self._already:
                    self.worked += 1
            else:
                state = QUEUED if kind == self._start else kind
                self.inflight[spec.index] = _Inflight(
                    spec.variant_label or spec.variant_id, spec.seed, state, now
                )
            self._unsaid = True
            if self.live_mode:
                return
            if first:
                self._say(self.start_line())
            if kind == self._end and outcome is not None and outcome.outcome != self._already:
                due = self.finished >= self._next_mark or self.finished >= self.total
                if due or now - self._last_line >= self.heartbeat:
                    self._say(self.line())

    def note(self, text: str) -> None:
        """The sweep says something that belongs to no run: under the bar on a terminal, else
        a line of its own."""
        with self._lock:
            self.notice = text
            if not self.live_mode:
                self._say(text)

    # -- plain lines ------------------------------------------------------------------------

    def start_line(self) -> str:
        name, n = self.plan.experiment.name, self.total
        return (
            f"{name}: {n} runs on {self.plan.describe_hosts()}, "
            f"{self.already} already done, {n - self.already} to run"
        )

    def line(self) -> str:
        text = f"{self.plan.experiment.name}: {self.finished}/{self.total} | {self.counts_text()}"
        text += f" | {self.timing_text()}"
        inflight = self.inflight_text()
        return f"{text} | in flight: {inflight}" if inflight else text

    def _say(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        self._last_line = self.now()
        step = max(1, math.ceil(self.total / 10))
        self._next_mark = (self.finished // step + 1) * step
        self._unsaid = False

    def tick(self) -> None:
        """A plain line when runs are in flight and none was printed for ``heartbeat`` seconds
        (the ticker calls it)."""
        with self._lock:
            if self.inflight and self.now() - self._last_line >= self.heartbeat:
                self._say(self.line())

    def _tick_forever(self) -> None:
        while not self._stop.wait(min(self.heartbeat, 5.0)):
            self.tick()

    # -- the live display -------------------------------------------------------------------

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        with self._lock:
            yield from _Cropped(self.render(with_inflight=True)).__rich_console__(console, options)

    def render(self, *, with_inflight: bool) -> Group:
        head = Table.grid(padding=(0, 1))
        head.add_column(no_wrap=True, overflow="ellipsis", max_width=24)
        head.add_column(max_width=BAR_WIDTH)
        head.add_column(no_wrap=True, justify="right")
        head.add_column(no_wrap=True)
        head.add_row(
            Text(self.plan.experiment.name, style="bold"),
            ProgressBar(total=max(1, self.total), completed=self.finished),
            f"{self.finished}/{self.total}",
            self.timing_text(),
        )
        parts: list[Any] = [head, Text(self.counts_text(), no_wrap=True, overflow="ellipsis")]
        if self.notice:
            parts.append(Text(self.notice, style="yellow"))
        if with_inflight:
            parts.extend(self._inflight_rows())
        return Group(*parts)

    def _inflight_rows(self) -> list[Any]:
        if self.began is None:
            return [Text("  starting: the provider and the MLflow sweep run...", style="dim")]
        active = sorted((i, r) for i, r in self.inflight.items() if r.state != QUEUED)
        queued = len(self.inflight) - len(active)
        rows: list[Any] = []
        if active:
            table = Table.grid(padding=(0, 2))
            table.add_column(justify="right", no_wrap=True)
            table.add_column(max_width=48)  # the one that gives way when the width is short
            table.add_column(justify="right", no_wrap=True)
            table.add_column(no_wrap=True)
            table.add_column(justify="right", no_wrap=True)
            now = self.now()
            for i, r in active[:MAX_ROWS]:
                table.add_row(
                    f"  run {i}",
                    Text(r.label, no_wrap=True, overflow="ellipsis"),
                    f"seed {r.seed}",
                    r.state,
                    clock(now - r.since),
                )
            rows.append(table)
        more = len(active) - MAX_ROWS
        tail = ([f"{more} more in flight"] if more > 0 else []) + (
            [f"queued {queued}"] if queued else []
        )
        if tail:
            rows.append(Text("  " + ", ".join(tail), style="dim"))
        return rows

    # -- start and stop ---------------------------------------------------------------------

    def __enter__(self) -> SweepProgress:
        if self.live_mode:
            self._live = Live(
                self,
                console=self.console,
                refresh_per_second=4,
                transient=True,
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start()
        else:
            self._last_line = self.now()
            self._ticker = threading.Thread(
                target=self._tick_forever, name="veolab-progress", daemon=True
            )
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop once: erase the live display, then print its bar and counts once (or, in plain
        mode, a last line when something happened since the previous one)."""
        if self._closed:
            return
        self._closed = True
        live, self._live = self._live, None
        if live is not None:
            live.stop()
            with self._lock:
                if self.began is not None:
                    self.console.print(_Cropped(self.render(with_inflight=False)))
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=5)
            self._ticker = None
        with self._lock:
            if self.began is not None and self._unsaid:
                self._say(self.line())
