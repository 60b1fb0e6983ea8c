"""TelaBatchOperator in real DAG runs (dag.test() on SQLite) against the emulator.

Every test counts the runs the emulator created and reads the rows back from the results file.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from recording import FAILURES, RecordedBatch

from airflow_provider_tela import TelaBatchOperator
from airflow_provider_tela.errors import TelaBatchFailedError, TelaConfigError
from airflow_provider_tela.hooks.tela import TelaAsyncHook
from airflow_provider_tela.operators.tela import TelaCompletionOperator
from airflow_provider_tela.testing import RunFailed
from airflow_provider_tela.testing.dags import DAG, run_dag, task, task_states, xcoms

START = datetime(2026, 1, 1)
MANIFEST_KEYS = {"output_uri", "total", "succeeded", "failed", "ambiguous", "skipped", "usage", "state_uri"}


@pytest.fixture
def quick(tela_env):
    tela_env.configure(run_latency=0.05)
    return tela_env


def documents(n: int) -> list[dict[str, str]]:
    return [{"document": f"doc {i}"} for i in range(n)]


def rows_at(uri: str) -> list[dict]:
    path = Path(uri.removeprefix("file://"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def tries(dag_run) -> dict[str, int]:
    from airflow.utils.session import create_session

    with create_session() as session:
        return {ti.task_id: ti.try_number for ti in dag_run.get_task_instances(session=session)}


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_rows_in_record_order_and_a_small_manifest_in_xcom(quick, tmp_path, deferrable):
    with DAG(f"t_batch_rows_{deferrable}", schedule=None, start_date=START) as dag:
        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records=documents(30),
                          variables={"language": "en"}, output_path=str(tmp_path / "out"), concurrency=6,
                          deferrable=deferrable, poll_interval=1)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"}
    values = xcoms(dag_run)
    assert set(values) == {("enrich", -1, "return_value")}  # the manifest only: no contents, no run ids
    manifest = values[("enrich", -1, "return_value")]
    assert set(manifest) == MANIFEST_KEYS
    assert (manifest["total"], manifest["succeeded"], manifest["failed"], manifest["ambiguous"], manifest["skipped"]) \
        == (30, 30, 0, 0, 0)
    assert manifest["output_uri"] == str(tmp_path / "out" / "results.jsonl")
    rows = rows_at(manifest["output_uri"])
    assert [row["index"] for row in rows] == list(range(30))
    assert all(set(row) == {"index", "status", "run_id", "content", "error", "usage"} for row in rows)
    # operator-level variables are merged into every record's
    assert rows[7]["content"]["variables"] == {"language": "en", "document": "doc 7"}
    assert manifest["usage"]["output_tokens"] == sum(row["usage"]["output_tokens"] for row in rows)
    assert quick.stats()["runs_created"] == 30
    assert manifest["state_uri"].startswith(str(tmp_path / "out" / "_tela_batch"))


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))


def test_records_from_an_upstream_task_xcom(quick, tmp_path):
    with DAG("t_batch_xcom", schedule=None, start_date=START) as dag:
        @task
        def extract() -> list[dict]:
            return documents(12)

        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records=extract(),
                          output_path=str(tmp_path / "out"), concurrency=4, poll_interval=1,
                          extra_body={"trace_tag": "{{ dag.dag_id }}"},
                          override={"model": "m", "extra_body": {"reasoning_effort": "low"}})
    dag_run = run_dag(dag)
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    assert manifest["succeeded"] == 12
    assert [row["content"]["variables"]["document"] for row in rows_at(manifest["output_uri"])] == \
        [f"doc {i}" for i in range(12)]
    # every record's run carries the templated extra_body and the override's own extra fields
    runs = quick.runs()
    assert len(runs) == 12 and all(run["extra_fields"] == {"trace_tag": "t_batch_xcom"} for run in runs)
    assert all(run["raw_input"]["override"] == {"model": "m", "type": "chat", "reasoning_effort": "low"} for run in runs)


@pytest.mark.parametrize("kind", ["jsonl-templated", "csv", "object-storage-path"])
def test_records_from_files_streamed_from_local_or_object_storage(quick, tmp_path, kind):
    if kind == "csv":
        (tmp_path / "in.csv").write_text("document,language\n" + "".join(f"doc {i},fr\n" for i in range(10)))
        records, output = str(tmp_path / "in.csv"), str(tmp_path / "out")
    elif kind == "jsonl-templated":
        write_jsonl(tmp_path / "t_batch_files_jsonl-templated.jsonl", documents(10))
        records, output = str(tmp_path / "{{ dag.dag_id }}.jsonl"), str(tmp_path / "out" / "{{ dag.dag_id }}")
    else:  # object storage for the records, the results and the ledger (segments, no append)
        write_jsonl(tmp_path / "in.jsonl", documents(10))
        records, output = ObjectStoragePath(f"file://{tmp_path}/in.jsonl"), f"file://{tmp_path}/out/"
    with DAG(f"t_batch_files_{kind}", schedule=None, start_date=START) as dag:
        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records=records, output_path=output,
                          concurrency=4, poll_interval=1)
    dag_run = run_dag(dag)
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    assert manifest["succeeded"] == 10 and quick.stats()["runs_created"] == 10
    rows = rows_at(manifest["output_uri"])
    assert [row["content"]["variables"]["document"] for row in rows] == [f"doc {i}" for i in range(10)]
    if kind == "csv":
        assert rows[0]["content"]["variables"]["language"] == "fr"
    if kind == "jsonl-templated":
        assert manifest["output_uri"] == str(tmp_path / "out" / "t_batch_files_jsonl-templated" / "results.jsonl")
    if kind == "object-storage-path":
        assert manifest["output_uri"].startswith("file://")
        assert list((Path(manifest["state_uri"].removeprefix("file://")) / "ledger").iterdir())


@pytest.mark.parametrize("case, message", [
    ("bad-json", r"line 3 of .*in.jsonl is not valid JSON"),
    ("float", r"record 2 \(line 3\): Invalid Tela completion request: variables: variable 'document' must be text"),
    ("missing", r"records file .*nope.jsonl does not exist"),
    ("ragged-csv", r"line 3 of .*in.csv has fewer cells than the header"),
])
def test_bad_input_fails_at_once_before_anything_is_sent(quick, tmp_path, case, message):
    (tmp_path / "in.jsonl").write_text('{"document": "a"}\n{"document": "b"}\n'
                                       + ('{"document": \n' if case == "bad-json" else '{"document": 1.5}\n'))
    (tmp_path / "in.csv").write_text("document,language\na,en\nb\n")
    records = {"bad-json": "in.jsonl", "float": "in.jsonl", "missing": "nope.jsonl", "ragged-csv": "in.csv"}[case]
    with DAG(f"t_batch_bad_{case}", schedule=None, start_date=START) as dag:
        RecordedBatch(task_id="enrich", canvas_id="canvas-echo", records=str(tmp_path / records),
                      output_path=str(tmp_path / "out"), retries=2, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "failed"} and tries(dag_run) == {"enrich": 1}
    assert isinstance(FAILURES["enrich"], TelaConfigError)
    assert re.search(message, str(FAILURES["enrich"]))
    assert quick.stats()["requests"] == 0


def test_bad_operator_arguments_fail_when_the_dag_is_parsed(tmp_path):
    common = {"task_id": "t", "records": [], "output_path": str(tmp_path)}
    with pytest.raises(TelaConfigError, match="exactly one of canvas_id"):
        TelaBatchOperator(**common)
    with pytest.raises(TelaConfigError, match="concurrency must be a whole number"):
        TelaBatchOperator(canvas_id="c", concurrency=0, **common)
    with pytest.raises(TelaConfigError, match="max_failed_fraction must be between 0 and 1"):
        TelaBatchOperator(canvas_id="c", max_failed_fraction=2, **common)
    with pytest.raises(TelaConfigError, match="on_ambiguous must be one of"):
        TelaBatchOperator(canvas_id="c", on_ambiguous="fail-later", **common)
    for odd in (float("inf"), float("nan"), -1):  # inf was taken, and written to plan.json as Infinity
        with pytest.raises(TelaConfigError, match="max_cost must be a positive, finite number"):
            TelaBatchOperator(canvas_id="c", max_cost=odd, **common)
    with pytest.raises(TelaConfigError, match="output_path is a folder"):
        TelaBatchOperator(task_id="t", records=[], canvas_id="c", output_path="s3://b/out.jsonl")


def picky_canvas(emulator) -> None:
    def content(run_input):
        if run_input.variables["document"] in ("doc 3", "doc 8"):
            raise RunFailed("the document is unreadable")
        return {"summary": run_input.variables["document"].upper()}

    emulator.add_canvas("canvas-picky", content=content)


@pytest.mark.parametrize("max_failed_fraction", [0.0, 0.2])
def test_failed_records_do_not_stop_the_batch_and_fail_the_task_past_the_threshold(quick, tmp_path, max_failed_fraction):
    picky_canvas(quick)
    with DAG(f"t_batch_partial_{max_failed_fraction}", schedule=None, start_date=START) as dag:
        RecordedBatch(task_id="enrich", canvas_id="canvas-picky", records=documents(10),
                      output_path=str(tmp_path / "out"), max_failed_fraction=max_failed_fraction, poll_interval=1,
                      retries=2, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    rows = rows_at(str(tmp_path / "out" / "results.jsonl"))  # every row is written either way
    assert [row["status"] for row in rows].count("failed") == 2 and len(rows) == 10
    assert rows[3]["error"].endswith("failed: the document is unreadable")
    assert quick.stats()["runs_created"] == 10
    if max_failed_fraction == 0.0:
        assert task_states(dag_run) == {"enrich": "failed"} and tries(dag_run) == {"enrich": 1}
        assert isinstance(FAILURES["enrich"], TelaBatchFailedError)
        assert "2 record(s) failed and 0 are ambiguous out of 10" in str(FAILURES["enrich"])
    else:
        manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
        assert (manifest["succeeded"], manifest["failed"]) == (8, 2)


def test_the_spend_guard_skips_the_rest_and_says_why(quick, tmp_path):
    with DAG("t_batch_guard", schedule=None, start_date=START) as dag:
        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records=documents(40), concurrency=2,
                          output_path=str(tmp_path / "out"), max_cost=0.0003, poll_interval=1)
    dag_run = run_dag(dag)
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    created = quick.stats()["runs_created"]
    assert task_states(dag_run) == {"enrich": "success"}
    assert manifest["skipped"] == 40 - created and manifest["succeeded"] == created < 10
    assert "max_cost=0.0003 reached" in manifest["skipped_reason"]


class CrashingHook(TelaAsyncHook):
    """The worker dies right after Tela accepted the 15th submission, before its answer was recorded.
    Submissions go one at a time, so that no other POST is in flight when it dies."""

    armed = True
    sent = 0

    async def submit_request(self, request, **kwargs):
        lock = self.__dict__.setdefault("lock", asyncio.Lock())
        async with lock:
            run = await super().submit_request(request, **kwargs)
            CrashingHook.sent += 1
            if CrashingHook.armed and CrashingHook.sent == 15:
                CrashingHook.armed = False
                raise SystemExit("worker killed between a POST and its answer (simulated)")
            return run


class CrashingBatch(TelaBatchOperator):
    def async_hook(self):
        return CrashingHook(self.tela_conn_id)


@pytest.mark.parametrize("on_ambiguous", ["fail", "resubmit"])
def test_a_retry_after_a_crash_resumes_the_batch_without_paying_twice(quick, tmp_path, on_ambiguous):
    quick.configure(run_latency=0.3)
    CrashingHook.armed, CrashingHook.sent = True, 0
    with DAG(f"t_batch_crash_{on_ambiguous}", schedule=None, start_date=START) as dag:
        CrashingBatch(task_id="enrich", canvas_id="canvas-echo", records=documents(40), concurrency=5,
                      output_path=str(tmp_path / "out"), poll_interval=1, on_ambiguous=on_ambiguous,
                      max_failed_fraction=0.1, retries=1, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"} and tries(dag_run) == {"enrich": 2}
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    resumed = manifest["resumed"]
    assert resumed["done"] > 0 and resumed["reattached"] > 0  # finished ones kept, running ones re-attached
    per_document = Counter(run["raw_input"]["variables"]["document"] for run in quick.runs())
    rows = rows_at(manifest["output_uri"])
    if on_ambiguous == "fail":
        assert manifest["ambiguous"] == 1 and manifest["succeeded"] == 39
        assert quick.stats()["runs_created"] == 40 and set(per_document.values()) == {1}
        assert [row["index"] for row in rows if row["status"] == "ambiguous"] == [14]
    else:  # the one sent without a recorded answer is sent again, as asked; nothing else is
        assert manifest["succeeded"] == 40 and quick.stats()["runs_created"] == 41
        assert [doc for doc, count in per_document.items() if count > 1] == ["doc 14"]


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_the_single_run_operator_writes_its_content_to_output_path(quick, tmp_path, deferrable):
    with DAG(f"t_output_path_{deferrable}", schedule=None, start_date=START) as dag:
        TelaCompletionOperator(task_id="canvas", canvas_id="canvas-echo", variables={"document": "big"},
                               output_path=str(tmp_path / "{{ dag.dag_id }}" / "content.json"),
                               deferrable=deferrable, poll_interval=0.5)
    dag_run = run_dag(dag)
    values = xcoms(dag_run)
    uri = values[("canvas", -1, "return_value")]
    assert uri == str(tmp_path / f"t_output_path_{deferrable}" / "content.json")
    assert json.loads(Path(uri).read_text())["variables"] == {"document": "big"}
    assert values[("canvas", -1, "usage")]["output_tokens"] > 0


def test_the_nightly_example_enriches_the_days_file_from_object_storage(quick, tmp_path, monkeypatch):
    import importlib.util

    monkeypatch.setenv("TELA_NIGHTLY_DATA_URL", tmp_path.as_uri() + "/")
    example = Path(__file__).resolve().parents[2] / "example_dags" / "tela_nightly_enrichment.py"
    spec = importlib.util.spec_from_file_location("tela_nightly_example", example)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag_run = run_dag(module.tela_nightly_enrichment())
    assert task_states(dag_run) == {"sample_input": "success", "enrich": "success", "report": "success"}
    values = xcoms(dag_run)
    manifest = values[("enrich", -1, "return_value")]
    assert manifest["succeeded"] == manifest["total"] == 25 and quick.stats()["runs_created"] == 25
    assert values[("report", -1, "return_value")] == {"example sentiment": 25}  # the emulator fills the schema
    ds = dag_run.logical_date.strftime("%Y-%m-%d")
    assert manifest["output_uri"] == f"{tmp_path.as_uri()}/out/{ds}/results.jsonl"
    assert (tmp_path / "in" / f"{ds}.jsonl").exists()


class EditingHook(TelaAsyncHook):
    """Submissions one at a time; after the ``crash_at``-th, ``edit`` changes the input file (upstream
    rewrote it between tries), then the worker dies before the answer is recorded."""

    crash_at = 0
    sent = 0
    edit = None

    async def submit_request(self, request, **kwargs):
        lock = self.__dict__.setdefault("lock", asyncio.Lock())
        async with lock:
            run = await super().submit_request(request, **kwargs)
            EditingHook.sent += 1
            if EditingHook.sent == EditingHook.crash_at:
                EditingHook.edit()
                raise SystemExit("worker killed after the input changed (simulated)")
            return run


class EditingBatch(TelaBatchOperator):
    def async_hook(self):
        return EditingHook(self.tela_conn_id)


def edited_batch_run(quick, tmp_path, dag_id, crash_at, edit):
    quick.configure(run_latency=0.1)
    source = tmp_path / "in.jsonl"
    write_jsonl(source, documents(40))
    EditingHook.crash_at, EditingHook.sent, EditingHook.edit = crash_at, 0, lambda: edit(source)
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        EditingBatch(task_id="enrich", canvas_id="canvas-echo", records=str(source), concurrency=4,
                     output_path=str(tmp_path / "out"), poll_interval=0.5, max_failed_fraction=0.1,
                     retries=1, retry_delay=timedelta(seconds=0))
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"} and tries(dag_run) == {"enrich": 2}
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    return manifest, rows_at(manifest["output_uri"])


def test_a_record_appended_between_tries_is_the_only_one_submitted_by_the_retry(quick, tmp_path):
    def append(source):
        with source.open("a") as stream:
            stream.write(json.dumps({"document": "late"}) + "\n")

    manifest, rows = edited_batch_run(quick, tmp_path, "t_batch_appended", 30, append)
    per_document = Counter(run["raw_input"]["variables"]["document"] for run in quick.runs())
    assert quick.stats()["runs_created"] == 41 and set(per_document.values()) == {1}  # 41 distinct records
    assert manifest["total"] == 41 and len(rows) == 41 and [row["index"] for row in rows] == list(range(41))
    # the 30th was sent without its answer recorded: ambiguous (on_ambiguous="fail"), not sent again
    assert [row["index"] for row in rows if row["status"] == "ambiguous"] == [29]
    assert all(row["content"]["variables"]["document"] == (f"doc {row['index']}" if row["index"] < 40 else "late")
               for row in rows if row["status"] == "succeeded")
    runs = {run["id"]: run["raw_input"]["variables"]["document"] for run in quick.runs()}
    assert all(runs[row["run_id"]] == row["content"]["variables"]["document"] for row in rows if row["run_id"])
    assert manifest["resumed"]["reattached"] >= 28  # the earlier try's runs, taken over, not paid again


def test_a_record_changed_between_tries_is_submitted_again_and_its_old_run_not_reused(quick, tmp_path):
    old_runs = {}

    def change(source):
        old_runs.update({run["raw_input"]["variables"]["document"]: run["id"] for run in quick.runs()})
        lines = source.read_text().splitlines()
        lines[3] = json.dumps({"document": "doc 3, edited"})
        source.write_text("\n".join(lines) + "\n")

    _, rows = edited_batch_run(quick, tmp_path, "t_batch_changed", 15, change)
    per_document = Counter(run["raw_input"]["variables"]["document"] for run in quick.runs())
    assert quick.stats()["runs_created"] == 41 and set(per_document.values()) == {1}
    assert per_document["doc 3"] == per_document["doc 3, edited"] == 1
    assert rows[3]["status"] == "succeeded" and rows[3]["content"]["variables"]["document"] == "doc 3, edited"
    assert rows[3]["run_id"] != old_runs["doc 3"] and old_runs["doc 3"] not in {row["run_id"] for row in rows}
    assert rows[0]["run_id"] == old_runs["doc 0"]  # an unchanged record keeps its run
    assert [row["index"] for row in rows if row["status"] == "ambiguous"] == [14]


@pytest.mark.parametrize("deferrable", [False, True], ids=["in-worker", "deferred"])
def test_a_nan_cost_neither_fails_the_xcom_push_nor_switches_the_spend_guard_off(quick, tmp_path, monkeypatch,
                                                                                deferrable):
    """Issue 16: the first run's information.cost is NaN. In the worker the manifest (cost nan) failed
    every try when pushed to XCom, after paying for every record; deferred, it said "cost": null. Now
    the cost is unreadable, there is no readable cost to estimate it from: the batch stops submitting."""
    from airflow_provider_tela.testing import runs as emulator_runs

    monkeypatch.setattr(emulator_runs.Run, "cost", property(
        lambda run: float("nan") if run.request.variables["document"] == "doc 0" else 0.003))
    with DAG(f"t_batch_nan_cost_{deferrable}", schedule=None, start_date=START) as dag:
        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records=documents(40), concurrency=1,
                          output_path=str(tmp_path / "out"), max_cost=0.01, poll_interval=1, deferrable=deferrable)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"} and tries(dag_run) == {"enrich": 1}
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    json.dumps(manifest, allow_nan=False)
    assert quick.stats()["runs_created"] == 1 and manifest["skipped"] == 39
    assert manifest["usage"]["cost"] == 0 and manifest["usage"]["costs_estimated"] == 1
    assert "could not be read" in manifest["skipped_reason"]


def test_relative_paths_are_made_absolute_before_the_triggerer_reads_the_plan(quick, tmp_path, monkeypatch):
    """A relative records path and output_path, deferred: the triggerer's working directory is not the
    worker's. The worker makes them absolute before it hands the plan over."""
    from airflow_provider_tela.triggers.batch import TelaBatchTrigger

    worker, triggerer = tmp_path / "worker", tmp_path / "triggerer"
    worker.mkdir(), triggerer.mkdir()
    write_jsonl(worker / "in.jsonl", documents(5))
    monkeypatch.chdir(worker)
    run = TelaBatchTrigger.run

    async def elsewhere(self):
        monkeypatch.chdir(triggerer)  # the triggerer runs in a working directory of its own
        async for event in run(self):
            yield event

    monkeypatch.setattr(TelaBatchTrigger, "run", elsewhere)
    with DAG("t_batch_relative", schedule=None, start_date=START) as dag:
        TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records="in.jsonl", output_path="out",
                          deferrable=True, poll_interval=1)
    dag_run = run_dag(dag)
    assert task_states(dag_run) == {"enrich": "success"}
    manifest = xcoms(dag_run)[("enrich", -1, "return_value")]
    assert manifest["output_uri"] == str(worker / "out" / "results.jsonl") and manifest["succeeded"] == 5
    assert manifest["state_uri"].startswith(str(worker / "out" / "_tela_batch"))
    assert len(rows_at(manifest["output_uri"])) == 5 and not list(triggerer.iterdir())
