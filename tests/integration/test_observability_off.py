"""With metrics and OpenLineage off, the provider's observability costs nothing where it matters: the
trigger's poll path imports none of its modules, and a DAG run imports no statsd client and no
OpenLineage client (each checked in a fresh interpreter, whose sys.modules says what was imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from airflow_provider_tela.hooks.tela import TelaHook

OBSERVABILITY_MODULES = ("airflow_provider_tela._metrics", "airflow_provider_tela._lineage",
                         "airflow_provider_tela._budget")

TRIGGER = textwrap.dedent("""
    import asyncio, json, sys
    from airflow_provider_tela.triggers.tela import TelaRunTrigger

    async def wait():
        async for event in TelaRunTrigger(sys.argv[1], poll_interval=0.2).run():
            return event.payload

    event = asyncio.run(wait())
    print(json.dumps({"status": event["status"], "modules": sorted(sys.modules)}))
""")

DAG_RUN = textwrap.dedent("""
    import json, sys
    from datetime import datetime
    from airflow_provider_tela import TelaBatchOperator, TelaCompletionOperator
    from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states

    with DAG("t_observability_off", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        TelaCompletionOperator(task_id="worker", canvas_id="canvas-echo", variables={"document": "d"},
                               poll_interval=0.2, max_cost=1.0)

        @task.tela(canvas_id="canvas-echo", deferrable=True, poll_interval=0.2)
        def decorated():
            return {"document": "d"}

        decorated()
        TelaBatchOperator(task_id="batch", canvas_id="canvas-echo", records=[{"document": "d"}],
                          output_path=sys.argv[1], poll_interval=0.2)
    states = task_states(run_dag(dag))
    print(json.dumps({"states": states, "modules": sorted(sys.modules)}))
""")


def run_fresh(script: str, *args: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def quiet_env(tela_emulator, home) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW__METRICS", "AIRFLOW__OPENLINEAGE", "OPENLINEAGE"))}
    env.update({"AIRFLOW_CONN_TELA_DEFAULT": tela_emulator.connection_json(), "AIRFLOW_HOME": str(home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db"})
    return env


def test_the_trigger_imports_no_observability_module(tela_connection_env, tmp_path):
    tela_connection_env.configure(run_latency=0.3)
    run_id = TelaHook().submit_run(canvas_id="canvas-echo", variables={"document": "d"}).id
    found = run_fresh(TRIGGER, run_id, env=quiet_env(tela_connection_env, tmp_path))
    assert found["status"] == "success"
    assert not [name for name in found["modules"] if name in OBSERVABILITY_MODULES], found["modules"]
    assert "statsd" not in found["modules"] and "openlineage.client" not in found["modules"]


def test_a_dag_run_with_metrics_and_lineage_off_imports_neither_client(tela_emulator, tmp_path):
    found = run_fresh(DAG_RUN, str(tmp_path / "out"), env=quiet_env(tela_emulator, tmp_path))
    assert set(found["states"].values()) == {"success"}
    assert "statsd" not in found["modules"]
    assert "openlineage.client" not in found["modules"] and "airflow_provider_tela._lineage" in found["modules"]
    # (the deferring @task.tela asks whether OpenLineage is on: that import is all lineage costs when off)
