"""TelaBatchOperator's engine: speed against the bound, against mapped tasks, and memory at scale.

Usage::

    .venv/bin/python benchmarks/batch.py                      # everything (about 25 minutes on 2 cores)
    .venv/bin/python benchmarks/batch.py --only speed         # (a)
    .venv/bin/python benchmarks/batch.py --only mapped --mapped-records 500
    .venv/bin/python benchmarks/batch.py --only scale --scale 25000,50000,100000

What is measured (the emulator is always a process of its own, driven through its admin API, so its
CPU and memory are not counted):

(a) Speed: 2,000 records, run latency 300 ms, concurrency 50. The bound is records x latency /
    concurrency (12 s): no client can finish sooner. Two drivers, each in a fresh process: the
    in-worker path (``asyncio.run`` of the engine, as ``execute`` does) and the deferred path
    (``TelaBatchTrigger.run()`` in an event loop, as the triggerer runs it, from the plan the
    worker wrote). Printed: elapsed from the first submission to the merged results file, the
    ratio to the bound, and the checks the emulator counted per record. The worker's scan of the
    input (validation, count, digest) is printed apart.
(b) Against the alternative: the same records as one mapped ``TelaCompletionOperator`` per record,
    on a real Airflow 3 deployment (scheduler, DAG processor, triggerer, API server, LocalExecutor,
    SQLite; tests/e2e/airflow_processes.py starts it), ``max_active_tis_per_dag`` and parallelism at
    the same concurrency; then the batch as one ``TelaBatchOperator`` task on the same deployment.
    Printed: each DAG run's duration (start to end, from the metadata database) and the speed-up.
    ``--mapped-records`` below the batch's size prints the measured figure and, marked as such, its
    linear extrapolation.
(c) Scale: N records streamed from a JSONL file, in a fresh process each: peak RSS growth of the
    task process (in-worker: scan, plan and batch) and, in deferred mode, of the worker's part (scan
    and plan) and of the trigger's process (the batch). RSS is sampled every 10 ms by a thread;
    growth = peak minus the RSS after imports, before the scan. Run latency 20 ms, concurrency 100,
    so that 100,000 records take minutes, not hours: memory does not depend on the latency.

It prints markdown tables and one line per target; it never asserts and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
API_KEY = "tela-emulator-key"
SPEED_TARGET = 1.15
SPEEDUP_TARGET = 20.0
RSS_TARGET_MB = 200.0


# --- the emulator, as a process -------------------------------------------------------------------------


class Emulator:
    def __init__(self, root: Path, latency: float) -> None:
        self.ready = root / "emulator.ready"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "airflow_provider_tela.testing", "--port", "0", "--run-latency", str(latency),
             "--api-key", API_KEY, "--ready-file", str(self.ready)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not self.ready.exists():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("the emulator did not start")
            time.sleep(0.1)
        self.url = self.ready.read_text().strip()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/_emulator/{path}", data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())

    def reset(self, latency: float) -> None:
        self.admin("POST", "reset")
        self.admin("POST", "config", {"run_latency": latency})

    def connection(self, **extra: Any) -> str:
        return json.dumps({"conn_type": "tela", "host": self.url, "password": API_KEY, "extra": extra})

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def write_records(path: Path, n: int) -> Path:
    with open(path, "w") as out:
        for i in range(n):
            out.write(json.dumps({"document": f"customer review {i}: the parcel arrived on time", "id": str(i)}) + "\n")
    return path


# --- child processes: one driver each, measured alone ------------------------------------------------------


class RssSampler(threading.Thread):
    def __init__(self) -> None:
        import psutil

        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.base = self.peak = self.process.memory_info().rss
        self.running = True

    def rebase(self) -> None:
        self.base = self.peak = self.process.memory_info().rss

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.01)

    def growth_mb(self) -> float:
        self.running = False
        self.join()
        self.peak = max(self.peak, self.process.memory_info().rss)
        return (self.peak - self.base) / 2**20


def child(args: argparse.Namespace) -> None:
    """Run one driver; print one JSON line with what it measured."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    os.environ["AIRFLOW_CONN_TELA_DEFAULT"] = args.connection
    from airflow_provider_tela._batch.engine import BatchEngine
    from airflow_provider_tela._batch.plan import BatchPlan
    from airflow_provider_tela._batch.records import RecordFile, describe, scan
    from airflow_provider_tela._batch.spec import BatchSpec
    from airflow_provider_tela._http.async_transport import close_shared_sessions
    from airflow_provider_tela.hooks.tela import TelaAsyncHook
    from airflow_provider_tela.triggers.batch import TelaBatchTrigger

    log = logging.getLogger("bench")
    sampler = RssSampler()
    sampler.start()
    result: dict[str, Any] = {"role": args.child}
    state_uri = str(Path(args.workdir) / "out" / "_tela_batch" / "bench")
    if args.child in ("worker", "plan"):
        started = time.monotonic()
        spec = BatchSpec(canvas_id="canvas-echo", variables={"language": "en"})
        source = describe(args.records_file)
        assert isinstance(source, RecordFile)  # a path: the file form of records
        checked = scan(source, lambda record: spec.request_for(record.variables))
        plan = BatchPlan(spec=spec, records=source, output_uri=str(Path(args.workdir) / "out"), state_uri=state_uri,
                         total=checked.total, records_digest=checked.digest, fingerprint="bench",
                         concurrency=args.concurrency, poll_interval=10.0, timeout=3600.0)
        plan.save()
        result["scan_s"] = time.monotonic() - started
    if args.child == "worker":
        async def in_worker() -> dict[str, Any]:
            async with TelaAsyncHook() as hook:
                return await BatchEngine(plan, hook, log).run()

        started = time.monotonic()
        manifest = asyncio.run(in_worker())
        result["elapsed_s"] = time.monotonic() - started
        result["succeeded"] = manifest["succeeded"]
    elif args.child == "trigger":
        async def deferred() -> list[Any]:
            trigger = TelaBatchTrigger(state_uri=state_uri, tela_conn_id="tela_default")
            try:
                return [event.payload async for event in trigger.run()]
            finally:
                await close_shared_sessions()

        started = time.monotonic()
        events = asyncio.run(deferred())
        result["elapsed_s"] = time.monotonic() - started
        result["succeeded"] = events[0]["manifest"]["succeeded"]
    result["rss_growth_mb"] = sampler.growth_mb()
    result["rss_base_mb"] = sampler.base / 2**20
    print(json.dumps(result))


def run_child(role: str, emulator: Emulator, records: Path, workdir: Path, concurrency: int) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--child", role, "--connection", emulator.connection(timeout=30),
            "--records-file", str(records), "--workdir", str(workdir), "--concurrency", str(concurrency)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{role} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


# --- (a) speed against the bound ---------------------------------------------------------------------------


def speed(emulator: Emulator, root: Path, n: int, latency: float, concurrency: int) -> dict[str, float]:
    bound = n * latency / concurrency
    records = write_records(root / "speed.jsonl", n)
    figures: dict[str, float] = {}
    rows = []
    for mode in ("in-worker", "deferred"):
        emulator.reset(latency)
        workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"speed-{mode}-"))
        if mode == "in-worker":
            measured = run_child("worker", emulator, records, workdir, concurrency)
        else:
            planned = run_child("plan", emulator, records, workdir, concurrency)
            measured = {**run_child("trigger", emulator, records, workdir, concurrency), "scan_s": planned["scan_s"]}
        stats = emulator.admin("GET", "stats")
        figures[mode] = measured["elapsed_s"] / bound
        rows.append(f"| {mode} | {n:,} | {latency * 1000:.0f} ms | {concurrency} | {bound:.1f} s | "
                    f"{measured['elapsed_s']:.2f} s | {measured['elapsed_s'] / bound:.3f}x | "
                    f"{stats['polls'] / n:.2f} | {stats['runs_created']:,} | {measured['scan_s']:.2f} s |")
    print("\n### (a) Speed against the bound\n")
    print("| driver | records | run latency | concurrency | bound | elapsed | ratio | checks / record "
          "| runs created | worker's scan |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    for mode, ratio in figures.items():
        print(f"- target {mode}: elapsed <= {SPEED_TARGET}x the bound: {'met' if ratio <= SPEED_TARGET else 'NOT met'} "
              f"({ratio:.3f}x)")
    return figures


# --- (c) memory at scale -----------------------------------------------------------------------------------


def scale(emulator: Emulator, root: Path, sizes: list[int], concurrency: int) -> None:
    latency = 0.02
    rows = []
    worst = 0.0
    for n in sizes:
        records = write_records(root / f"scale-{n}.jsonl", n)
        emulator.reset(latency)
        workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"scale-{n}-worker-"))
        worker = run_child("worker", emulator, records, workdir, concurrency)
        emulator.reset(latency)
        workdir = Path(tempfile.mkdtemp(dir=root, prefix=f"scale-{n}-deferred-"))
        planned = run_child("plan", emulator, records, workdir, concurrency)
        trigger = run_child("trigger", emulator, records, workdir, concurrency)
        worst = max(worst, worker["rss_growth_mb"], planned["rss_growth_mb"], trigger["rss_growth_mb"])
        rows.append(f"| {n:,} | {worker['rss_growth_mb']:.1f} MB | {worker['elapsed_s']:.0f} s | "
                    f"{planned['rss_growth_mb']:.1f} MB | {trigger['rss_growth_mb']:.1f} MB | "
                    f"{trigger['elapsed_s']:.0f} s | "
                    f"{worker['succeeded'] == n and trigger['succeeded'] == n} |")
    print("\n### (c) Peak RSS growth, records streamed from JSONL\n")
    print(f"Run latency {latency * 1000:.0f} ms, concurrency {concurrency}; "
          "growth = peak RSS minus RSS after imports.\n")
    print("| records | task process (in-worker) | batch time | worker before deferring | trigger's process "
          "| batch time | all succeeded |")
    print("|---:|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))
    print(f"- target: peak RSS growth under {RSS_TARGET_MB:.0f} MB: {'met' if worst < RSS_TARGET_MB else 'NOT met'} "
          f"(largest {worst:.1f} MB)")


# --- (b) mapped tasks on a real deployment -------------------------------------------------------------------

MAPPED_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_tela.operators.tela import TelaCompletionOperator

N, C = {n}, {concurrency}
with DAG("bench_mapped", schedule=None, start_date=datetime(2026, 1, 1), max_active_tasks=C, max_active_runs=1):
    TelaCompletionOperator.partial(
        task_id="enrich", canvas_id="canvas-echo", deferrable=False, poll_interval=1,
        max_active_tis_per_dag=C, durable=True,
    ).expand(variables=[{{"document": f"customer review {{i}}: the parcel arrived on time", "language": "en"}}
                        for i in range(N)])
'''

BATCH_DAG = '''
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_tela import TelaBatchOperator

with DAG("bench_batch", schedule=None, start_date=datetime(2026, 1, 1), max_active_runs=1):
    TelaBatchOperator(task_id="enrich", canvas_id="canvas-echo", records={records!r}, variables={{"language": "en"}},
                      output_path={output!r}, concurrency={concurrency}, deferrable={deferrable}, poll_interval=10)
'''


def dag_run_seconds(airflow: Any, dag_id: str, run_id: str) -> float:
    row = airflow.query("SELECT start_date, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)[0]
    from datetime import datetime as dt

    return (dt.fromisoformat(row["end_date"]) - dt.fromisoformat(row["start_date"])).total_seconds()


def mapped(emulator: Emulator, root: Path, n: int, mapped_n: int, latency: float, concurrency: int) -> None:
    sys.path.insert(0, str(REPO / "tests" / "e2e"))
    from airflow_processes import Airflow

    dags = root / "dags"
    dags.mkdir()
    records = write_records(root / "mapped.jsonl", n)
    (dags / "bench_mapped.py").write_text(MAPPED_DAG.format(n=mapped_n, concurrency=concurrency))
    (dags / "bench_batch.py").write_text(BATCH_DAG.format(records=str(records), output=str(root / "batch-out"),
                                                          concurrency=concurrency, deferrable=False))
    (dags / "bench_batch_deferred.py").write_text(
        BATCH_DAG.format(records=str(records), output=str(root / "batch-out-deferred"), concurrency=concurrency,
                         deferrable=True).replace('"bench_batch"', '"bench_batch_deferred"'))
    extra = {
        "AIRFLOW__CORE__PARALLELISM": str(concurrency),
        "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": str(concurrency),
        "AIRFLOW__CORE__MAX_MAP_LENGTH": str(max(mapped_n, 1024)),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }
    airflow = Airflow(root / "airflow", dags, {"tela_default": emulator.connection(timeout=30)}, "bench-batch",
                      extra_env=extra)
    results = {}
    try:
        airflow.start()
        airflow.wait_for_dags("bench_mapped", "bench_batch", "bench_batch_deferred", timeout=300)
        for dag_id in ("bench_batch", "bench_batch_deferred", "bench_mapped"):
            emulator.reset(latency)
            run_id = airflow.trigger(dag_id)
            state = airflow.wait_for_run(dag_id, run_id, timeout=6 * 3600)
            runs_created = emulator.admin("GET", "stats")["runs_created"]
            results[dag_id] = (state, dag_run_seconds(airflow, dag_id, run_id), runs_created)
    finally:
        airflow.stop()
    bound = n * latency / concurrency
    print("\n### (b) Mapped tasks against one batch task, real scheduler (LocalExecutor)\n")
    print(f"Concurrency {concurrency} (parallelism, max_active_tis_per_dag), run latency {latency * 1000:.0f} ms.\n")
    print("| DAG | records | state | DAG run duration | runs created |")
    print("|---|---:|---|---:|---:|")
    for dag_id, label, count in (("bench_mapped", "mapped TelaCompletionOperator (in-worker waits)", mapped_n),
                                 ("bench_batch", "TelaBatchOperator (in-worker)", n),
                                 ("bench_batch_deferred", "TelaBatchOperator (deferred)", n)):
        state, seconds, created = results[dag_id]
        print(f"| {label} | {count:,} | {state} | {seconds:.1f} s | {created:,} |")
    mapped_s = results["bench_mapped"][1]
    if mapped_n != n:
        mapped_s = mapped_s * n / mapped_n
        print(f"\nThe mapped DAG ran {mapped_n:,} records; for {n:,}, linearly extrapolated: {mapped_s:.0f} s "
              "(an estimate: the scheduler's cost per task instance grows with the number of mapped instances).")
    for dag_id in ("bench_batch", "bench_batch_deferred"):
        speedup = mapped_s / results[dag_id][1]
        print(f"- target {dag_id}: at least {SPEEDUP_TARGET:.0f}x faster than mapped: "
              f"{'met' if speedup >= SPEEDUP_TARGET else 'NOT met'} ({speedup:.1f}x; bound {bound:.0f} s)")


# --- main -------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["speed", "mapped", "scale"], action="append")
    parser.add_argument("--records", default=2000, type=int)
    parser.add_argument("--latency", default=0.3, type=float)
    parser.add_argument("--concurrency", default=50, type=int)
    parser.add_argument("--mapped-records", default=2000, type=int)
    parser.add_argument("--scale", default="25000,50000,100000")
    parser.add_argument("--scale-concurrency", default=100, type=int)
    parser.add_argument("--child", choices=["worker", "plan", "trigger"])
    parser.add_argument("--connection")
    parser.add_argument("--workdir")
    parser.add_argument("--records-file")
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    parts = args.only or ["speed", "scale", "mapped"]
    with tempfile.TemporaryDirectory(prefix="tela-batch-bench-") as tmp:
        root = Path(tmp)
        emulator = Emulator(root, args.latency)
        try:
            print(f"# benchmarks/batch.py on {os.cpu_count()} cores, Python {sys.version.split()[0]}")
            if "speed" in parts:
                speed(emulator, root, args.records, args.latency, args.concurrency)
            if "scale" in parts:
                scale(emulator, root, [int(n) for n in args.scale.split(",")], args.scale_concurrency)
            if "mapped" in parts:
                mapped(emulator, root, args.records, args.mapped_records, args.latency, args.concurrency)
        finally:
            emulator.stop()


if __name__ == "__main__":
    main()
