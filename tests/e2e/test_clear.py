"""Clearing a task is a user asking for a new run: the cleared task submits again, with its current inputs."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

TASKS = ("summarise_in_worker", "summarise_deferred")


def outputs(airflow, dag_id: str, run_id: str) -> dict[str, tuple[str, str]]:
    values = airflow.xcoms(dag_id, run_id)
    return {task: (values[(task, -1, "run_id")], values[(task, -1, "return_value")]["variables"]["document"])
            for task in TASKS}


def test_a_cleared_task_runs_again_with_its_new_inputs(airflow, tela):
    dag_id = "tela_e2e_clear"
    airflow.airflow("variables", "set", "tela_e2e_document", "first version")
    run_id = airflow.trigger(dag_id)
    assert airflow.wait_for_run(dag_id, run_id, timeout=180) == "success"
    first = outputs(airflow, dag_id, run_id)
    assert {document for _, document in first.values()} == {"first version"}
    assert tela.stats()["runs_created"] == 2

    # The user edits an input and clears the finished tasks: new runs, new output (not the stored run's).
    airflow.airflow("variables", "set", "tela_e2e_document", "second version")
    airflow.airflow("tasks", "clear", dag_id, "--yes")
    airflow.wait_for_states(dag_id, run_id, {"success"}, count=2, timeout=180)
    second = outputs(airflow, dag_id, run_id)
    assert {document for _, document in second.values()} == {"second version"}
    assert tela.stats()["runs_created"] == 4
    assert all(second[task][0] != first[task][0] for task in TASKS)

    # A clear with unchanged inputs is still a request for a new run.
    airflow.airflow("tasks", "clear", dag_id, "--yes")
    airflow.wait_for_states(dag_id, run_id, {"success"}, count=2, timeout=180)
    third = outputs(airflow, dag_id, run_id)
    assert tela.stats()["runs_created"] == 6
    assert all(third[task][0] not in (first[task][0], second[task][0]) for task in TASKS)
