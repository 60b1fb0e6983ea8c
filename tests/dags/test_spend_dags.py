"""max_cost across tries, in real DAG runs on every Airflow line (where the budget is kept differs: the
task state store on 3.3+, a Variable below; and a deferred try ends in a new operator instance).

The emulator's canvas here costs a fixed amount per run (``add_canvas(cost=...)``); each test counts the
runs the emulator created. (Issue 20 item 3: on the old code TelaCompletionOperator had no max_cost.)
The line-independent cases (durable=False, an unreadable cost, the batch) are in
tests/integration/test_spend_dag_runs.py, run on the newest Airflow only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pydantic import BaseModel, field_validator
from recording import FAILURES, RecordedCompletion

from airflow_provider_tela.errors import TelaBudgetError, TelaConfigError
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, airflow_version, run_dag, task_states, tries

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


@pytest.mark.parametrize("mode", ["in-worker", "deferred"])
def test_a_retry_is_not_submitted_once_earlier_tries_spent_max_cost(tela_env, mode):
    """Each try pays 0.01 for a run whose output is then refused; max_cost=0.015 lets two runs be
    submitted (spent 0, then 0.01, before each), and the third try fails at once, sending nothing.
    The old operator paid for a run on each of its four tries."""
    if mode == "deferred" and airflow_version()[:2] == (3, 0):
        pytest.skip("dag.test() on Airflow 3.0 resumes each retry of a deferred task in execute_complete with the "
                    "first try's event: no retry submits a run, there is nothing to count")
    tela_env.configure(run_latency=0.05)
    tela_env.add_canvas("canvas-pricey", cost=0.01)
    before = spend_variables()
    more = {"deferrable": True} if mode == "deferred" else {}
    with DAG(f"t_spend_retries_{mode}", schedule=None, start_date=START) as dag:
        RecordedCompletion(task_id="canvas", canvas_id="canvas-pricey", variables={"document": "d"},
                           output_schema=Verdict, max_cost=0.015, poll_interval=0.2, retries=3,
                           retry_delay=timedelta(seconds=0), **more)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"}
    assert tries(dag_run)["canvas"][0] == 3  # the third try refused, without using the fourth
    assert tela_env.stats()["runs_created"] == 2
    error = FAILURES["canvas"]
    assert isinstance(error, TelaBudgetError)
    assert "max_cost=0.015 is spent: earlier tries of this task paid 0.02 for 2 Tela run(s)" in str(error)
    if airflow_version() < (3, 3, 0):  # the budget's Variable goes with the task instance's end
        assert spend_variables() == before


def test_max_cost_is_checked_when_the_dag_is_parsed():
    for odd in (0, -1, float("inf"), float("nan"), True, "1"):
        with pytest.raises(TelaConfigError, match="max_cost must be a positive, finite number"):
            TelaCompletionOperator(task_id="t", canvas_id="c", max_cost=odd)
    with pytest.raises(TelaConfigError, match="it needs wait_for_completion=True"):
        TelaCompletionOperator(task_id="t", canvas_id="c", max_cost=1, wait_for_completion=False)
