"""TelaCompletionOperator's max_cost across tries (``_budget``), without Airflow: a store in memory that
fails on purpose, and a fake Tela answering the look-ups. (The DAG runs: tests/dags/test_spend_dags.py.)"""

from __future__ import annotations

import math
from typing import Any

import pytest

from airflow_provider_tela._budget import RunBudget
from airflow_provider_tela.errors import TelaBudgetError


class Store:
    """The task state store or Variable of one task instance; ``fail_at``: the save that raises
    (counted from 1 across every try), before anything is kept, as a database write that fails."""

    keeps_finished = False
    remembers = True

    def __init__(self, fail_at: int | None = None) -> None:
        self.value: Any = None
        self.saves = 0
        self.fail_at = fail_at

    def load(self) -> Any:
        return self.value

    def save(self, value: dict[str, Any]) -> None:
        self.saves += 1
        if self.saves == self.fail_at:
            raise OSError("the metadata database refused the write (on purpose)")
        self.value = value

    def delete(self) -> None:
        self.value = None


def test_earlier_tries_runs_add_up_and_the_try_past_max_cost_submits_nothing():
    store, tela = Store(), {}
    for number in range(3):
        budget = RunBudget(store, "epoch", max_cost=0.025)
        budget.settle(lambda kind, run_id: tela[run_id])
        budget.check()
        budget.submitted("run", f"r{number}")
        tela[f"r{number}"] = ("succeeded", 0.01)
        budget.ended("run", f"r{number}", "succeeded", {"cost": 0.01})
    budget = RunBudget(store, "epoch", max_cost=0.025)
    budget.settle(lambda kind, run_id: tela[run_id])
    with pytest.raises(TelaBudgetError, match=r"max_cost=0.025 is spent: earlier tries of this task paid 0.03 for "
                                              r"3 Tela run\(s\) \(r0, r1, r2\)"):
        budget.check()
    assert RunBudget(store, "a clear: another epoch", max_cost=0.025).spend().total == 0  # a new budget


def test_a_run_whose_end_was_not_seen_is_looked_up_once_it_ended_and_a_failed_one_for_its_cost():
    store = Store()
    budget = RunBudget(store, "e", max_cost=1.0)
    budget.submitted("run", "died-while-waiting")
    budget.ended("task", "t-failed", "failed", {})  # a failed task's cost may come later
    answers = {"died-while-waiting": ("succeeded", 0.4), "t-failed": ("failed", 0.2), "never-noted": ("failed", 0.3)}
    asked: list[str] = []

    def lookup(kind: str, job_id: str) -> Any:
        asked.append(f"{kind}:{job_id}")
        return answers[job_id]

    again = RunBudget(store, "e", max_cost=1.0)
    again.settle(lookup, recorded=("run", "never-noted"))  # the durable record names one its try never noted
    assert sorted(asked) == ["run:died-while-waiting", "run:never-noted", "task:t-failed"]
    assert RunBudget(store, "e", max_cost=1.0).spend().total == pytest.approx(0.9)
    asked.clear()
    RunBudget(store, "e", max_cost=1.0).settle(lookup, recorded=("run", "never-noted"))
    assert asked == []  # every run settled: Tela is not asked again


def test_a_run_still_running_or_gone_counts_as_paid_at_the_highest_cost_read():
    store = Store()
    budget = RunBudget(store, "e", max_cost=0.5)
    budget.ended("run", "read", "succeeded", {"cost": 0.2})
    budget.submitted("run", "running")
    budget.submitted("run", "gone")
    budget.settle(lambda kind, run_id: (None, None) if run_id == "running" else None)
    spend = budget.spend()
    assert spend.costs_estimated == 2 and spend.total == pytest.approx(0.6)
    with pytest.raises(TelaBudgetError, match=r"2 of them counted at 0\.2, the highest cost read"):
        budget.check()
    assert not RunBudget(store, "e", 0.5).runs["running"].settled  # asked again by the next try


@pytest.mark.parametrize("cost", [None, float("nan"), float("inf"), -0.01, "0.1", True])
def test_an_unreadable_cost_never_lowers_the_total(cost):
    store = Store()
    budget = RunBudget(store, "e", max_cost=10.0)
    budget.ended("run", "r", "succeeded", {"cost": cost})
    with pytest.raises(TelaBudgetError, match="cannot be kept: earlier tries of this task paid for 1 Tela run"):
        RunBudget(store, "e", max_cost=10.0).check()
    budget.ended("run", "r2", "succeeded", {"cost": 3.0})
    assert RunBudget(store, "e", 10.0).spend().total == 6.0  # estimated at the highest cost read
    assert math.isfinite(RunBudget(store, "e", 10.0).spend().total)


@pytest.mark.parametrize("damaged", [
    {"version": 1, "epoch": "e", "runs": "not a list"},
    {"version": 99, "epoch": "e", "runs": []},
    {"version": 1, "epoch": "e", "runs": [{"no": "id"}, 7]},
])
def test_a_record_that_cannot_be_read_counts_as_paid_runs_of_unknown_cost(damaged):
    store = Store()
    store.value = damaged
    budget = RunBudget(store, "e", max_cost=1.0)
    assert budget.runs and all(run.cost is None for run in budget.runs.values())
    with pytest.raises(TelaBudgetError, match="cannot be kept"):
        budget.check()


def test_the_record_goes_at_the_end_below_3_3_and_stays_on_3_3():
    store = Store()
    RunBudget(store, "e", 1.0).submitted("run", "r")
    RunBudget(store, "e", 1.0).end()
    assert store.value is None
    kept = Store()
    kept.keeps_finished = True
    RunBudget(kept, "e", 1.0).submitted("run", "r")
    RunBudget(kept, "e", 1.0).end()
    assert kept.value is not None


def simulate(store: Store, max_cost: float, cost: float, tries: int) -> int:
    """Tries of one task instance, each as the operator goes (settle and check, POST, the durable
    record's run id, the budget's note, the run's end noted, its output refused: the record forgotten),
    until one is refused; a try whose write fails ends there, as the task's try would. Returns the runs paid."""
    tela: dict[str, tuple[str | None, Any]] = {}
    record: str | None = None  # what the durable run record names (it outlives a failed budget write)
    for number in range(tries):
        try:
            budget = RunBudget(store, "e", max_cost)
            budget.settle(lambda kind, run_id: tela.get(run_id), ("run", record) if record else None)
            budget.check()
            run_id = f"run-{number}"
            tela[run_id] = ("succeeded", cost)  # Tela created it and runs it to its end, whatever the try does
            record = run_id
            budget.submitted("run", run_id)
            budget.ended("run", run_id, "succeeded", {"cost": cost})
            record = None  # the output refused: the run record forgotten
        except TelaBudgetError:
            break
        except OSError:
            continue
    return len(tela)


@pytest.mark.parametrize("fail_at", [None, *range(1, 16)])
def test_a_store_failing_at_any_write_never_lets_the_tries_spend_more(fail_at):
    """max_cost=0.025 at 0.01 a run: three runs, wherever one write of the budget fails (a failed note is
    made good by the next try's settle: the durable record still names the run)."""
    assert simulate(Store(fail_at), max_cost=0.025, cost=0.01, tries=10) == 3
