"""Inputs in real DAG runs: files, @task.tela, checked variables, output_schema, streaming."""

from __future__ import annotations

import hashlib
import importlib.util
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from airflow_provider_tela import TelaFile
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms

START = datetime(2026, 1, 1)
REPO = Path(__file__).resolve().parents[2]


def test_templated_file_path_is_rendered_and_uploaded_once_while_deferring(tela_env, tmp_path):
    (tmp_path / "report-2026.pdf").write_bytes(b"%PDF report body")
    with DAG("t_file_templated", schedule=None, start_date=START, params={"folder": str(tmp_path)}) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-file",
            variables={"document": TelaFile("{{ params.folder }}/report-{{ '2026' }}.pdf", {"range": [0]})},
            deferrable=True, poll_interval=0.5,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    document = xcoms(dag_run)[("canvas", -1, "return_value")]["variables"]["document"]
    assert document["sha256"] == hashlib.sha256(b"%PDF report body").hexdigest()
    assert document["options"] == {"range": [0]}
    stats = tela_env.stats()
    assert stats["uploads"] == 1 and stats["files_created"] == 1 and stats["runs_created"] == 1


def test_durable_retry_does_not_upload_again(tela_env, tmp_path):
    from test_operator_dags import CrashAfterSubmit

    (tmp_path / "a.pdf").write_bytes(b"%PDF once")
    with DAG("t_file_durable", schedule=None, start_date=START) as dag:
        CrashAfterSubmit(
            task_id="canvas", canvas_id="canvas-file", variables={"document": tmp_path / "a.pdf"},
            deferrable=True, poll_interval=0.5, retries=1, retry_delay=timedelta(seconds=0),
        )
    assert task_states(run_dag(dag)) == {"canvas": "success"}
    assert tela_env.stats()["uploads"] == 1 and tela_env.stats()["runs_created"] == 1


def test_task_tela_decorator(tela_env, tmp_path):
    (tmp_path / "memo.txt").write_text("memo body")

    with DAG("t_decorator", schedule=None, start_date=START) as dag:
        @task.tela(canvas_id="canvas-echo", deferrable=True, poll_interval=0.5)
        def summarise(path: str, language: str):
            return {
                "variables": {"document": TelaFile(path), "language": language},
                "messages": [{"role": "user", "content": "Summarise it"}],
            }

        summarise(str(tmp_path / "memo.txt"), "pt")
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"summarise": "success"}
    values = xcoms(dag_run)
    content = values[("summarise", -1, "return_value")]
    assert content["variables"]["language"] == "pt"
    assert content["variables"]["document"]["sha256"] == hashlib.sha256(b"memo body").hexdigest()
    assert values[("summarise", -1, "run_id")] == tela_env.runs()[0]["id"]
    assert values[("summarise", -1, "usage")]["input_tokens"] > 0
    assert tela_env.runs()[0]["raw_input"]["messages"] == [{"role": "user", "content": "Summarise it"}]


def test_task_tela_must_return_a_mapping(tela_env):
    with DAG("t_decorator_bad", schedule=None, start_date=START) as dag:
        @task.tela(canvas_id="canvas-echo")
        def wrong():
            return ["not", "a", "dict"]

        wrong()
    assert task_states(run_dag(dag)) == {"wrong": "failed"}
    assert tela_env.stats()["requests"] == 0


def test_validate_variables_stops_a_bad_run_before_submitting(tela_env, tmp_path):
    with DAG("t_validate", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="bad", canvas_id="canvas-file", variables={"document": "text, not a file", "extra": "x"},
            validate_variables=True,
        )
        TelaCompletionOperator(
            task_id="good", canvas_id="canvas-file", variables={"document": TelaFile(b"%PDF", name="d.pdf")},
            validate_variables=True, poll_interval=0.5,
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"bad": "failed", "good": "success"}
    assert tela_env.stats()["runs_created"] == 1
    assert tela_env.stats()["promoted_version_gets"] == 2


class Review(BaseModel):
    title: str
    summary: str
    score: float


def test_output_schema_returns_the_structured_object(tela_env):
    with DAG("t_output_schema", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-structured", variables={"text": "good"}, output_schema=Review,
            deferrable=True, poll_interval=0.5,
        )
    dag_run = run_dag(dag)
    assert xcoms(dag_run)[("canvas", -1, "return_value")] == {"title": "example title", "summary": "example summary", "score": 1}


def test_output_not_matching_the_model_fails_clearly(tela_env):
    class Strict(BaseModel):
        # the emulator fills numbers with 1, which this model refuses
        confidence: float = Field(ge=2)

    with DAG("t_output_mismatch", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-structured", output_schema=Strict, poll_interval=0.5)
    assert task_states(run_dag(dag)) == {"canvas": "failed"}


def test_streaming_in_the_worker(tela_env):
    with DAG("t_stream", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "streamed doc"}, stream=True,
            deferrable=False,
        )
    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    assert values[("canvas", -1, "return_value")]["variables"] == {"document": "streamed doc"}
    assert values[("canvas", -1, "run_id")] == tela_env.runs()[0]["id"]
    assert tela_env.stats()["runs_by_mode"] == {"stream": 1}


def test_stream_needs_the_worker():
    from airflow_provider_tela.errors import TelaConfigError

    with pytest.raises(TelaConfigError, match="deferrable=False"):
        TelaCompletionOperator(task_id="t", canvas_id="c", stream=True, deferrable=True)


def test_example_dag_reads_documents_from_object_storage(tela_env, tmp_path):
    documents = {"a.pdf": b"%PDF first", "b.pdf": b"%PDF second", "c.txt": b"third"}
    for name, data in documents.items():
        (tmp_path / name).write_bytes(data)
    spec = importlib.util.spec_from_file_location("tela_docs_example", REPO / "example_dags/tela_documents_from_storage.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.tela_documents_from_storage()
    dag_run = run_dag(dag, run_conf={"documents_url": f"file://{tmp_path}/"})
    values = xcoms(dag_run)
    hashes = sorted(values[("summarise", i, "return_value")]["variables"]["document"]["sha256"] for i in range(3))
    assert hashes == sorted(hashlib.sha256(d).hexdigest() for d in documents.values())
    assert tela_env.stats()["uploads"] == 3 and tela_env.stats()["runs_created"] == 3


def test_all_example_dags_parse_cleanly():
    try:
        from airflow.dag_processing.dagbag import DagBag
    except ImportError:  # Airflow < 3.1
        from airflow.models.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "example_dags"))
    assert bag.import_errors == {}
    assert {"tela_canvas_step", "tela_enrichment", "tela_production_pipeline", "tela_documents_from_storage",
            "tela_nightly_enrichment"} <= set(bag.dag_ids)


def test_an_object_storage_path_is_uploaded_on_every_airflow_line(tela_env, tmp_path):
    # On Airflow 2.11 an ObjectStoragePath is also a pathlib.Path: it must still be read as object storage.
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    (tmp_path / "report.pdf").write_bytes(b"%PDF from object storage")
    with DAG("t_object_storage_path", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-file", poll_interval=0.5,
            variables={"document": ObjectStoragePath(f"file://{tmp_path}/report.pdf")},
        )
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"canvas": "success"}
    document = xcoms(dag_run)[("canvas", -1, "return_value")]["variables"]["document"]
    assert document["sha256"] == hashlib.sha256(b"%PDF from object storage").hexdigest()
