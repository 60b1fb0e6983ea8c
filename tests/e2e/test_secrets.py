"""Scenario 5: after the runs, the API key is nowhere Airflow keeps things.

Scanned: every file under AIRFLOW_HOME/logs (task, trigger and DAG processor logs, with the exception
texts of failed tries), the output of every component, every row of every table of the metadata database
(XCom, rendered_task_instance_fields, trigger, log, ...), the raw database file, and the kwargs of the
triggers seen while tasks were deferred. Run last, it also covers what the other scenarios left behind.
"""

from __future__ import annotations

import json

import pytest
from airflow_processes import wait_until

pytestmark = pytest.mark.e2e

DAG_ID = "tela_e2e_secrets"


def places_with(secret: str, texts: list[tuple[str, str]]) -> list[str]:
    return sorted({place for place, text in texts if secret in text})


def test_the_api_key_is_in_no_log_table_or_trigger(airflow, tela, api_keys):
    # The keys, and their random ends: a truncated or re-formatted key would still be caught.
    secrets = {**api_keys, **{f"{name} (end)": key[-24:] for name, key in api_keys.items()}}
    tela.add_canvas("canvas-slow", latency=6)
    # The deferred task's trigger must still be stored when the test reads it, however slowly the task got
    # to defer: every status check is answered 503 (a wait retries it) until the trigger was read, so no
    # wait can end before. Submissions get no fault: the task defers as usual. (A longer run instead
    # would only make the test wait for it.)
    tela.add_faults({"kind": "503", "method": "GET", "path": "/v2/chat/completions/"})
    run_id = airflow.trigger(DAG_ID)
    airflow.wait_for_states(DAG_ID, run_id, {"deferred"}, count=1, timeout=120, task_id="templated_deferred")

    def deferred_trigger_stored() -> list[dict] | None:
        runs = [run["id"] for run in tela.runs() if run["raw_input"]["variables"]["document"].startswith("run ")]
        kwargs = airflow.trigger_kwargs()
        return kwargs if any(run in json.dumps(kwargs) for run in runs) else None

    kwargs = wait_until(deferred_trigger_stored, 60, "the deferred task's trigger to be stored")
    tela.clear_faults()
    assert airflow.wait_for_run(DAG_ID, run_id, timeout=180) == "failed"
    assert airflow.states(DAG_ID, run_id) == {
        ("templated_deferred", -1): "success", ("templated_in_worker", -1): "success",
        ("failing_run", -1): "failed", ("refused_key", -1): "failed", ("key_from_file", -1): "success",
    }

    # Three runs succeeded, one failed in Tela; the refused key created none.
    assert tela.stats()["runs_created"] == 4
    xcoms = airflow.xcoms(DAG_ID, run_id)
    assert xcoms[("templated_in_worker", -1, "return_value")]["variables"] == {"document": f"run {run_id}"}
    assert xcoms[("templated_deferred", -1, "return_value")]["variables"] == {
        "document": f"run {run_id} of {DAG_ID}", "language": "en",
    }

    texts = list(airflow.stored_texts())

    # The scan reads what matters: logs with run ids and exception texts, rendered fields, XCom, triggers.
    logs = "".join(text for place, text in texts if place.startswith("logs/"))
    assert "Tela run id: " in logs
    assert "TelaRunFailedError" in logs and "The model refused the document" in logs
    assert "TelaAuthenticationError" in logs and "Invalid API key" in logs
    assert tela.stats()["auth_failures"] == 1  # the wrong key really was sent, and refused
    assert f"run {run_id} of {DAG_ID}" in all_of(texts, "table rendered_task_instance_fields")
    deferred_run = xcoms[("templated_deferred", -1, "run_id")]
    assert deferred_run in all_of(texts, "table xcom") and deferred_run in json.dumps(kwargs)
    # ... and would find a key there: it finds the one the connection holds, and one planted in the logs.
    key = api_keys["API key"]
    assert places_with(key, [("connection", airflow.env["AIRFLOW_CONN_TELA_DEFAULT"])]) == ["connection"]
    planted = airflow.home / "logs" / "planted.log"
    planted.write_text(f"Authorization: Bearer {key}")
    try:
        assert places_with(key, list(airflow.stored_texts())) == ["logs/planted.log"]
    finally:
        planted.unlink()

    found = {name: places_with(secret, texts) for name, secret in secrets.items()}
    assert found == {name: [] for name in secrets}


def all_of(texts: list[tuple[str, str]], place: str) -> str:
    return "\n".join(text for where, text in texts if where == place)
