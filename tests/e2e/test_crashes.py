"""Scenarios 2 and 3: a triggerer and a worker killed with SIGKILL while Tela runs are in flight."""

from __future__ import annotations

import json
import os
import signal

import pytest
from airflow_processes import wait_until

pytestmark = pytest.mark.e2e


def runs_by_document(tela) -> dict[str, dict]:
    return {run["raw_input"]["variables"]["document"]: run for run in tela.runs()}


def test_deferred_runs_survive_a_killed_triggerer(airflow, tela):
    dag_id, documents = "tela_e2e_triggerer_restart", [f"deferred through a triggerer crash {i}" for i in range(4)]
    # Every run must still be in flight when the last task defers and is polled: on a loaded machine the
    # four tasks can start tens of seconds apart. Run latency is fixed when a run is created and the
    # emulator cannot end a run early, so this margin is also how long the runs take after the kill.
    tela.add_canvas("canvas-slow", latency=90)
    run_id = airflow.trigger(dag_id)

    # Kill only once every task is deferred and the triggerer has polled each run at least once.
    airflow.wait_for_states(dag_id, run_id, {"deferred"}, count=4, timeout=120)

    def every_run_polled() -> dict[str, int] | None:
        polls = tela.stats()["polls_by_run"]
        return polls if len(polls) == 4 else None

    polls_before = wait_until(every_run_polled, 60, "the triggerer to poll every run")
    kwargs = airflow.trigger_kwargs()
    airflow.kill_component("triggerer")
    run_statuses, task_states = {run["status"] for run in tela.runs()}, set(airflow.states(dag_id, run_id).values())
    airflow.start_component("triggerer")
    assert run_statuses <= {"created", "running"} and task_states == {"deferred"}, "nothing was in flight"

    assert airflow.wait_for_run(dag_id, run_id, timeout=240) == "success"

    # Nothing twice: the tasks never went back to a worker to submit again.
    stats = tela.stats()
    assert stats["runs_created"] == stats["completions_posted"] == 4
    runs = runs_by_document(tela)
    assert sorted(runs) == sorted(documents)
    # The new triggerer took the triggers over: it polled every run after the kill, up to its end.
    assert all(stats["polls_by_run"][run_id_] > polls_before[run_id_] for run_id_ in polls_before)
    assert {run["status"] for run in runs.values()} == {"succeeded"}

    # Nothing lost: every task returned its run's output, in its first and only try.
    xcoms = airflow.xcoms(dag_id, run_id)
    instances = airflow.task_instances(dag_id, run_id)
    for index, document in enumerate(documents):
        assert instances[("summarise", index)]["try_number"] == 1
        assert xcoms[("summarise", index, "return_value")]["variables"] == {"document": document}
        assert xcoms[("summarise", index, "run_id")] == runs[document]["id"]
    # The triggers' kwargs, stored in the database, hold the run ids and nothing secret.
    stored = json.dumps(kwargs)
    assert all(run["id"] in stored for run in runs.values())
    assert tela.api_key not in stored


def test_killed_worker_retry_reconnects_instead_of_submitting(airflow, tela, e2e_root):
    dag_id = "tela_e2e_worker_crash"
    documents = {"worker_killed": "worker killed", "task_process_killed": "task process killed"}
    tela.add_canvas("canvas-slow", latency=40)
    run_id = airflow.trigger(dag_id)

    # Wait until both runs are submitted and polled: the run id is then in the task state store.
    def submitted_and_polled() -> dict[str, dict] | None:
        runs, polls = runs_by_document(tela), tela.stats()["polls_by_run"]
        ready = len(runs) == 2 and all(polls.get(run["id"]) for run in runs.values())
        return runs if ready else None

    first_runs = wait_until(submitted_and_polled, 120, "both runs to be submitted and polled")
    pids = {task_id: _read_pids(e2e_root, task_id, try_number=1) for task_id in documents}
    # The whole worker: its supervisor first, so that nobody is left to report the task's end.
    os.kill(pids["worker_killed"]["ppid"], signal.SIGKILL)
    os.kill(pids["worker_killed"]["pid"], signal.SIGKILL)
    # Only the task process: its supervisor sees it die.
    os.kill(pids["task_process_killed"]["pid"], signal.SIGKILL)

    assert airflow.wait_for_run(dag_id, run_id, timeout=240) == "success"

    # Nothing twice: the retries reconnected to the runs the killed tries submitted.
    stats = tela.stats()
    assert stats["runs_created"] == stats["completions_posted"] == 2
    assert runs_by_document(tela).keys() == first_runs.keys()
    xcoms = airflow.xcoms(dag_id, run_id)
    instances = airflow.task_instances(dag_id, run_id)
    for task_id, document in documents.items():
        assert instances[(task_id, -1)]["try_number"] == 2
        assert xcoms[(task_id, -1, "run_id")] == first_runs[document]["id"]
        assert xcoms[(task_id, -1, "return_value")]["variables"] == {"document": document}
        retry_log = airflow.task_log(dag_id, run_id, task_id, 2)
        assert "Re-attaching to Tela run" in retry_log
    # The killed worker was found by the scheduler's heartbeat check, not reported by anyone.
    timeouts = airflow.query("SELECT task_id FROM log WHERE event = 'heartbeat timeout' AND dag_id = ?", dag_id)
    assert [row["task_id"] for row in timeouts] == ["worker_killed"]


def _read_pids(e2e_root, task_id: str, try_number: int) -> dict[str, int]:
    return json.loads((e2e_root / "pids" / f"{task_id}.{try_number}.json").read_text())
