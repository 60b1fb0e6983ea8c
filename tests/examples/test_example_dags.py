"""Every example DAG runs with `airflow dags test` against the emulator, with no set-up but the connection.

Each DAG runs in a fresh `airflow dags test` process on a throw-away AIRFLOW_HOME (migrated once), with
only AIRFLOW_CONN_TELA_DEFAULT pointing at the emulator: what a user who just installed the provider does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
EXAMPLES = sorted(
    re.search(r"^def (tela_\w+)\(\):", path.read_text(), flags=re.M).group(1)  # type: ignore[union-attr]
    for path in (REPO / "example_dags").glob("tela_*.py")
)


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory, tela_emulator_session):
    home = tmp_path_factory.mktemp("examples-home")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "TELA_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_TELA_DEFAULT": tela_emulator_session.connection_json(),
    }
    subprocess.run([AIRFLOW, "db", "migrate"], env=env, check=True, capture_output=True, timeout=300)
    return env


# What a test plays besides Tela, per example: the reviewed pipeline needs a reviewer who approves.
REVIEWER = {"tela_reviewed_documents": {"app-review": {"after": 0.5, "action": "approve",
                                                         "output": {"reviewed": "approved by the test"}}}}


def test_every_example_dag_is_tested():
    assert EXAMPLES == [
        "tela_canvas_step", "tela_documents_from_storage", "tela_enrichment", "tela_nightly_enrichment",
        "tela_production_pipeline", "tela_reviewed_documents",
    ]


@pytest.mark.parametrize("dag_id", EXAMPLES)
def test_the_example_dag_runs_with_airflow_dags_test(airflow_env, tela_emulator_session, dag_id):
    tela_emulator_session.reset()
    tela_emulator_session.configure(run_latency=0.5, auto_review=REVIEWER.get(dag_id, {}))
    done = subprocess.run([AIRFLOW, "dags", "test", dag_id], env=airflow_env, capture_output=True, text=True,
                          timeout=600, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert re.search(rf"DagRun Finished: dag_id={dag_id},.* state=success", output), output[-4000:]
    assert tela_emulator_session.stats()["runs_created"] >= 1
    if dag_id in REVIEWER:  # each document's task was approved, and the DAG loaded the reviewer's output
        tasks = tela_emulator_session.tasks()
        assert len(tasks) == 2 and all(t["status"] == "completed" and t["approvedAt"] for t in tasks)
        assert output.count("'reviewed': 'approved by the test'") >= 2
