"""DAG tests: real Airflow (dag.test()) on a throw-away SQLite database, against the emulator."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="session", autouse=True)
def airflow_db():
    from airflow_provider_tela.testing.dags import ensure_db

    ensure_db()


@pytest.fixture
def tela_env(tela_emulator, monkeypatch):
    conn = json.loads(tela_emulator.connection_json())
    conn["extra"] = {**conn.get("extra", {}), "max_retries": 2, "timeout": 5}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    tela_emulator.configure(run_latency=0.3)
    return tela_emulator


