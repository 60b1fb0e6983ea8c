"""The example of docs/emulator-workstation.md, run as it is written: a real ``dag.test()`` blocks this
thread while its task waits for a review, and the emulator's reviewer approves meanwhile."""

from __future__ import annotations

# --8<-- [start:reviewer]
import time
from datetime import datetime

import requests

from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms


def test_a_person_approves_while_the_dag_waits(tela_connection_env, tela_reviewer):
    emulator = tela_connection_env
    emulator.configure(run_latency=0.2)
    # The reviewer: 0.3 s after a task of app-review finished its canvas run, correct its text and approve.
    tela_reviewer.approve_when_ready("app-review", output={"text": "Checked by a person."}, after=0.3)

    with DAG("reviewed_document", schedule=None, start_date=datetime(2026, 1, 1)) as dag:

        @task
        def review_document() -> dict:
            # What a Workstation client does, over HTTP: create the task, poll it until it ends.
            headers = {"Authorization": f"Bearer {emulator.api_key}"}
            created = requests.post(f"{emulator.url}/v2/chat/completions", headers=headers, timeout=10, json={
                "application_id": "app-review", "variables": {"document": "Invoice 7"}, "label": "invoice 7"})
            task_id = created.json()["id"]
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                reviewed = requests.get(f"{emulator.url}/task/{task_id}", headers=headers, timeout=10).json()
                if reviewed["status"] in ("completed", "failed", "cancelled"):
                    return {"status": reviewed["status"], "output": reviewed["outputContent"]["content"]}
                time.sleep(0.1)
            raise TimeoutError(f"task {task_id} was not reviewed within 60 s")

        review_document()

    dag_run = run_dag(dag)  # blocks until the DAG run ends: the reviewer acts meanwhile
    assert task_states(dag_run) == {"review_document": "success"}
    reviewed = xcoms(dag_run)[("review_document", -1, "return_value")]
    assert reviewed["status"] == "completed" and reviewed["output"]["text"] == "Checked by a person."
    [done] = tela_reviewer.tasks()
    assert done["approvedBy"] == "reviewer@emulator.tela" and done["name"] == "invoice 7"
    assert done["metadata"]["editedFields"][0]["path"] == "text"
# --8<-- [end:reviewer]
