"""Scenario 4: the Tela API is unreachable for longer than the client's retry budget."""

from __future__ import annotations

import pytest
from airflow_processes import wait_until

pytestmark = pytest.mark.e2e

COULD_NOT_REACH = "Could not reach Tela for"


def test_api_down_before_submission_fails_the_try_clearly_then_the_retry_submits_once(airflow, tela):
    dag_id = "tela_e2e_outage_before_submit"
    documents = {"submit_deferred": "outage, deferred", "submit_in_worker": "outage, in worker"}
    tela.stop()  # connections to its port are now refused
    run_id = airflow.trigger(dag_id)
    def first_tries_failed() -> bool:
        rows = airflow.task_instances(dag_id, run_id).values()
        return len(rows) == 2 and all(row["state"] == "up_for_retry" or row["try_number"] > 1 for row in rows)

    wait_until(first_tries_failed, 120, "the first try of both tasks to fail")
    tela.start()  # same port; a new process that has seen nothing

    assert airflow.wait_for_run(dag_id, run_id, timeout=180) == "success"

    stats = tela.stats()
    assert stats["runs_created"] == stats["completions_posted"] == 2
    runs = {run["raw_input"]["variables"]["document"]: run["id"] for run in tela.runs()}
    xcoms = airflow.xcoms(dag_id, run_id)
    for task_id, document in documents.items():
        assert xcoms[(task_id, -1, "run_id")] == runs[document]
        assert xcoms[(task_id, -1, "return_value")]["variables"] == {"document": document}
        first_try = airflow.task_log(dag_id, run_id, task_id, 1)
        assert "TelaConnectionError" in first_try
        assert f"{COULD_NOT_REACH} POST /v2/chat/completions: not sent" in first_try
        assert "Tela run id" not in first_try


def test_api_down_while_waiting_is_ridden_out_by_both_waits(airflow, tela):
    dag_id = "tela_e2e_outage_while_waiting"
    documents = {"wait_in_worker": "accepted, in worker", "wait_deferred": "accepted, deferred"}
    tela.configure(run_latency=3)
    # Every status check is cut off (the process stays up, so the accepted runs survive the outage).
    tela.add_faults({"kind": "drop_before", "method": "GET", "path": "/v2/chat/completions/"})
    run_id = airflow.trigger(dag_id)

    # Both waits meet the outage: the worker's in its task log, the trigger's in the trigger log.
    def in_worker_log() -> str:
        try:
            return airflow.task_log(dag_id, run_id, "wait_in_worker", 1)
        except FileNotFoundError:
            return ""

    wait_until(lambda: "status check failed" in in_worker_log(), 120, "the worker's wait to meet the outage")
    wait_until(lambda: "status check failed" in _trigger_logs(airflow, dag_id, run_id), 120,
               "the trigger to retry through the outage")
    tela.clear_faults()

    assert airflow.wait_for_run(dag_id, run_id, timeout=180) == "success"

    stats = tela.stats()
    assert stats["runs_created"] == stats["completions_posted"] == 2
    assert stats["faults_injected"]["drop_before"] >= 3
    runs = {run["raw_input"]["variables"]["document"]: run["id"] for run in tela.runs()}
    xcoms = airflow.xcoms(dag_id, run_id)
    for task_id, document in documents.items():
        assert xcoms[(task_id, -1, "run_id")] == runs[document]
        assert xcoms[(task_id, -1, "return_value")]["variables"] == {"document": document}
    instances = airflow.task_instances(dag_id, run_id)
    # One wait, one retry loop: the outage is retried until the deadline, in the worker as in the triggerer.
    assert instances[("wait_in_worker", -1)]["try_number"] == 1
    assert instances[("wait_deferred", -1)]["try_number"] == 1
    assert f"GET /v2/chat/completions/{runs[documents['wait_in_worker']]}" in in_worker_log()


def _trigger_logs(airflow, dag_id: str, run_id: str) -> str:
    folder = airflow.home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=wait_deferred"
    return "".join(path.read_text(errors="replace") for path in folder.glob("attempt=1.log.trigger.*.log"))
