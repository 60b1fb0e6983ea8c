"""Workstation apps in real DAG runs: tasks created, followed, reviewed and approved, on every Airflow line.

An application_id submission creates a task (Tela's guide "Creating tasks") that the provider follows at
GET /task/{id}; with review, a DAG waits for a person's approval and goes on with the output as the
reviewer left it. The emulator plays Tela and, through ``tela_reviewer``, the reviewer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from recording import FAILURES, AfterSubmit, RecordedCompletion

from airflow_provider_tela.errors import TelaConfigError, TelaRunFailedError
from airflow_provider_tela.operators.batch import TelaBatchOperator
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.sensors.tela import TelaTaskSensor
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, tries, xcoms

START = datetime(2026, 1, 1)


class CrashAfterCreatingTheTask(AfterSubmit):
    def after_submit(self, context, run):
        if context["ti"].try_number == 1:
            raise SystemExit("worker lost after the task was created (simulated crash)")


def test_an_app_s_tasks_are_created_followed_and_returned_by_every_operator(tela_env, tmp_path):
    tela_env.configure(run_latency=0.3)
    with DAG("t_ws_output", schedule=None, start_date=START) as dag:
        for deferrable in (False, True):
            TelaCompletionOperator(task_id=f"op_{deferrable}", application_id="app-echo", variables={"document": "d"},
                                   label="invoice {{ dag.dag_id }}", tags=["nightly"], deferrable=deferrable,
                                   poll_interval=0.5)

        @task.tela(application_id="app-echo", poll_interval=0.5)
        def decorated():
            return {"document": "from a function"}

        decorated()
        CrashAfterCreatingTheTask(task_id="crashes", application_id="app-echo", variables={"document": "once"},
                                  poll_interval=0.5, retries=1, retry_delay=timedelta(seconds=0))
        submit = TelaCompletionOperator(task_id="submit", application_id="app-echo", variables={"document": "later"},
                                        wait_for_completion=False)
        submit >> TelaTaskSensor(task_id="sensor", tela_task_id="{{ ti.xcom_pull('submit', key='tela_task_id') }}",
                                 deferrable=True, poke_interval=0.3, timeout=30)
        TelaBatchOperator(task_id="batch", application_id="app-echo", records=[{"document": f"r{i}"} for i in range(3)],
                          output_path=str(tmp_path / "out"), poll_interval=0.5)
    dag_run = run_dag(dag)
    assert set(task_states(dag_run).values()) == {"success"}, task_states(dag_run)
    values = xcoms(dag_run)
    tasks = {t["id"]: t for t in tela_env.tasks()}
    for task_id in ("op_False", "op_True", "decorated", "crashes"):
        tela_task_id = values[(task_id, -1, "tela_task_id")]
        assert tela_task_id in tasks
        assert values[(task_id, -1, "run_id")] == tasks[tela_task_id]["completionRunId"]
        assert values[(task_id, -1, "tela_task")]["status"] == "completed"
        assert values[(task_id, -1, "usage")]["output_tokens"] > 0
    assert values[("op_True", -1, "return_value")]["variables"] == {"document": "d"}
    assert tasks[values[("op_True", -1, "tela_task_id")]]["name"] == "invoice t_ws_output"
    assert tasks[values[("op_True", -1, "tela_task_id")]]["tags"] == ["nightly"]
    assert values[("decorated", -1, "return_value")]["variables"] == {"document": "from a function"}
    assert values[("sensor", -1, "return_value")]["variables"] == {"document": "later"}
    assert tries(dag_run)["crashes"][0] == 2  # the retry re-attached to the task the first try created
    assert values[("batch", -1, "return_value")]["succeeded"] == 3
    # one task per submission, the crashed one included, and the batch's three: nothing paid twice
    assert tela_env.stats()["tasks_created"] == 2 + 1 + 1 + 1 + 3


def test_a_reviewed_pipeline_waits_for_the_approval_and_goes_on_with_the_reviewer_s_output(tela_env, tela_reviewer):
    tela_env.configure(run_latency=0.2)
    tela_reviewer.approve_when_ready("app-review", output={"verdict": "approved by a person"}, after=1.0)
    tela_reviewer.fail_when_ready("app-review-structured", reason="Wrong document", after=0.5)
    with DAG("t_ws_review", schedule=None, start_date=START) as dag:
        for deferrable in (False, True):
            TelaCompletionOperator(task_id=f"approved_{deferrable}", application_id="app-review",
                                   variables={"document": "draft"}, wait_for="approval", deferrable=deferrable,
                                   poll_interval=0.5)
        submit = TelaCompletionOperator(task_id="submit", application_id="app-review", variables={"document": "s"},
                                        wait_for_completion=False)
        submit >> TelaTaskSensor(task_id="review", tela_task_id="{{ ti.xcom_pull('submit', key='tela_task_id') }}",
                                 wait_for="approval", deferrable=True, poke_interval=0.3, timeout=30)
        RecordedCompletion(task_id="rejected", application_id="app-review-structured", variables={"text": "t"},
                           wait_for="approval", poll_interval=0.5)
        TelaCompletionOperator(task_id="in_review", application_id="app-review", variables={"document": "soon"},
                               poll_interval=0.5)  # wait_for="output": its output is ready before the review
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"approved_False": "success", "approved_True": "success", "submit": "success",
                                    "review": "success", "rejected": "failed", "in_review": "success"}
    values = xcoms(dag_run)
    for task_id in ("approved_False", "approved_True", "review"):
        assert values[(task_id, -1, "return_value")]["verdict"] == "approved by a person"
        review = values[(task_id, -1, "tela_task")]
        assert review["status"] == "completed" and review["approved_at"] and review["edited"]
    assert values[("in_review", -1, "tela_task")]["status"] == "validating"
    assert isinstance(FAILURES["rejected"], TelaRunFailedError) and "Wrong document" in str(FAILURES["rejected"])


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"application_id": "app-echo", "stream": True}, "always asynchronous"),
    ({"canvas_id": "canvas-echo", "label": "a name"}, "label names a Workstation task"),
    ({"canvas_id": "canvas-echo", "wait_for": "approval"}, "it needs application_id"),
    ({"application_id": "app-echo", "version_id": "v1"}, "exactly one of canvas_id"),
    ({"application_id": "app-echo", "wait_for": "review"}, "wait_for must be one of"),
    ({"application_id": "app-echo", "tags": ["ok", ""]}, "tags must be a list of non-empty strings"),
])
def test_bad_combinations_are_refused_when_the_dag_is_parsed(kwargs, says):
    with pytest.raises(TelaConfigError, match=says):
        TelaCompletionOperator(task_id="t", **kwargs)
