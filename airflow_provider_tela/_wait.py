"""Waiting for a run (or a task), as a state machine without I/O, driven alike by the worker and the trigger.

``RunWait`` decides everything about a wait: when to check the status (its ``Schedule``), how long
to back off after an error and what Retry-After means (``_http.retry``, the one home of those rules),
which statuses end the wait (its ``Ends``), which errors end it, and when the deadline has come. Its
drivers only poll and sleep:

    while not isinstance(step := wait.next(clock()), Finished):
        if isinstance(step, Sleep): sleep(step.seconds)
        else: report poll(budget=step.budget) back with wait.report(...)

There is one retry loop per wait: each status check is sent once (its transport does not retry),
and every sleep and request budget is cut to the deadline, so nothing runs past it.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from airflow_provider_tela._http.retry import Backoff
from airflow_provider_tela._types import Kind, WaitFor
from airflow_provider_tela.errors import TelaBadResponseError, TelaError
from airflow_provider_tela.models import RunStatus, TaskStatus

FIRST_POLL_DELAY = 1.0
# A server that keeps answering garbage is not going to get better by the deadline.
MAX_BAD_ANSWERS = 5

Outcome = Literal["succeeded", "failed", "timeout", "error"]


@dataclass(frozen=True)
class Ends:
    """Which statuses of what is waited for end the wait, and how. Any other status is "not yet"."""

    what: str  # "run" or "task", as messages name it
    succeeded: frozenset[str]
    failed: frozenset[str]
    known: frozenset[str]  # documented statuses: an unknown one is warned about once

    def outcome(self, status: str) -> Outcome | None:
        if status in self.succeeded:
            return "succeeded"
        if status in self.failed:
            return "failed"
        return None


RUN_ENDS = Ends("run", frozenset({RunStatus.SUCCEEDED}), frozenset({RunStatus.FAILED}), RunStatus.KNOWN)
_TASK_FAILED = frozenset({TaskStatus.FAILED, TaskStatus.CANCELLED})
# A task's output is there once its run ended: in review (validating) or done (completed).
TASK_OUTPUT_ENDS = Ends("task", frozenset({TaskStatus.VALIDATING, TaskStatus.COMPLETED}), _TASK_FAILED,
                        TaskStatus.KNOWN)
# Approved: completed. An approval revoked (back to validating) before a check saw it is not one.
TASK_APPROVAL_ENDS = Ends("task", frozenset({TaskStatus.COMPLETED}), _TASK_FAILED, TaskStatus.KNOWN)

def ends_for(kind: Kind, wait_for: WaitFor = "output") -> Ends:
    """What ends the wait for a run, or for a task's output or its approval."""
    if kind == "run":
        return RUN_ENDS
    return TASK_APPROVAL_ENDS if wait_for == "approval" else TASK_OUTPUT_ENDS


class Schedule(Protocol):
    def after(self, checks: int) -> float:
        """Seconds from the ``checks``-th status check of an active run (1 for the first) to the next."""
        ...


@dataclass(frozen=True)
class Doubling:
    """From ``first`` seconds, doubling to ``ceiling``: short runs are seen soon, long ones cheaply."""

    first: float
    ceiling: float

    def after(self, checks: int) -> float:
        delay = min(self.first, self.ceiling)
        for _ in range(min(checks - 1, 64)):  # capped float doubling, never 2 ** n
            delay = min(delay * 2, self.ceiling)
        return delay


@dataclass(frozen=True)
class SensorSchedule:
    """A sensor's pokes, as Airflow's ``BaseSensorOperator`` spaces them: every ``poke_interval``, or
    with ``exponential_backoff`` doubling from it with a jitter hashed from ``seed`` (the sensor's dag,
    task and start), each at most ``max_wait``. Poke, reschedule and deferred modes share it."""

    poke_interval: float
    exponential_backoff: bool = False
    max_wait: float | None = None
    seed: str = ""

    def after(self, checks: int) -> float:
        if not self.exponential_backoff:
            interval = self.poke_interval
        else:
            min_backoff = max(int(self.poke_interval * 2.0 ** min(checks - 2, 60)), 1)
            digest = hashlib.sha1(f"{self.seed}#{checks}".encode(), usedforsecurity=False).hexdigest()
            interval = float(min_backoff + int(digest, 16) % min_backoff)
        return interval if self.max_wait is None else min(self.max_wait, interval)

    def to_json(self) -> dict[str, Any]:
        return {"poke_interval": self.poke_interval, "exponential_backoff": self.exponential_backoff,
                "max_wait": self.max_wait, "seed": self.seed}


@dataclass(frozen=True)
class Poll:
    """Check the status now; the check may take at most ``budget`` seconds (None: no limit)."""

    budget: float | None


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Finished:
    outcome: Outcome
    run: Any = None
    error: TelaError | None = None
    last_status: str | None = None


Step = Poll | Sleep | Finished


@dataclass
class RunWait:
    """One wait for one run or task, in the driver's clock (monotonic seconds, or Unix time for a trigger).

    :param deadline: when the wait gives up, in the same clock; None waits forever.
    :param first_poll_at: when the first check is due (now for a run found by id, soon after a
        submission, since short canvases finish in seconds).
    :param schedule: when to check again while the run is active; by default from ``first_delay``
        doubling to ``poll_interval``.
    """

    run_id: str
    poll_interval: float
    deadline: float | None
    first_poll_at: float
    first_delay: float = FIRST_POLL_DELAY
    max_bad_answers: int | None = MAX_BAD_ANSWERS  # None: an unreadable answer is "not yet", however many
    rng: Callable[[], float] = random.random
    ends: Ends = RUN_ENDS
    schedule: Schedule | None = None
    polls: int = 0
    last_status: str | None = None
    _next_poll_at: float = field(init=False)
    _active_checks: int = 0
    _errors: Backoff = field(init=False)
    _bad_answers: int = 0
    _unknown_seen: set[str] = field(default_factory=set)
    _finished: Finished | None = None

    def __post_init__(self) -> None:
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")
        self._next_poll_at = self.first_poll_at
        if self.schedule is None:
            self.schedule = Doubling(self.first_delay, self.poll_interval)
        first = min(self.first_delay, self.poll_interval)
        self._errors = Backoff(first, max(self.poll_interval, self.first_delay), self.rng)

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
        """Report a status check's answer (anything with ``status``); returns a line worth logging, if any."""
        self.polls += 1
        self._bad_answers = 0
        self._errors.reset()
        status = str(run.status)
        changed = status != self.last_status
        self.last_status = status
        outcome = self.ends.outcome(status)
        if outcome is not None:
            self._finish(Finished(outcome, run=run, last_status=status))
            return None
        self._active_checks += 1
        assert self.schedule is not None
        self._next_poll_at = now + self.schedule.after(self._active_checks)
        note = unknown_status_note(self.ends, self.run_id, status, self._unknown_seen)
        if note is not None:
            return note
        if changed:
            return f"Tela {self.ends.what} {self.run_id} is {status}"
        return None

    def failed(self, error: TelaError, now: float) -> str | None:
        """Report a status check that raised; returns a line worth logging, if the wait goes on."""
        self.polls += 1
        if isinstance(error, TelaBadResponseError):
            self._bad_answers += 1
            if self.max_bad_answers is not None and self._bad_answers > self.max_bad_answers:
                self._finish(Finished("error", error=error, last_status=self.last_status))
                return None
        elif not error.transient:
            self._finish(Finished("error", error=error, last_status=self.last_status))
            return None
        delay = self._errors.delay(getattr(error, "retry_after", None))
        self._next_poll_at = now + delay
        return f"Tela {self.ends.what} {self.run_id}: status check failed, next one in {delay:.1f} s: {error}"

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


def unknown_status_note(ends: Ends, run_id: str, status: str, seen: set[str]) -> str | None:
    """The warning for a status Tela added and this provider does not know: once per status (``seen``)."""
    if status in ends.known or status in seen:
        return None
    seen.add(status)
    return (
        f"Tela {ends.what} {run_id} has status {status!r}, which this provider does not know; it is read as not "
        "finished, and the wait goes on until it ends or the deadline."
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
