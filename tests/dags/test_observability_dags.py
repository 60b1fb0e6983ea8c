"""OpenLineage events and statsd metrics from one real DAG run (`airflow dags test`, in a process of its
own: Airflow reads [metrics] and [openlineage] when it starts), against the emulator.

The DAG (tests/dags/observed/tela_observed.py) has a batch (throttled, one record failing), a
completion in the worker, a deferred one with file inputs and an output_path, a deferred @task.tela,
and a deferred run that fails. The run's OpenLineage events go to a file (the provider's file
transport), its metrics to a UDP socket on 127.0.0.1 (statsd, with InfluxDB-style tags so that the
tags can be read back). The lineage part needs apache-airflow-providers-openlineage (the `test` extra
installs it on every line); without it, only the metrics are checked.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_tela.testing import RunFailed

HERE = Path(__file__).resolve().parent
AIRFLOW = str(Path(sys.executable).parent / "airflow")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SECRET_TEXT = "a-variable-value-no-event-may-hold"

try:
    import airflow.providers.openlineage  # noqa: F401

    LINEAGE = True
except ImportError:
    LINEAGE = False


class Observed:
    def __init__(self, events: list[dict[str, Any]], raw_events: str, datagrams: list[str], output: str,
                 runs: list[dict[str, Any]], api_key: str, folder: Path) -> None:
        self.events, self.raw_events, self.datagrams, self.output = events, raw_events, datagrams, output
        self.runs, self.api_key, self.folder = runs, api_key, folder

    def event(self, task_id: str, event_type: str) -> dict[str, Any]:
        found = [e for e in self.events if e["job"]["name"] == f"tela_observed.{task_id}" and e["eventType"] == event_type]
        assert found, f"no {event_type} event of {task_id}: {[(e['job']['name'], e['eventType']) for e in self.events]}"
        return found[-1]

    def metrics(self) -> list[tuple[str, dict[str, str], float, str]]:
        """(name, tags, value, type) of every metric the run sent."""
        found = []
        for line in "\n".join(self.datagrams).splitlines():
            head, _, rest = line.partition(":")
            value, _, kind = rest.partition("|")
            name, *tags = head.split(",")
            found.append((name, dict(tag.split("=", 1) for tag in tags), float(value), kind.split("|")[0]))
        return found

    def total(self, name: str, **tags: str) -> float:
        return sum(value for found, got, value, _ in self.metrics()
                   if found == name and all(got.get(k) == v for k, v in tags.items()))


def picky(run: Any) -> dict[str, bool]:
    if run.variables["document"] == "doc 3":
        raise RunFailed("the document is unreadable")
    return {"ok": True}


@pytest.fixture(scope="module")
def observed(tela_emulator_session, tmp_path_factory) -> Observed:
    emulator = tela_emulator_session
    emulator.reset()
    emulator.configure(run_latency=0.2)
    emulator.add_canvas("canvas-observed", cost=0.01)
    emulator.add_canvas("canvas-picky", cost=0.002, content=picky)
    emulator.add_fault("429", method="POST", path="/v2/chat/completions", count=2, retry_after=0.1)
    folder = tmp_path_factory.mktemp("observed")
    (folder / "local.txt").write_text("a local document")
    (folder / "stored.txt").write_text("a stored document")
    (folder / "records.jsonl").write_text("".join(json.dumps({"document": f"doc {i}"}) + "\n" for i in range(6)))
    events_file = folder / "lineage.jsonl"
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.2)
    datagrams: list[str] = []
    done = threading.Event()

    def receive() -> None:
        while not done.is_set():
            try:
                datagrams.append(receiver.recv(65535).decode())
            except TimeoutError:
                continue

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__OPENLINEAGE", "OPENLINEAGE", "TELA_"))},
        "AIRFLOW__CORE__DAGS_FOLDER": str(HERE / "observed"),
        "AIRFLOW_CONN_TELA_DEFAULT": emulator.connection_json(),
        "TELA_OBSERVED_DIR": str(folder),
        "AIRFLOW__METRICS__STATSD_ON": "True",
        "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
        "AIRFLOW__METRICS__STATSD_PORT": str(receiver.getsockname()[1]),
        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events_file),
                                                       "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "tela-tests",
    }
    try:
        done_run = subprocess.run([AIRFLOW, "dags", "test", "tela_observed"], env=env, capture_output=True, text=True,
                                  timeout=400, check=False)
    finally:
        done.set()
        thread.join(timeout=5)
        receiver.close()
    output = done_run.stdout + done_run.stderr
    assert "DagRun Finished: dag_id=tela_observed" in output, output[-6000:]
    raw = events_file.read_text() if events_file.exists() else ""
    events = [json.loads(line) for line in raw.splitlines() if line.strip()]
    return Observed(events, raw, datagrams, output, emulator.runs(), emulator.api_key, folder)


def test_each_way_a_task_ends_is_counted_by_outcome_with_its_usage(observed):
    assert observed.total("airflow.tela.completion.succeeded") == 3  # worker, deferred, decorated
    assert observed.total("airflow.tela.completion.failed", canvas_id="canvas-fail") == 1
    assert observed.total("airflow.tela.completion.cost_micros", canvas_id="canvas-observed") == 3 * 10_000
    succeeded_runs = [run for run in observed.runs if run["canvas_id"] == "canvas-observed"]
    assert len(succeeded_runs) == 3
    assert observed.total("airflow.tela.completion.output_tokens") > 0
    timings = [m for m in observed.metrics() if m[0] == "airflow.tela.completion.duration"]
    assert len(timings) == 3 and all(kind == "ms" and value == pytest.approx(200) for _, _, value, kind in timings)
    assert {m[1].get("operator") for m in observed.metrics() if m[0] == "airflow.tela.completion.succeeded"} == \
        {"TelaCompletionOperator", "task.tela"}


def test_a_batch_reports_its_records_by_status_its_usage_and_the_throttling(observed):
    assert observed.total("airflow.tela.batch.succeeded", operator="TelaBatchOperator") == 1
    assert observed.total("airflow.tela.batch.records.succeeded", canvas_id="canvas-picky") == 5
    assert observed.total("airflow.tela.batch.records.failed") == 1
    assert observed.total("airflow.tela.batch.cost_micros") == 5 * 2_000
    assert observed.total("airflow.tela.batch.throttled", reason="429") == 2
    windows = [m for m in observed.metrics() if m[0] == "airflow.tela.batch.window_min"]
    assert len(windows) == 1 and windows[0][2] == 1 and windows[0][3] == "g"


def test_metric_tags_are_few_and_never_name_a_run_or_a_record(observed):
    ours = [m for m in observed.metrics() if m[0].startswith("airflow.tela.")]
    assert ours
    for name, tags, _, _ in ours:
        assert set(tags) <= {"conn_id", "operator", "canvas_id", "application_id", "reason"}, (name, tags)
        assert not UUID.search(name + str(tags)) and "doc " not in str(tags)
    assert all(tags["conn_id"] == "tela_default" for _, tags, _, _ in ours)


@pytest.mark.skipif(not LINEAGE, reason="apache-airflow-providers-openlineage is not installed")
def test_a_deferred_completion_reports_its_file_inputs_output_and_run(observed):
    complete = observed.event("deferred", "COMPLETE")
    folder = str(observed.folder)
    assert {(d["namespace"], d["name"]) for d in complete["inputs"]} == \
        {("file", f"{folder}/local.txt"), ("file", f"{folder}/stored.txt")}
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [("file", f"{folder}/deferred-out.json")]
    job = complete["job"]["facets"]["tela"]
    assert (job["canvasId"], job["operator"]) == ("canvas-observed", "TelaCompletionOperator")
    assert job["variableNames"] == ["document", "note", "scan"]
    run = complete["run"]["facets"]["tela"]
    run_ids = {r["id"] for r in observed.runs if r["canvas_id"] == "canvas-observed"}
    assert run["status"] == "succeeded" and run["kind"] == "run" and run["id"] in run_ids
    assert run["usage"]["cost"] == 0.01 and run["usage"]["input_tokens"] > 0
    assert complete["run"]["facets"]["externalQuery"] == {**complete["run"]["facets"]["externalQuery"],
                                                         "externalQueryId": run["id"], "source": "tela"}
    start = observed.event("deferred", "START")  # (what is known before the run: the files and the output)
    assert {d["name"] for d in start["inputs"]} == {f"{folder}/local.txt", f"{folder}/stored.txt"}


@pytest.mark.skipif(not LINEAGE, reason="apache-airflow-providers-openlineage is not installed")
def test_a_deferred_decorated_task_keeps_its_inputs_across_the_deferral(observed):
    complete = observed.event("decorated", "COMPLETE")
    assert [d["name"] for d in complete["inputs"]] == [f"{observed.folder}/local.txt"]
    assert complete["job"]["facets"]["tela"]["operator"] == "@task.tela"
    assert complete["run"]["facets"]["tela"]["status"] == "succeeded"


@pytest.mark.skipif(not LINEAGE, reason="apache-airflow-providers-openlineage is not installed")
def test_a_run_that_fails_after_a_deferral_reports_its_status_and_id(observed):
    fail = observed.event("failing", "FAIL")
    run = fail["run"]["facets"]["tela"]
    [failed_run] = [r for r in observed.runs if r["canvas_id"] == "canvas-fail"]
    assert run["status"] == "failed" and run["id"] == failed_run["id"]
    assert fail["job"]["facets"]["tela"]["canvasId"] == "canvas-fail"


@pytest.mark.skipif(not LINEAGE, reason="apache-airflow-providers-openlineage is not installed")
def test_a_batch_reports_its_records_file_results_file_and_counts(observed):
    complete = observed.event("batch", "COMPLETE")
    folder = str(observed.folder)
    assert [(d["namespace"], d["name"]) for d in complete["inputs"]] == [("file", f"{folder}/records.jsonl")]
    assert [(d["namespace"], d["name"]) for d in complete["outputs"]] == [("file", f"{folder}/batch-out/results.jsonl")]
    run = complete["run"]["facets"]["tela"]
    assert (run["status"], run["total"], run["succeeded"], run["failed"]) == ("succeeded", 6, 5, 1)
    assert run["usage"]["cost"] == pytest.approx(0.01)


@pytest.mark.skipif(not LINEAGE, reason="apache-airflow-providers-openlineage is not installed")
def test_no_event_holds_the_key_or_a_variable_value(observed):
    assert observed.events and observed.api_key not in observed.raw_events
    assert SECRET_TEXT not in observed.raw_events and "a local document" not in observed.raw_events
    assert SECRET_TEXT not in "".join(observed.datagrams)
