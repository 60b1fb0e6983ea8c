# test_my_dag.py
from datetime import datetime

from airflow_provider_tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, run_dag, task_states, xcoms


def test_my_dag(tela_connection_env):
    tela_connection_env.configure(run_latency=0.2)
    with DAG("my_dag", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "hi"})
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    assert xcoms(dag_run)[("canvas", -1, "return_value")]["variables"] == {"document": "hi"}
    assert tela_connection_env.stats()["runs_created"] == 1
