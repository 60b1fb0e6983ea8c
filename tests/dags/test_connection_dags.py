"""Connections as Airflow's own connection form saves them, run through a real DAG.

Airflow 3's UI writes every extra the user left empty as ``null`` (and a text field cleared by hand as
``""``); the form's switch for TLS verification writes ``true`` or ``false``. Each must run a task.
(The older forms of ``verify`` are read in tests/integration/test_transport_settings.py.)
"""

from __future__ import annotations

import json
from datetime import datetime

from recording import FAILURES, RecordedCompletion

from airflow_provider_tela.errors import TelaAuthenticationError
from airflow_provider_tela.testing.dags import DAG, run_dag, task_states, xcoms

START = datetime(2026, 1, 1)
# What the connection form of Airflow 3.3.2 saved for a Tela connection whose user typed a timeout and
# a retry count and left every other extra empty (seen in a browser, issue 15).
UI_EXTRA = {
    "timeout": 30, "max_retries": 2, "verify": None, "connect_timeout": None, "ca_bundle": None, "proxy": None,
    "max_response_bytes": None, "allow_insecure_http": None,
}
# The same form with the verification switch touched, and text fields typed into and cleared again.
UI_EXTRA_EDITED = {**UI_EXTRA, "verify": True, "connect_timeout": "", "proxy": "  ", "max_response_bytes": ""}


def _connection(emulator, extra, **fields):
    return json.dumps({**json.loads(emulator.connection_json()), "login": "", "schema": "", "port": None,
                       "extra": extra, **fields})


def test_connections_saved_by_the_ui_run_tasks_and_a_refused_key_is_named_as_the_form_names_it(
        tela_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TELA_UI", _connection(tela_emulator, UI_EXTRA))
    monkeypatch.setenv("AIRFLOW_CONN_TELA_UI_EDITED", _connection(tela_emulator, UI_EXTRA_EDITED))
    monkeypatch.setenv("AIRFLOW_CONN_TELA_UI_WRONG_KEY",
                       _connection(tela_emulator, UI_EXTRA, password="not-the-key-0123456789"))
    with DAG("t_conn_ui", schedule=None, start_date=START) as dag:
        for conn_id, deferrable in (("tela_ui", False), ("tela_ui_edited", True), ("tela_ui_wrong_key", False)):
            RecordedCompletion(task_id=conn_id, canvas_id="canvas-echo", variables={"document": "from the UI"},
                                   tela_conn_id=conn_id, deferrable=deferrable, poll_interval=0.5)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"tela_ui": "success", "tela_ui_edited": "success", "tela_ui_wrong_key": "failed"}
    assert xcoms(dag_run)[("tela_ui_edited", -1, "return_value")]["variables"] == {"document": "from the UI"}
    assert tela_emulator.stats()["runs_created"] == 2
    error = FAILURES["tela_ui_wrong_key"]
    assert isinstance(error, TelaAuthenticationError)
    assert "put a valid key in the connection's API Key field (`password` in AIRFLOW_CONN_* JSON" in str(error)
