"""The wait state machine and the per-request retry rules, on a fake clock: thousands of steps in milliseconds.

Both the worker (``TelaHook.wait_for_run``) and the trigger (``TelaRunTrigger``) drive ``RunWait``;
these tests drive it with a clock that only moves when the machine sleeps, and a scripted server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import pytest

from airflow_provider_tela._http import calls
from airflow_provider_tela._http.deadline import Deadline
from airflow_provider_tela._http.retry import Failure, RetryPolicy
from airflow_provider_tela._wait import Finished, Poll, RunWait, Sleep, adrive, drive
from airflow_provider_tela.errors import (
    TelaAuthenticationError,
    TelaBadResponseError,
    TelaConnectionError,
    TelaRateLimitError,
    TelaRunMayExistError,
    TelaServerError,
    TelaTLSError,
)
from airflow_provider_tela.models import CompletionRequest

log = logging.getLogger("test")


@dataclass
class Run:
    id: str
    status: str

    def failure_reason(self) -> str:
        return "boom"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.slept.append(seconds)
        self.now += seconds


def wait_for(statuses, *, poll_interval=10.0, timeout=None, clock=None, poll_cost=0.0):
    """Drive a wait over a scripted sequence of poll outcomes (a status string or an exception)."""
    clock = clock or FakeClock()
    script = iter(statuses)
    budgets = []

    def poll(budget):
        budgets.append(budget)
        clock.now += poll_cost if budget is None else min(poll_cost, budget)
        outcome = next(script)
        if isinstance(outcome, Exception):
            raise outcome
        return Run("r1", outcome)

    wait = RunWait("r1", poll_interval=poll_interval, deadline=None if timeout is None else clock.now + timeout,
                   first_poll_at=clock.now + 1.0, rng=lambda: 0.5)
    finished = drive(wait, poll, clock=clock, sleep=clock.sleep, log=log)
    return finished, wait, clock, budgets


def test_a_wait_runs_any_number_of_checks_without_overflow():
    # The old schedule computed 2 ** poll_number and died with OverflowError at the 1,025th check.
    finished, wait, clock, _ = wait_for(["running"] * 100_000 + ["succeeded"], poll_interval=10)
    assert finished.outcome == "succeeded" and wait.polls == 100_001
    assert clock.slept[:5] == [1.0, 1.0, 2.0, 4.0, 8.0] and set(clock.slept[5:]) == {10.0}


def test_a_wait_ends_at_its_deadline_exactly():
    finished, _wait, clock, budgets = wait_for(["running"] * 10_000, poll_interval=60, timeout=3 * 3600)
    assert finished.outcome == "timeout" and finished.last_status == "running"
    assert clock.now == 1000.0 + 3 * 3600
    assert all(b is not None and b > 0 for b in budgets)


def test_retry_after_of_a_year_does_not_outlive_the_deadline():
    throttled = TelaRateLimitError("slow down", status_code=429, retry_after=99_999_999)
    finished, wait, clock, _ = wait_for([throttled] * 10, poll_interval=1, timeout=3)
    assert finished.outcome == "timeout"
    assert clock.now == 1003.0 and wait.polls == 1  # one check, then a sleep cut to the deadline
    assert sum(clock.slept) == 3.0


def test_every_status_check_gets_only_the_time_left():
    # A slow server (each check takes up to its whole budget) cannot push the timeout past the deadline.
    finished, _, clock, budgets = wait_for(["running"] * 50, poll_interval=1, timeout=5, poll_cost=100)
    assert finished.outcome == "timeout" and clock.now == 1005.0
    assert budgets[0] == 4.0  # the first check comes at +1 s, with 4 s left


def test_transient_errors_back_off_and_the_wait_goes_on():
    errors = [TelaServerError("502", status_code=502), TelaConnectionError("dropped"),
              TelaRateLimitError("429", status_code=429, retry_after=7)]
    finished, wait, clock, _ = wait_for([*errors, "running", "succeeded"], poll_interval=10)
    assert finished.outcome == "succeeded" and wait.polls == 5
    assert clock.slept[1:4] == [0.75, 1.5, 7.0]  # jittered backoff, then Retry-After honoured


def test_unknown_statuses_are_not_finished_and_logged_once(caplog):
    caplog.set_level(logging.INFO, logger="test")
    finished, _wait, _, _ = wait_for(["queued"] * 500 + ["paused", "running", "succeeded"], poll_interval=5)
    assert finished.outcome == "succeeded"
    unknown = [r.message for r in caplog.records if "does not know" in r.message]
    assert len(unknown) == 2 and "'queued'" in unknown[0] and "'paused'" in unknown[1]


def test_a_failed_run_ends_the_wait():
    finished, _, _, _ = wait_for(["created", "running", "failed"])
    assert finished.outcome == "failed" and finished.run.status == "failed"


@pytest.mark.parametrize("error", [
    TelaAuthenticationError("401", status_code=401),
    TelaTLSError("certificate verify failed"),
])
def test_errors_no_retry_can_fix_end_the_wait_at_once(error):
    finished, wait, _, _ = wait_for([error, "running"])
    assert finished.outcome == "error" and finished.error is error and wait.polls == 1


def test_a_server_answering_garbage_for_ever_ends_the_wait_clearly():
    garbage = TelaBadResponseError("not JSON")
    finished, wait, _, _ = wait_for([garbage] * 100, timeout=24 * 3600)
    assert finished.outcome == "error" and wait.polls == 6


def test_garbage_now_and_then_does_not_end_the_wait():
    garbage = TelaBadResponseError("not JSON")
    finished, _, _, _ = wait_for([garbage, garbage, "running"] * 10 + ["succeeded"])
    assert finished.outcome == "succeeded"


def test_machine_steps_poll_sleep_finish():
    wait = RunWait("r", poll_interval=2, deadline=10.0, first_poll_at=1.0)
    assert wait.next(0.0) == Sleep(1.0)
    assert wait.next(1.0) == Poll(9.0)
    wait.polled(Run("r", "running"), 1.5)
    assert wait.next(1.5) == Sleep(1.0)
    assert isinstance(wait.next(10.0), Finished)


# --- one request's retries under a deadline ------------------------------------------------------

GET = calls.get_run("r1")
POST = calls.completion(CompletionRequest.build(canvas_id="c", **{"async": True}))


def fake_deadline(seconds_left: float) -> Deadline:
    clock = FakeClock()
    return Deadline(clock.now + seconds_left, clock)


def test_a_retry_that_would_outlive_the_deadline_is_not_made():
    attempts = RetryPolicy(max_retries=5).attempts(GET, (), fake_deadline(3))
    outcome = attempts.answered(429, {"Retry-After": "99999999"}, b"")
    assert isinstance(outcome.error, TelaRateLimitError) and outcome.retry_in is None
    assert RetryPolicy(max_retries=5).attempts(GET, (), fake_deadline(30)).answered(503, {"Retry-After": "2"}, b"").retry_in == 2


def test_a_call_inside_a_wait_is_sent_once():
    attempts = RetryPolicy(max_retries=5).attempts(GET, (), retries=False)
    assert isinstance(attempts.answered(503, {}, b"").error, TelaServerError)
    assert isinstance(attempts.failed(Failure.NO_ANSWER, "dropped").error, TelaConnectionError)


@pytest.mark.parametrize("status", [500, 502, 504, 520])
def test_a_5xx_to_a_run_creating_post_is_ambiguous_never_retried(status):
    outcome = RetryPolicy(max_retries=5).attempts(POST, ()).answered(status, {}, b"bad gateway")
    assert isinstance(outcome.error, TelaRunMayExistError) and outcome.error.status_code == status


@pytest.mark.parametrize("status", [429, 503, 408])
def test_refusals_before_any_work_are_retried_even_for_a_post(status):
    assert RetryPolicy(max_retries=5).attempts(POST, ()).answered(status, {}, b"").retry_in is not None


@pytest.mark.parametrize("kind", [Failure.NO_ANSWER, Failure.BAD_BODY, Failure.TOO_LARGE, Failure.DEADLINE])
def test_every_post_without_a_usable_answer_may_have_created_a_run(kind):
    assert isinstance(RetryPolicy().attempts(POST, ()).failed(kind, "x").error, TelaRunMayExistError)


def test_a_get_with_an_unreadable_body_is_retried():
    assert RetryPolicy().attempts(GET, ()).failed(Failure.BAD_BODY, "ChunkedEncodingError").retry_in is not None
    assert isinstance(RetryPolicy().attempts(GET, ()).failed(Failure.TOO_LARGE, "x").error, TelaBadResponseError)
    assert isinstance(RetryPolicy().attempts(GET, ()).failed(Failure.TLS, "x").error, TelaTLSError)


def test_backoff_never_overflows():
    steps = RetryPolicy(backoff_base=1, backoff_max=30).steps()
    delays = [steps.delay() for _ in range(5000)]
    assert 15 <= delays[-1] <= 30 and all(0.5 <= delay <= 30 for delay in delays)


def test_retry_after_lengthens_a_backoff_and_never_shortens_it():
    from airflow_provider_tela._http.retry import RETRY_AFTER_MAX, Backoff, honour_retry_after

    assert honour_retry_after(4.0, 0.0) == 4.0  # "Retry-After: 0" forever must not make a busy loop
    assert honour_retry_after(1.0, 10.0) == 10.0
    assert honour_retry_after(1.0, 10.0**9) == RETRY_AFTER_MAX
    steps = Backoff(first=1, ceiling=8, rng=lambda: 1.0)
    assert [steps.delay() for _ in range(5)] == [1, 2, 4, 8, 8]
    steps.reset()
    assert steps.delay(retry_after=3) == 3


@pytest.mark.parametrize("script", [
    ["running"] * 3_000 + ["succeeded"],
    ["created", TelaServerError("503", status_code=503), "queued", TelaConnectionError("down"), "failed"],
    ["running", TelaRateLimitError("429", status_code=429, retry_after=10**8), "running"] + ["running"] * 50,
    ["running", TelaAuthenticationError("401", status_code=401)],
])
def test_the_trigger_s_driver_takes_the_same_steps_as_the_worker_s(script):
    """``adrive`` (the trigger) and ``drive`` (the worker) are two loops around one machine: on the
    same script and clock they sleep, poll and finish identically."""
    import asyncio

    def run(use_async: bool):
        clock, outcomes, budgets = FakeClock(), iter(script), []

        def answer(budget):
            budgets.append(budget)
            outcome = next(outcomes)
            if isinstance(outcome, Exception):
                raise outcome
            return Run("r1", outcome)

        async def apoll(budget):
            return answer(budget)

        async def asleep(seconds):
            clock.sleep(seconds)

        wait = RunWait("r1", poll_interval=10.0, deadline=clock.now + 600, first_poll_at=clock.now + 1.0,
                       rng=lambda: 0.5)
        if use_async:
            finished = asyncio.run(adrive(wait, apoll, clock=clock, sleep=asleep, log=log))
        else:
            finished = drive(wait, answer, clock=clock, sleep=clock.sleep, log=log)
        return finished, clock.slept, budgets, clock.now

    (sync_end, sync_slept, sync_budgets, sync_now), (async_end, async_slept, async_budgets, async_now) = (
        run(False), run(True))
    assert (async_end.outcome, async_slept, async_budgets, async_now) == \
        (sync_end.outcome, sync_slept, sync_budgets, sync_now)
    assert sync_now <= 1000.0 + 600  # never past the deadline
