"""Waiting for a run, as a state machine without I/O, driven alike by the worker and the trigger.

``RunWait`` decides everything about a wait: when to check the status, how long to back off after
an error, what Retry-After means, which statuses end the wait, which errors end it, and when the
deadline has come. Its drivers only poll and sleep:

    while not isinstance(step := wait.next(clock()), Finished):
        if isinstance(step, Sleep): sleep(step.seconds)
        else: report poll(budget=step.budget) back with wait.polled(...) or wait.failed(...)

There is one retry loop per wait: each status check is sent once (its transport does not retry),
and every sleep and request budget is cut to the deadline, so nothing runs past it. The delays
are kept as capped floats (never ``2 ** n``), so a wait can make any number of checks.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_tela.errors import TelaBadResponseError, TelaError
from airflow_provider_tela.models import RunStatus

FIRST_POLL_DELAY = 1.0
RETRY_AFTER_MAX = 300.0
# A server that keeps answering garbage is not going to get better by the deadline.
MAX_BAD_ANSWERS = 5


@dataclass(frozen=True)
class Poll:
    """Check the run's status now; the check may take at most ``budget`` seconds (None: no limit)."""

    budget: float | None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Finished:
    """The wait is over: ``outcome`` is ``succeeded``, ``failed``, ``timeout`` or ``error``."""

    outcome: str
    run: Any = None
    error: TelaError | None = None
    last_status: str | None = None


Step = Poll | Sleep | Finished


@dataclass
class RunWait:
    """One wait for one run, in the driver's clock (monotonic seconds, or Unix time for a trigger).

    :param deadline: when the wait gives up, in the same clock; None waits forever.
    :param first_poll_at: when the first check is due (now for a run found by id, soon after a
        submission, since short canvases finish in seconds).
    """

    run_id: str
    poll_interval: float
    deadline: float | None
    first_poll_at: float
    first_delay: float = FIRST_POLL_DELAY
    max_bad_answers: int = MAX_BAD_ANSWERS
    rng: Callable[[], float] = random.random
    polls: int = 0
    last_status: str | None = None
    _next_poll_at: float = field(init=False)
    _delay: float = field(init=False)
    _error_delay: float = field(init=False)
    _bad_answers: int = 0
    _unknown_seen: set[str] = field(default_factory=set)
    _finished: Finished | None = None

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")
        self._next_poll_at = self.first_poll_at
        self._delay = min(self.first_delay, self.poll_interval)
        self._error_delay = self._delay

    def next(self, now: float) -> Step:
        if self._finished is not None:
            return self._finished
        if self.deadline is not None and now >= self.deadline:
            return self._finish(Finished("timeout", last_status=self.last_status))
        if now < self._next_poll_at:
            wait = self._next_poll_at - now
            return Sleep(wait if self.deadline is None else min(wait, self.deadline - now))
        return Poll(None if self.deadline is None else self.deadline - now)

    def polled(self, run: Any, now: float) -> str | None:
        """Report a status check's answer (a run with ``status``); returns a line worth logging, if any."""
        self.polls += 1
        self._bad_answers = 0
        self._error_delay = min(self.first_delay, self.poll_interval)
        status = str(run.status)
        changed = status != self.last_status
        self.last_status = status
        if status == RunStatus.SUCCEEDED:
            self._finish(Finished("succeeded", run=run, last_status=status))
            return None
        if status == RunStatus.FAILED:
            self._finish(Finished("failed", run=run, last_status=status))
            return None
        self._next_poll_at = now + self._delay
        self._delay = min(self._delay * 2, self.poll_interval)
        note = unknown_status_note(self.run_id, status, self._unknown_seen)
        if note is not None:
            return note
        if changed:
            return f"Tela run {self.run_id} is {status}"
        return None

    def failed(self, error: TelaError, now: float) -> str | None:
        """Report a status check that raised; returns a line worth logging, if the wait goes on."""
        self.polls += 1
        if isinstance(error, TelaBadResponseError):
            self._bad_answers += 1
            if self._bad_answers > self.max_bad_answers:
                self._finish(Finished("error", error=error, last_status=self.last_status))
                return None
        elif not error.transient:
            self._finish(Finished("error", error=error, last_status=self.last_status))
            return None
        ceiling = self._error_delay
        self._error_delay = min(self._error_delay * 2, max(self.poll_interval, self.first_delay))
        delay = ceiling / 2 + self.rng() * ceiling / 2
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), RETRY_AFTER_MAX))
        self._next_poll_at = now + delay
        return f"Tela run {self.run_id}: status check failed, next one in {delay:.1f} s: {error}"

    def report(self, outcome: Any, now: float, log: Any) -> None:
        """Report a status check's outcome (the run, or the TelaError it raised) and log what matters."""
        if isinstance(outcome, TelaError):
            note = self.failed(outcome, now)
            if note:
                log.warning("%s", note)
        else:
            note = self.polled(outcome, now)
            if note:
                log.info("%s", note)

    def _finish(self, finished: Finished) -> Finished:
        self._finished = finished
        return finished



def unknown_status_note(run_id: str, status: str, seen: set[str]) -> str | None:
    """The warning for a status Tela added and this provider does not know: once per status (``seen``)."""
    if status in RunStatus.KNOWN or status in seen:
        return None
    seen.add(status)
    return (
        f"Tela run {run_id} has status {status!r}, which this provider does not know; it is read as not "
        "finished, and the wait goes on until succeeded, failed or the deadline."
    )


def drive(
    wait: RunWait, poll: Callable[[float | None], Any], *, clock: Callable[[], float],
    sleep: Callable[[float], Any], log: Any,
) -> Finished:
    """Run ``wait`` to its end with blocking calls (the worker's side). Only the I/O is here."""
    while not isinstance(step := wait.next(clock()), Finished):
        if isinstance(step, Sleep):
            sleep(step.seconds)
            continue
        try:
            outcome = poll(step.budget)
        except TelaError as error:
            outcome = error
        wait.report(outcome, clock(), log)
    return step


async def adrive(
    wait: RunWait, poll: Callable[[float | None], Awaitable[Any]], *, clock: Callable[[], float], log: Any,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> Finished:
    """Run ``wait`` to its end in an event loop (the trigger's side). Only the I/O is here."""
    while not isinstance(step := wait.next(clock()), Finished):
        if isinstance(step, Sleep):
            await sleep(step.seconds)
            continue
        try:
            outcome = await poll(step.budget)
        except TelaError as error:
            outcome = error
        wait.report(outcome, clock(), log)
    return step
