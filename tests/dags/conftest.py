"""DAG tests: real Airflow (dag.test()) on a throw-away SQLite database, against the emulator."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def airflow_db():
    airflow = Path(sys.executable).parent / "airflow"
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())


@pytest.fixture
def tela_env(tela_emulator, monkeypatch):
    conn = json.loads(tela_emulator.connection_json())
    conn["extra"] = {**conn.get("extra", {}), "max_retries": 2, "timeout": 5}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    tela_emulator.configure(run_latency=0.3)
    return tela_emulator


def xcoms(dag_run) -> dict[tuple[str, int, str], object]:
    """Every XCom of a DAG run, keyed by (task_id, map_index, key)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(XComModel).where(XComModel.dag_run_id == dag_run.id)).all()
        return {(r.task_id, r.map_index, r.key): XComModel.deserialize_value(r) for r in rows}


def task_states(dag_run) -> dict[str, str]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in dag_run.get_task_instances(session=session)
        }
