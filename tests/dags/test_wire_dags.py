"""Wire fidelity in real DAG runs: what a DAG gives (a list of files from XCom, ints and bools, an
output_schema) reaches the emulator, which validates every body against Tela's OpenAPI."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel

from airflow_provider_tela import TelaFile
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms

START = datetime(2026, 1, 1)


class Verdict(BaseModel):
    """Whether the documents agree."""

    agree: bool
    summary: str


def test_a_list_of_files_from_xcom_with_every_scalar_and_an_output_schema(tela_env, tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF first")
    (tmp_path / "b.pdf").write_bytes(b"%PDF second")
    with DAG("t_wire_files", schedule=None, start_date=START, render_template_as_native_obj=True) as dag:
        @task
        def documents(folder: str) -> list[TelaFile]:
            return [TelaFile(f"{folder}/a.pdf", {"parserType": "tela-pdf-parser"}), TelaFile(f"{folder}/b.pdf")]

        docs = documents(str(tmp_path))
        compare = TelaCompletionOperator(
            task_id="compare", canvas_id="canvas-structured",
            variables={"text": "compare them", "documents": "{{ ti.xcom_pull(task_ids='documents') }}",
                       "pages": 2, "strict": False},
            messages=[{"role": "user", "content": "Be brief."}],
            override={"model": "gpt-4o"}, output_schema=Verdict, deferrable=True, poll_interval=0.5,
        )
        docs >> compare
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"documents": "success", "compare": "success"}
    assert xcoms(dag_run)[("compare", -1, "return_value")] == {"agree": True, "summary": "example summary"}
    stats = tela_env.stats()
    assert (stats["spec_rejections"], stats["runs_created"], stats["uploads"]) == (0, 1, 2)
    raw = tela_env.runs()[0]["raw_input"]
    assert (raw["variables"]["pages"], raw["variables"]["strict"]) == ("2", "false")
    files = raw["variables"]["documents"]["files"]
    assert files[0]["options"] == {"parser_type": "tela-pdf-parser"}
    stored = {f["download_url"]: f["sha256"] for f in tela_env.files()}
    assert [stored[f["file_url"]] for f in files] == [hashlib.sha256(b"%PDF first").hexdigest(),
                                                     hashlib.sha256(b"%PDF second").hexdigest()]
    override = raw["override"]
    assert override["type"] == "chat" and override["structured_output"]["schema"]["title"] == "Verdict"


def test_extra_body_is_templated_and_sent(tela_env):
    with DAG("t_wire_extra_body", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(
            task_id="canvas", canvas_id="canvas-echo", variables={"document": "d"},
            extra_body={"note": "{{ dag.dag_id }}", "long_response": True}, deferrable=True, poll_interval=0.5,
        )
    assert task_states(run_dag(dag)) == {"canvas": "success"}
    [run] = tela_env.runs()
    assert run["extra_fields"] == {"note": "t_wire_extra_body", "long_response": True}


def test_an_async_reply_with_only_an_id_is_a_run_to_wait_for(tela_env):
    tela_env.configure(async_reply="id")
    with DAG("t_wire_id_only", schedule=None, start_date=START) as dag:
        for deferrable in (True, False):
            TelaCompletionOperator(task_id=f"canvas_{deferrable}", canvas_id="canvas-echo",
                                   variables={"document": "d"}, deferrable=deferrable, poll_interval=0.5)
    dag_run = run_dag(dag)
    assert set(task_states(dag_run).values()) == {"success"}
    assert tela_env.stats()["runs_created"] == 2


def test_content_holding_nan_or_half_an_emoji_is_stored_as_any_metadata_database_takes_it(tela_env):
    """Python's JSON reader accepts NaN and a lone UTF-16 surrogate in a paid answer; PostgreSQL's JSON
    columns (XCom, trigger events) refuse both. They are stored as null and U+FFFD, and the task succeeds."""
    tela_env.add_canvas("canvas-odd", content={"score": float("nan"), "text": "half \ud83d", "ok": 1.5})
    with DAG("t_wire_odd_content", schedule=None, start_date=START) as dag:
        for deferrable in (False, True):
            TelaCompletionOperator(task_id=f"odd_{deferrable}", canvas_id="canvas-odd", variables={"document": "d"},
                                   deferrable=deferrable, poll_interval=0.5)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"odd_False": "success", "odd_True": "success"}
    for deferrable in (False, True):
        assert xcoms(dag_run)[(f"odd_{deferrable}", -1, "return_value")] == {"score": None, "text": "half \ufffd",
                                                                              "ok": 1.5}
