"""max_cost across tries in real DAG runs, the cases no Airflow line changes (newest Airflow only; the
retries on every line: tests/dags/test_spend_dags.py): durable=False, a cost that cannot be read, a
task within its budget, and the batch's retries.

The emulator's canvases here cost a fixed amount per run (``add_canvas(cost=...)``); each test counts the
runs the emulator created. (Issue 20 item 3: on the old code TelaCompletionOperator had no max_cost, and
a batch retried with a changed input counted none of what its earlier try spent.)
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, field_validator
from recording import FAILURES, RecordedBatch, RecordedCompletion

from airflow_provider_tela.errors import TelaBudgetError
from airflow_provider_tela.hooks.tela import TelaAsyncHook
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, airflow_version, run_dag, task_states, tries, xcoms

START = datetime(2026, 1, 1)


class Verdict(BaseModel):
    """An output check no answer passes: every try's run is paid for, and its output refused."""

    agree: bool

    @field_validator("agree")
    @classmethod
    def _never(cls, value: bool) -> bool:
        raise ValueError("not the verdict this test expects")


def spend_variables() -> set[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session

    from airflow_provider_tela._durable import SPEND_VARIABLE_PREFIX

    with create_session() as session:
        return {v.key for v in session.query(Variable) if v.key.startswith(SPEND_VARIABLE_PREFIX)}


def test_a_retry_without_a_durable_record_still_counts_what_earlier_tries_spent(tela_env):
    """durable=False keeps no run record, and the budget is kept all the same: two runs, then refused."""
    tela_env.configure(run_latency=0.05)
    tela_env.add_canvas("canvas-pricey", cost=0.01)
    with DAG("t_spend_retries_not_durable", schedule=None, start_date=START) as dag:
        RecordedCompletion(task_id="canvas", canvas_id="canvas-pricey", variables={"document": "d"},
                           output_schema=Verdict, max_cost=0.015, poll_interval=0.2, retries=3,
                           retry_delay=timedelta(seconds=0), durable=False)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tela_env.stats()["runs_created"] == 2
    assert isinstance(FAILURES["canvas"], TelaBudgetError)


def test_a_run_whose_cost_cannot_be_read_is_not_free(tela_env):
    """The first run's cost is NaN and no run has a readable cost to estimate it from: the retry
    submits nothing (the old operator would have paid on every try)."""
    tela_env.configure(run_latency=0.05)
    tela_env.add_canvas("canvas-unpriced", cost=float("nan"))
    with DAG("t_spend_unreadable", schedule=None, start_date=START) as dag:
        RecordedCompletion(task_id="canvas", canvas_id="canvas-unpriced", variables={"document": "d"},
                           output_schema=Verdict, max_cost=1.0, poll_interval=0.2, retries=3,
                           retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"} and tela_env.stats()["runs_created"] == 1
    assert tries(dag_run)["canvas"][0] == 2
    assert "max_cost=1 cannot be kept" in str(FAILURES["canvas"])


def test_a_succeeding_task_within_its_budget_is_unchanged(tela_env):
    tela_env.configure(run_latency=0.05)
    tela_env.add_canvas("canvas-pricey", cost=0.01)
    before = spend_variables()
    with DAG("t_spend_within", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-pricey", variables={"document": "d"},
                               max_cost=0.005, poll_interval=0.2)  # (the first run may always cost more)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"} and tela_env.stats()["runs_created"] == 1
    assert xcoms(dag_run)[("canvas", -1, "usage")]["cost"] == 0.01
    if airflow_version() < (3, 3, 0):
        assert spend_variables() == before


# --- the batch ----------------------------------------------------------------------------------------


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


class CrashingHook(TelaAsyncHook):
    """Submissions one at a time; after the ``crash_at``-th, ``edit`` runs (upstream rewrote the input
    between tries, or nothing), then the worker dies before the answer is recorded."""

    crash_at = 0
    sent = 0
    edit = None

    async def submit_request(self, request, **kwargs):
        lock = self.__dict__.setdefault("lock", asyncio.Lock())
        async with lock:
            run = await super().submit_request(request, **kwargs)
            CrashingHook.sent += 1
            if CrashingHook.sent == CrashingHook.crash_at:
                CrashingHook.edit()
                raise SystemExit("worker killed (simulated)")
            return run


class CrashingBatch(RecordedBatch):
    def async_hook(self):
        return CrashingHook(self.tela_conn_id)


def crashed_batch(tela_env, tmp_path, dag_id, edit):
    """20 records at 0.01 each, one at a time; the worker dies after the 10th POST (sent, unanswered: it
    stays ambiguous), 9 runs paid; ``edit`` changes the input before the retry, or not."""
    tela_env.configure(run_latency=0.05)
    tela_env.add_canvas("canvas-pricey", cost=0.01)
    source = tmp_path / "in.jsonl"
    write_jsonl(source, [{"document": f"doc {i}"} for i in range(20)])
    CrashingHook.crash_at, CrashingHook.sent, CrashingHook.edit = 10, 0, lambda: edit(source)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        CrashingBatch(task_id="enrich", canvas_id="canvas-pricey", records=str(source), concurrency=1,
                      output_path=str(tmp_path / "out"), poll_interval=0.2, max_cost=0.15,
                      max_failed_fraction=0.5, retries=1, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"} and tries(dag_run)["enrich"][0] == 2
    return xcoms(dag_run)[("enrich", -1, "return_value")]


def test_a_batch_retried_with_changed_records_counts_what_the_earlier_try_spent(tela_env, tmp_path):
    """Every record changed between the tries: none takes over an earlier run, so the retry's state
    folder is new. The 9 runs paid before (0.09) are carried into its budget: the retry pays 6 more
    (0.15 reached), not 15 as the old code did, which started its new folder's total at 0."""
    def rewrite(source):
        write_jsonl(source, [{"document": f"doc {i}, edited"} for i in range(20)])

    manifest = crashed_batch(tela_env, tmp_path, "t_spend_batch_changed", rewrite)
    assert tela_env.stats()["runs_created"] == 10 + 6
    assert manifest["succeeded"] == 6 and manifest["skipped"] == 14
    assert manifest["usage"]["cost"] == pytest.approx(0.15) and manifest["usage"]["cost_carried"] == pytest.approx(0.09)
    assert "max_cost=0.15 reached (spent 0.15)" in manifest["skipped_reason"]


def test_a_batch_retried_after_a_crash_resumes_its_spend(tela_env, tmp_path):
    """The same input: the retry resumes the earlier try's ledger, 9 runs paid (0.09) and the 10th
    ambiguous, and pays 6 more. (Already so before issue 20: the ledger keeps the total.)"""
    manifest = crashed_batch(tela_env, tmp_path, "t_spend_batch_crash", lambda source: None)
    assert tela_env.stats()["runs_created"] == 10 + 6
    assert (manifest["succeeded"], manifest["ambiguous"], manifest["skipped"]) == (15, 1, 4)
    assert manifest["usage"]["cost"] == pytest.approx(0.15) and "cost_carried" not in manifest["usage"]
