"""What every command shares: turning VeolabError into a one-line message and an exit code, and
stopping on SIGTERM the way Ctrl-C stops.

SIGTERM (``kill``, systemd, docker stop, a CI timeout) interrupts a command as Ctrl-C does: a
KeyboardInterrupt (:class:`Terminated`, or asyncio's own once it cancelled its task), so the
library's interrupt paths run unchanged: the sweep closes its MLflow run as KILLED and the ledger
keeps in-flight jobs for the next run to resume. The process then exits 143 (128 + SIGTERM), as
Ctrl-C exits 130 (128 + SIGINT).
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from veolab.errors import VeolabError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM

# the commands that pay for jobs and pick them up again on the next run
RESUMABLE = frozenset({"run", "rerun", "generate"})
RESUMABLE_NOTE = ": in-flight jobs are kept; run again to resume"


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop like Ctrl-C (an interrupt, not an error)."""


def fail(message: str, code: int) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


class SigtermState:
    """Whether SIGTERM arrived while :func:`sigterm_interrupts` was in force."""

    received = False


@contextmanager
def sigterm_interrupts() -> Iterator[SigtermState]:
    """While inside, SIGTERM interrupts the main thread as SIGINT does.

    When SIGINT has a handler of its own (``asyncio.run`` installs one that cancels the main task,
    so every coroutine unwinds through its clean-up), SIGTERM calls it. Otherwise SIGTERM raises
    :class:`Terminated`: from the running asyncio loop when there is one (a shell that starts a
    background job with SIGINT ignored keeps asyncio from installing its handler), else where the
    main thread is, as Python's SIGINT handler raises KeyboardInterrupt.

    Only the first SIGTERM interrupts; later ones are ignored so that the clean-up it started
    (closing MLflow runs, the ledger) finishes: SIGKILL still ends the process at once. A SIGTERM
    ignored since the process started (SIG_IGN inherited) stays ignored.
    """
    state = SigtermState()
    if threading.current_thread() is not threading.main_thread():
        yield state  # only the main thread may set handlers; a library caller keeps its own
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is signal.SIG_IGN:
        yield state
        return
    owner = os.getpid()

    def on_sigterm(signum: int, frame: Any) -> None:
        if os.getpid() != owner:  # a forked child inherited the handler: die as it would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        state.received = True
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint) and on_sigint is not signal.default_int_handler:
            on_sigint(signal.SIGINT, frame)
            return
        loop = _running_loop()
        if loop is not None:
            # raised from the loop itself, not from inside whichever task is running now:
            # asyncio.run then cancels every task, and each unwinds through its clean-up
            loop.call_soon_threadsafe(_raise_terminated)
            return
        raise Terminated()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield state
    finally:
        signal.signal(signal.SIGTERM, previous)


def _running_loop() -> Any:
    """The asyncio loop running in this thread, if any (asyncio is never imported for it)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _raise_terminated() -> None:
    raise Terminated()


def handle_errors(func: F) -> F:
    """Wrap a command: VeolabError -> 'Error: ...' on stderr and its exit code; Ctrl-C -> 130,
    SIGTERM -> 143."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        sigterm = SigtermState()
        try:
            with sigterm_interrupts() as sigterm:
                return func(*args, **kwargs)
        except VeolabError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt as exc:
            # asyncio.run turns either signal into a plain KeyboardInterrupt once its task unwound
            if not (isinstance(exc, Terminated) or sigterm.received):
                click.echo("Interrupted.", err=True)
                sys.exit(EXIT_SIGINT)
            kept = RESUMABLE_NOTE if func.__name__ in RESUMABLE else ""
            click.echo(f"interrupted by SIGTERM{kept}", err=True)
            sys.exit(EXIT_SIGTERM)

    return wrapper  # type: ignore[return-value]
