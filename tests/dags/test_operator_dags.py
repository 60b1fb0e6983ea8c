"""TelaCompletionOperator and TelaRunSensor in real DAG runs (dag.test()) against the emulator."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from recording import AfterSubmit

from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.sensors.tela import TelaRunSensor
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms

START = datetime(2026, 1, 1)


def only_run(emulator) -> dict:
    runs = emulator.runs()
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_wait_returns_content_and_usage(tela_env, deferrable):
    with DAG(f"t_wait_{deferrable}", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "hello"},
            deferrable=deferrable, poll_interval=0.5,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    run = only_run(tela_env)
    values = xcoms(dag_run)
    assert values[("canvas", -1, "run_id")] == run["id"]
    content = values[("canvas", -1, "return_value")]
    assert content["variables"] == {"document": "hello"}
    usage = values[("canvas", -1, "usage")]
    assert set(usage) == {"duration", "cost", "input_tokens", "output_tokens"} and usage["input_tokens"] > 0
    assert tela_env.stats()["runs_created"] == 1


def test_templated_variables_render_nested_values(tela_env):
    with DAG("t_templated", schedule=None, start_date=START, render_template_as_native_obj=True) as dag:
        @task
        def extract():
            return {"body": "quarterly report", "pages": 3}

        extracted = extract()
        canvas = TelaCompletionOperator(
            task_id="canvas", canvas_id="{{ 'canvas-' ~ 'echo' }}",
            variables={"document": "{{ ti.xcom_pull(task_ids='extract')['body'] }}", "language": "{{ dag.dag_id }}"},
            messages=[{"role": "user", "content": "Summarise {{ ti.xcom_pull(task_ids='extract')['pages'] }} pages"}],
            deferrable=True, poll_interval=0.5,
        )
        extracted >> canvas
    dag_run = run_dag(dag)
    assert task_states(dag_run)["canvas"] == "success"
    raw = only_run(tela_env)["raw_input"]
    assert raw["canvas_id"] == "canvas-echo"
    assert raw["variables"] == {"document": "quarterly report", "language": "t_templated"}
    assert raw["messages"] == [{"role": "user", "content": "Summarise 3 pages"}]


def test_structured_output_is_returned_as_the_object(tela_env):
    schema = {"type": "object", "properties": {"title": {"type": "string"}, "score": {"type": "number"}}}
    with DAG("t_structured", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-structured", variables={"text": "great"},
            override={"structured_output": {"enabled": True, "schema": schema}}, deferrable=True, poll_interval=0.5,
        )
    dag_run = run_dag(dag)
    assert xcoms(dag_run)[("canvas", -1, "return_value")] == {"title": "example title", "score": 1}


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_failed_run_fails_the_task_without_resubmitting(tela_env, deferrable):
    with DAG(f"t_failed_{deferrable}", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-fail", deferrable=deferrable, poll_interval=0.5)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"}
    assert tela_env.stats()["runs_created"] == 1


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_timeout_fails_the_task_naming_the_run(tela_env, deferrable, caplog):
    tela_env.configure(run_latency=60)
    with DAG(f"t_timeout_{deferrable}", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "x"},
            deferrable=deferrable, poll_interval=0.2, timeout=1,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "failed"}
    assert tela_env.stats()["runs_created"] == 1


@pytest.mark.parametrize("mode", ["deferred", "reschedule"])
def test_fire_and_forget_then_sensor(tela_env, mode):
    with DAG(f"t_sensor_{mode}", schedule=None, start_date=START) as dag:
        submit = TelaCompletionOperator(
            task_id="submit", canvas_id="canvas-echo", variables={"document": "later"}, wait_for_completion=False,
        )
        wait = TelaRunSensor(
            task_id="wait", run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}",
            deferrable=mode == "deferred", mode="reschedule" if mode == "reschedule" else "poke",
            poke_interval=0.5, timeout=30,
        )
        submit >> wait
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"submit": "success", "wait": "success"}
    run = only_run(tela_env)
    values = xcoms(dag_run)
    assert values[("submit", -1, "return_value")] == run["id"] == values[("submit", -1, "run_id")]
    assert values[("wait", -1, "return_value")]["variables"] == {"document": "later"}
    assert values[("wait", -1, "usage")]["output_tokens"] > 0


def test_sensor_fails_when_the_run_failed(tela_env, hook_factory=None):
    with DAG("t_sensor_failed", schedule=None, start_date=START) as dag:
        submit = TelaCompletionOperator(task_id="submit", canvas_id="canvas-fail", wait_for_completion=False)
        wait = TelaRunSensor(
            task_id="wait", run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}", poke_interval=0.3, timeout=30,
        )
        submit >> wait
    assert task_states(run_dag(dag)) == {"submit": "success", "wait": "failed"}


def test_mapped_over_many_variables(tela_env):
    documents = [f"doc {i}" for i in range(6)]
    with DAG("t_mapped", schedule=None, start_date=START) as dag:
        TelaCompletionOperator.partial(task_id="canvas", canvas_id="canvas-echo", deferrable=True, poll_interval=0.5).expand(
            variables=[{"document": d} for d in documents]
        )
    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    returned = [values[("canvas", i, "return_value")]["variables"]["document"] for i in range(len(documents))]
    assert returned == documents
    assert tela_env.stats()["runs_created"] == len(documents)


class CrashAfterSubmit(AfterSubmit):
    """The first try dies right after submitting, as a worker killed by OOM would (the retry is real)."""

    def after_submit(self, context, run):
        if context["ti"].try_number == 1:
            raise SystemExit("worker lost after submit (simulated crash)")


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "in-worker"])
def test_durable_retry_reconnects_instead_of_resubmitting(tela_env, deferrable):
    with DAG(f"t_durable_{deferrable}", schedule=None, start_date=START) as dag:
        CrashAfterSubmit(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "once"}, deferrable=deferrable,
            poll_interval=0.5, retries=1, retry_delay=timedelta(seconds=0),
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    assert tela_env.stats()["runs_created"] == 1
    run = only_run(tela_env)
    values = xcoms(dag_run)
    assert values[("canvas", -1, "run_id")] == run["id"]
    assert values[("canvas", -1, "return_value")]["variables"] == {"document": "once"}


def test_not_durable_resubmits_on_retry(tela_env):
    with DAG("t_not_durable", schedule=None, start_date=START) as dag:
        CrashAfterSubmit(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "twice"}, durable=False,
            poll_interval=0.5, retries=1, retry_delay=timedelta(seconds=0),
        )
    assert task_states(run_dag(dag)) == {"canvas": "success"}
    assert tela_env.stats()["runs_created"] == 2


def test_bad_input_fails_before_anything_is_sent(tela_env):
    with DAG("t_bad_input", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-echo", messages=[{"role": "robot", "content": "hi"}],
        )
    assert task_states(run_dag(dag)) == {"canvas": "failed"}
    assert tela_env.stats()["requests"] == 0


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poke"])
def test_sensor_timeout_with_soft_fail_skips(tela_env, deferrable):
    tela_env.configure(run_latency=60)
    with DAG(f"t_sensor_soft_{deferrable}", schedule=None, start_date=START) as dag:
        submit = TelaCompletionOperator(task_id="submit", canvas_id="canvas-echo", variables={"document": "d"}, wait_for_completion=False)
        wait = TelaRunSensor(
            task_id="wait", run_id="{{ ti.xcom_pull(task_ids='submit', key='run_id') }}", deferrable=deferrable,
            poke_interval=0.2, timeout=1, soft_fail=True,
        )
        submit >> wait
    assert task_states(run_dag(dag)) == {"submit": "success", "wait": "skipped"}
