"""Waiting runs in one event loop: TelaRunTrigger beside Airflow's HttpSensorTrigger and a bare client.

Usage::

    .venv/bin/python benchmarks/triggers.py [--runs 200] [--interval 1] [--seconds 8] [--rounds 3]
                                            [--big-runs 5000] [--big-interval 10] [--big-seconds 20]
    .venv/bin/python benchmarks/triggers.py --profile tela   # where one client's CPU goes (cProfile)

What is compared, polling the emulator over HTTPS, same interval, same TLS, one GET per poll:

- ``TelaRunTrigger``: the provider's trigger, one shared aiohttp session per event loop.
- ``HttpSensorTrigger`` (apache-airflow-providers-http): a new aiohttp session, hence a new TCP and
  TLS connection, for every poll.
- the floor: one shared ``aiohttp.ClientSession``, a GET and a JSON parse per poll, nothing else.

How it is measured, and why that way:

- The emulator runs in its own process, so its CPU is not charged to the client; it counts the polls
  and the TCP connections it accepted (``/_emulator/stats``).
- Each client runs in its own fresh worker process, so that one client's garbage, warm allocator
  arenas or open sockets do not flatter or penalise the next one's CPU and memory figures. Every
  worker imports the same modules, so all pay the same for the garbage collector's full passes.
- The comparison runs in interleaved rounds and reports medians: on a shared machine a burst of
  someone else's work then lands on one round of one client, not on a whole column.
- Runs are submitted with a run latency of an hour, so no waiter finishes during the window and the
  window measures steady waiting. Waiters start spread evenly over one interval, as triggers of a
  real triggerer do (they were deferred at different moments), not all in the same millisecond:
  each poll is then its own event-loop wake-up. ``--start together`` shows the bursty alternative,
  where polls share wake-ups and every client's CPU per poll is lower.
- CPU per poll = the worker's ``time.process_time()`` over the window, minus the idle loop's cost
  (the lag monitor alone, measured before the waiters start), / polls the emulator counted in the
  same window. The window starts after a warm-up that covers the waiters' start and
  TelaRunTrigger's first, shorter waits (1, 2, 4, ... s up to the interval).
- Event-loop lag: a task in the same loop sleeps 10 ms again and again; lag = how late it woke up.
  Beside it, the part of that lateness the loop's own CPU work can explain (the rest is the kernel
  running other processes), since on a shared machine the wall-clock figure also measures the neighbours.
- Memory per waiting run: the worker's RSS at the end of the window minus its RSS just before the
  waiters were created (everything imported, run ids loaded), divided by the number of waiters.
  RSS, not tracemalloc: tracemalloc would slow every allocation and distort the CPU figures.

It prints markdown tables and one line per target; it never asserts and always exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import http.client
import json
import math
import os
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

API_KEY = "tela-emulator-key"
RUN_PATH = "/v2/chat/completions"
TELA_CONN_ID = "tela_default"
HTTP_CONN_ID = "tela_http"
# HttpSensorTrigger waits while the URL answers 404 (see ``_http_sensor_waiters``): it polls the same
# run endpoint, for a run id the emulator does not know.
MISSING_RUN_ID = "run-that-does-not-exist-yet"
LAG_TICK = 0.010
IDLE_SECONDS = 1.5
SETTLE_SECONDS = 2.0
EMULATOR_START_TIMEOUT = 60.0

CLIENT_LABELS = {
    "tela": "TelaRunTrigger",
    "http_sensor": "HttpSensorTrigger (http provider)",
    "floor": "bare aiohttp client (floor)",
}

# Targets from the issue.
CPU_VS_FLOOR_MAX = 1.2
CPU_VS_PEER_MAX = 0.2
CONNECTIONS_PER_1000_MAX = 40.0
BIG_LAG_P99_MAX_MS = 100.0


@dataclass(frozen=True)
class Scenario:
    client: str
    runs: int
    interval: float
    seconds: float
    # "staggered": waiters start spread over one interval, as deferred tasks arrive in a triggerer, so
    # every poll is its own loop wake-up. "together": all at once, so polls come in bursts that share
    # wake-ups and the connection pool - cheaper per poll, and the setting that flatters shared pools.
    start: str = "staggered"


@dataclass(frozen=True)
class WorkerSpec:
    scenario: Scenario
    base_url: str
    ca_bundle: str
    emulator_pid: int
    run_ids_file: str
    result_file: str
    profile_file: str | None = None


@dataclass(frozen=True)
class Result:
    client: str
    runs: int
    interval: float
    window_s: float
    polls: int
    polls_per_s: float
    cpu_ms_per_poll: float  # net of the idle loop
    gross_cpu_ms_per_poll: float
    sys_cpu_ms_per_poll: float  # kernel share of the gross figure: sockets, TLS records, epoll
    idle_cpu_ms_per_s: float
    gc_ms_per_poll: float
    gc_full_collections: int
    gc_longest_ms: float
    # Involuntary context switches: the kernel took the CPU away (other processes on the machine).
    preempted_per_s: float
    connections_per_1000_polls: float
    lag_p50_ms: float
    lag_p99_ms: float
    busy_lag_p99_ms: float  # the part of the delays the loop's own work can account for
    lag_max_ms: float
    kib_per_run: float
    emulator_cpu_pct: float
    still_waiting: int


def median_result(rounds: list[Result]) -> Result:
    """Field-wise median over rounds (polls summed): one noisy round cannot decide a verdict."""
    fields: dict[str, Any] = {}
    for name, value in asdict(rounds[0]).items():
        values = [getattr(r, name) for r in rounds]
        if name == "polls":
            fields[name] = sum(values)
        elif isinstance(value, (int, float)) and name not in ("runs", "interval"):
            fields[name] = statistics.median(values)
        else:
            fields[name] = value
    fields["still_waiting"] = min(r.still_waiting for r in rounds)
    return Result(**fields)


# ---------------------------------------------------------------------------------------------
# Talking to the emulator's admin API (sync, from the orchestrator or from a worker's thread)
# ---------------------------------------------------------------------------------------------


class EmulatorClient:
    """One keep-alive HTTPS connection to the emulator, so admin calls add no connection per call."""

    def __init__(self, base_url: str, ca_bundle: str) -> None:
        host, _, port = base_url.removeprefix("https://").partition(":")
        self._conn = http.client.HTTPSConnection(
            host, int(port), context=ssl.create_default_context(cafile=ca_bundle), timeout=60
        )

    def call(self, method: str, path: str, body: Any = None, *, auth: bool = False) -> Any:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {API_KEY}"
        payload = None if body is None else json.dumps(body).encode()
        self._conn.request(method, path, body=payload, headers=headers)
        response = self._conn.getresponse()
        data = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path} answered {response.status}: {data[:200]!r}")
        return json.loads(data) if data else None

    def stats(self) -> dict[str, Any]:
        return self.call("GET", "/_emulator/stats")

    def reset(self) -> None:
        self.call("POST", "/_emulator/reset")

    def submit_runs(self, count: int) -> list[str]:
        body = {"canvas_id": "canvas-echo", "variables": {"document": "x"}, "async": True}
        return [self.call("POST", RUN_PATH, body, auth=True)["id"] for _ in range(count)]

    def close(self) -> None:
        self._conn.close()


# ---------------------------------------------------------------------------------------------
# Worker: one client, N waiters, one event loop
# ---------------------------------------------------------------------------------------------

WaiterFactory = Callable[[str], Coroutine[Any, Any, None]]
Closer = Callable[[], Coroutine[Any, Any, None]]


class LagMonitor:
    """Sleeps LAG_TICK in a loop and records how late each wake-up came (what every trigger feels).

    It also bounds the part of each delay that the loop's own work caused: a wake-up cannot be
    late by more than the CPU the loop's thread used meanwhile, unless the kernel had taken the CPU
    away (other processes on a busy machine). ``busy_samples`` holds min(delay, CPU used).
    """

    def __init__(self) -> None:
        self.samples: list[float] = []
        self.busy_samples: list[float] = []

    def clear(self) -> None:
        self.samples.clear()
        self.busy_samples.clear()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started, cpu_started = loop.time(), time.thread_time()
            await asyncio.sleep(LAG_TICK)
            late = loop.time() - started - LAG_TICK
            self.samples.append(late)
            self.busy_samples.append(min(late, time.thread_time() - cpu_started))


async def _consume(events: AsyncIterator[Any]) -> None:
    """Drive a trigger the way the triggerer does; returning early means the waiter stopped waiting."""
    async for _ in events:
        return


def _tela_waiters(interval: float) -> tuple[WaiterFactory, Closer]:
    from airflow_provider_tela._http.async_transport import close_shared_sessions
    from airflow_provider_tela.triggers.tela import TelaRunTrigger

    end_time = time.time() + 3600

    def waiter(run_id: str) -> Coroutine[Any, Any, None]:
        trigger = TelaRunTrigger(run_id, tela_conn_id=TELA_CONN_ID, poll_interval=interval, end_time=end_time)
        return _consume(trigger.run())

    return waiter, close_shared_sessions


def _http_sensor_waiters(interval: float, ca_bundle: str) -> tuple[WaiterFactory, Closer]:
    from airflow.providers.http.triggers.http import HttpSensorTrigger

    # HttpSensorTrigger fires on the first answer that is not a 404 and polls again only after a 404
    # ("wait until the resource exists"). Pointed at a real, running run it would fire on the first
    # 200, so the fair equivalent of "still running" for it is the same endpoint, same interval, same
    # TLS and auth header, for a run id the emulator does not have: one GET per poll, which the
    # emulator counts as a poll like any other. Its per-poll "[Try 1 of 3] ... failed" warning goes
    # through Airflow's logging as it would in a triggerer (to the worker's log file here).
    # The CA bundle: the http connection's extras only take verify true/false for aiohttp, so the
    # context goes in extra_options, built once - as cheap per poll as aiohttp's cached default one.
    ssl_context = ssl.create_default_context(cafile=ca_bundle)
    headers = {"Authorization": f"Bearer {API_KEY}"}

    def waiter(run_id: str) -> Coroutine[Any, Any, None]:
        trigger = HttpSensorTrigger(
            endpoint=f"{RUN_PATH}/{MISSING_RUN_ID}", http_conn_id=HTTP_CONN_ID, method="GET",
            headers=headers, extra_options={"ssl": ssl_context}, poke_interval=interval,
        )
        return _consume(trigger.run())

    async def close() -> None:
        return None

    return waiter, close


def _floor_waiters(interval: float, base_url: str, ca_bundle: str) -> tuple[WaiterFactory, Closer]:
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    session: aiohttp.ClientSession | None = None

    def shared() -> aiohttp.ClientSession:
        # Created by the first waiter, inside the loop, like the trigger's shared session.
        nonlocal session
        if session is None:
            connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=ca_bundle))
            session = aiohttp.ClientSession(connector=connector, headers=headers)
        return session

    async def waiter(run_id: str) -> None:
        url = f"{base_url}{RUN_PATH}/{run_id}"
        while True:
            async with shared().get(url) as response:
                if response.status != 200:
                    return
                await response.json()
            await asyncio.sleep(interval)

    async def close() -> None:
        if session is not None:
            await session.close()

    return waiter, close


def _settle_seconds(scenario: Scenario) -> float:
    """How long after the last waiter started until all poll at the interval, plus a margin.

    TelaRunTrigger waits 1, 2, 4, ... s before reaching its interval; the others poll at the
    interval from the start.
    """
    ramp = 0.0
    if scenario.client == "tela":
        from airflow_provider_tela._wait import FIRST_POLL_DELAY

        delay = FIRST_POLL_DELAY
        while delay < scenario.interval:
            ramp += delay
            delay *= 2
    return ramp + SETTLE_SECONDS


async def _start_waiters(factory: WaiterFactory, run_ids: list[str], interval: float, start: str,
                         tasks: list[asyncio.Task[None]]) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    spread = interval if start == "staggered" else 0.0
    for index, run_id in enumerate(run_ids):
        delay = started + index * spread / len(run_ids) - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(factory(run_id)))


def _percentile(samples: list[float], fraction: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _import_every_client() -> None:
    """Give every worker the same heap: Airflow, both triggers and their hooks, whatever it measures.

    The cyclic garbage collector's full passes walk every live object, so a worker that had not
    imported Airflow would pay far less for them; a triggerer always has.
    """
    import aiohttp  # noqa: F401
    import tenacity  # noqa: F401  (the http hook imports it on its first request)
    from airflow.providers.http.hooks import http as http_hook  # noqa: F401
    from airflow.providers.http.triggers import http as http_triggers  # noqa: F401

    from airflow_provider_tela.hooks import tela as tela_hook  # noqa: F401  (the trigger imports it in run())
    from airflow_provider_tela.triggers import tela as tela_triggers  # noqa: F401


class GcClock:
    """Time spent in the cyclic garbage collector, through gc.callbacks: a suspect for lag spikes."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full_collections = 0
        self.longest = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        self.seconds += pause
        self.longest = max(self.longest, pause)
        self.full_collections += info["generation"] == 2


async def _run_worker(spec: WorkerSpec) -> Result:
    import psutil

    _import_every_client()
    scenario = spec.scenario
    if scenario.client == "tela":
        factory, close = _tela_waiters(scenario.interval)
    elif scenario.client == "http_sensor":
        factory, close = _http_sensor_waiters(scenario.interval, spec.ca_bundle)
    else:
        factory, close = _floor_waiters(scenario.interval, spec.base_url, spec.ca_bundle)
    run_ids: list[str] = json.loads(Path(spec.run_ids_file).read_text())
    me, emulator = psutil.Process(), psutil.Process(spec.emulator_pid)
    admin = EmulatorClient(spec.base_url, spec.ca_bundle)
    admin.stats()  # opens the admin connection now, so it is not counted in the window

    gc.collect()
    rss_before = me.memory_info().rss
    monitor = LagMonitor()
    monitor_task = asyncio.create_task(monitor.run())
    # What the loop costs with no waiter at all (mostly the lag monitor's 100 wake-ups a second):
    # subtracted from the window's CPU, so that CPU per poll is what the polls themselves cost.
    idle_cpu_before = time.process_time()
    await asyncio.sleep(IDLE_SECONDS)
    idle_cpu_per_s = (time.process_time() - idle_cpu_before) / IDLE_SECONDS

    tasks: list[asyncio.Task[None]] = []
    starter = asyncio.create_task(_start_waiters(factory, run_ids, scenario.interval, scenario.start, tasks))
    # Waiting for the starter, not for one interval: a busy loop may start the waiters late.
    await starter
    await asyncio.sleep(_settle_seconds(scenario))

    # The admin call runs in a thread so the loop keeps serving the waiters meanwhile.
    stats_before = await asyncio.to_thread(admin.stats)
    gc_clock = GcClock()
    gc.callbacks.append(gc_clock)
    profiler = cProfile.Profile() if spec.profile_file else None
    emulator_cpu_before = sum(emulator.cpu_times()[:2])
    preempted_before = me.num_ctx_switches().involuntary
    cpu_before, wall_before, sys_before = time.process_time(), time.monotonic(), os.times().system
    monitor.clear()
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(scenario.seconds)
    if profiler is not None:
        profiler.disable()
    cpu_after, wall_after, sys_after = time.process_time(), time.monotonic(), os.times().system
    emulator_cpu_after = sum(emulator.cpu_times()[:2])
    preempted_after = me.num_ctx_switches().involuntary
    gc.callbacks.remove(gc_clock)
    lags, busy_lags = list(monitor.samples), list(monitor.busy_samples)
    rss_after = me.memory_info().rss
    stats_after = await asyncio.to_thread(admin.stats)

    still_waiting = sum(not task.done() for task in tasks)
    for task in (starter, monitor_task, *tasks):
        task.cancel()
    await asyncio.gather(starter, monitor_task, *tasks, return_exceptions=True)
    await close()
    admin.close()
    if profiler is not None and spec.profile_file:
        profiler.dump_stats(spec.profile_file)

    window = wall_after - wall_before
    polls = stats_after["polls"] - stats_before["polls"]
    connections = stats_after["connections_opened"] - stats_before["connections_opened"]
    per_poll = 1000 / polls if polls else float("nan")
    return Result(
        client=scenario.client, runs=scenario.runs, interval=scenario.interval, window_s=window, polls=polls,
        polls_per_s=polls / window,
        cpu_ms_per_poll=(cpu_after - cpu_before - idle_cpu_per_s * window) * per_poll,
        gross_cpu_ms_per_poll=(cpu_after - cpu_before) * per_poll,
        sys_cpu_ms_per_poll=(sys_after - sys_before) * per_poll,
        idle_cpu_ms_per_s=idle_cpu_per_s * 1000,
        gc_ms_per_poll=gc_clock.seconds * per_poll,
        gc_full_collections=gc_clock.full_collections,
        gc_longest_ms=gc_clock.longest * 1000,
        preempted_per_s=(preempted_after - preempted_before) / window,
        connections_per_1000_polls=connections * per_poll,
        lag_p50_ms=_percentile(lags, 0.50) * 1000, lag_p99_ms=_percentile(lags, 0.99) * 1000,
        busy_lag_p99_ms=_percentile(busy_lags, 0.99) * 1000,
        lag_max_ms=max(lags, default=float("nan")) * 1000,
        kib_per_run=(rss_after - rss_before) / 1024 / scenario.runs,
        emulator_cpu_pct=(emulator_cpu_after - emulator_cpu_before) * 100 / window,
        still_waiting=still_waiting,
    )


def worker_main(spec_file: str) -> int:
    raw = json.loads(Path(spec_file).read_text())
    spec = WorkerSpec(**{**raw, "scenario": Scenario(**raw["scenario"])})
    # The triggerer runs triggers on the stdlib asyncio loop, so the benchmark does too.
    result = asyncio.run(_run_worker(spec))
    Path(spec.result_file).write_text(json.dumps(asdict(result)))
    return 0


# ---------------------------------------------------------------------------------------------
# Orchestrator: emulator process, one worker process per scenario, the report
# ---------------------------------------------------------------------------------------------


@dataclass
class Emulator:
    process: subprocess.Popen[bytes]
    base_url: str
    ca_bundle: str
    log: IO[bytes]


def start_emulator(workdir: Path) -> Emulator:
    ready = workdir / "emulator.ready"
    log = open(workdir / "emulator.log", "wb")  # noqa: SIM115 (held open for the emulator process's life)
    process = subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_tela.testing", "--port", "0", "--https",
         "--run-latency", "3600", "--ready-file", str(ready)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + EMULATOR_START_TIMEOUT
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the emulator did not start; see {workdir / 'emulator.log'}")
        time.sleep(0.1)
    base_url, ca_bundle = ready.read_text().split()
    return Emulator(process, base_url, ca_bundle, log)


def stop_emulator(emulator: Emulator) -> None:
    emulator.process.send_signal(signal.SIGTERM)
    try:
        emulator.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        emulator.process.kill()
        emulator.process.wait()
    emulator.log.close()


def worker_env(workdir: Path, emulator: Emulator) -> dict[str, str]:
    env = dict(os.environ)
    env["AIRFLOW_HOME"] = str(workdir / "airflow-home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    env["AIRFLOW_CONN_TELA_DEFAULT"] = json.dumps({
        "conn_type": "tela", "host": emulator.base_url, "password": API_KEY,
        "extra": {"ca_bundle": emulator.ca_bundle},
    })
    # The http provider's connection: same host; the Bearer header is passed by the trigger.
    env["AIRFLOW_CONN_TELA_HTTP"] = json.dumps({"conn_type": "http", "host": emulator.base_url})
    return env


def run_scenario(scenario: Scenario, emulator: Emulator, admin: EmulatorClient, workdir: Path,
                 profile_file: Path | None = None, tag: str = "0") -> Result | None:
    name = f"{tag}-{scenario.client}-{scenario.runs}"
    admin.reset()
    run_ids_file, spec_file, result_file = (workdir / f"{name}.{kind}.json" for kind in ("runs", "spec", "result"))
    run_ids_file.write_text(json.dumps(admin.submit_runs(scenario.runs)))
    spec = WorkerSpec(scenario, emulator.base_url, emulator.ca_bundle, emulator.process.pid,
                      str(run_ids_file), str(result_file), str(profile_file) if profile_file else None)
    spec_file.write_text(json.dumps(asdict(spec)))
    log_path = workdir / f"{name}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        # Worker logs (Airflow's, the http provider's per-poll warning) go to a file, as in a triggerer.
        code = subprocess.call([sys.executable, __file__, "--worker", str(spec_file)],
                               stdout=log, stderr=subprocess.STDOUT, env=worker_env(workdir, emulator))
    print(f"  {CLIENT_LABELS[scenario.client]}: {scenario.runs:,} waiting runs every {scenario.interval:g} s: "
          f"done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    if code != 0 or not result_file.exists():
        tail = log_path.read_text(errors="replace")[-2000:]
        print(f"  worker failed (exit {code}); end of {log_path}:\n{tail}", file=sys.stderr)
        return None
    return Result(**json.loads(result_file.read_text()))


def _fmt(value: float, digits: int = 2) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def print_table(results: list[Result]) -> None:
    print("| client | waiting runs | interval | polls/s | CPU ms / poll | TCP connections / 1,000 polls "
          "| event-loop lag p99 | memory / waiting run |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {CLIENT_LABELS[r.client]} | {r.runs:,} | {r.interval:g} s | {_fmt(r.polls_per_s, 0)} "
              f"| {_fmt(r.cpu_ms_per_poll, 3)} | {_fmt(r.connections_per_1000_polls, 1)} "
              f"| {_fmt(r.lag_p99_ms, 1)} ms | {_fmt(r.kib_per_run, 1)} KiB |")


def print_diagnostics(results: list[Result], by_scenario: dict[tuple[str, int], list[Result]]) -> None:
    """What explains the figures above: spread over rounds, the GC's share, the idle loop, the emulator."""
    print()
    print("Diagnostics (same runs; medians over rounds, CPU per round in order):")
    print()
    print("| client | waiting runs | polls measured | CPU ms / poll per round | CPU ms / poll incl. idle loop "
          "| of which kernel | of which GC | full GCs / longest | idle loop CPU | loop lag p50 / max "
          "| lag p99 the loop's own work explains | preempted / s | emulator CPU |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        per_round = ", ".join(f"{x.cpu_ms_per_poll:.3f}" for x in by_scenario[(r.client, r.runs)])
        print(f"| {CLIENT_LABELS[r.client]} | {r.runs:,} | {r.polls:,} | {per_round} "
              f"| {_fmt(r.gross_cpu_ms_per_poll, 3)} "
              f"| {_fmt(r.sys_cpu_ms_per_poll, 3)} ms | {_fmt(r.gc_ms_per_poll, 3)} ms "
              f"| {r.gc_full_collections:g} / {_fmt(r.gc_longest_ms, 0)} ms | {_fmt(r.idle_cpu_ms_per_s, 1)} ms/s "
              f"| {_fmt(r.lag_p50_ms, 1)} / {_fmt(r.lag_max_ms, 0)} ms | {_fmt(r.busy_lag_p99_ms, 1)} ms "
              f"| {_fmt(r.preempted_per_s, 0)} "
              f"| {_fmt(r.emulator_cpu_pct, 0)} % |")


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT MET"


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else float("nan")


def print_targets(results: list[Result], runs: int, big_runs: int,
                  by_scenario: dict[tuple[str, int], list[Result]] | None = None) -> None:
    def find(client: str, count: int) -> Result | None:
        return next((r for r in results if r.client == client and r.runs == count), None)

    tela, peer, floor = find("tela", runs), find("http_sensor", runs), find("floor", runs)
    print()
    print("Targets:")
    if tela and floor:
        ratio = _ratio(tela.cpu_ms_per_poll, floor.cpu_ms_per_poll)
        # Each round's own ratio too: a round's two clients ran within a minute of each other, so a busy
        # spell of the machine moves both, where the medians above may come from different rounds.
        # (Not when a worker failed: its round would pair with the next one's.)
        by = by_scenario or {}
        telas, floors = by.get(("tela", runs), []), by.get(("floor", runs), [])
        per_round = ([_ratio(t.cpu_ms_per_poll, f.cpu_ms_per_poll) for t, f in zip(telas, floors, strict=True)]
                     if len(telas) == len(floors) else [])
        rounds = f"; per round {', '.join(f'{r:.2f}x' for r in per_round)}" if per_round else ""
        print(f"- CPU per poll <= {CPU_VS_FLOOR_MAX}x the floor: {_verdict(ratio <= CPU_VS_FLOOR_MAX)} "
              f"({tela.cpu_ms_per_poll:.3f} ms vs {floor.cpu_ms_per_poll:.3f} ms = {ratio:.2f}x{rounds})")
    if tela and peer:
        ratio = _ratio(tela.cpu_ms_per_poll, peer.cpu_ms_per_poll)
        print(f"- CPU per poll <= {CPU_VS_PEER_MAX}x HttpSensorTrigger's: {_verdict(ratio <= CPU_VS_PEER_MAX)} "
              f"({tela.cpu_ms_per_poll:.3f} ms vs {peer.cpu_ms_per_poll:.3f} ms = {ratio:.2f}x)")
    if tela:
        rate = tela.connections_per_1000_polls
        print(f"- at most {CONNECTIONS_PER_1000_MAX:g} TCP connections per 1,000 polls: "
              f"{_verdict(rate <= CONNECTIONS_PER_1000_MAX)} ({rate:.1f} over {tela.polls:,} polls)")
    big = find("tela", big_runs)
    if big:
        ok = big.lag_p99_ms < BIG_LAG_P99_MAX_MS and big.still_waiting == big.runs
        print(f"- {big.runs:,} waiting runs in one event loop, loop lag p99 < {BIG_LAG_P99_MAX_MS:g} ms: "
              f"{_verdict(ok)} (p99 {big.lag_p99_ms:.1f} ms, of which the loop's own work explains at most "
              f"{big.busy_lag_p99_ms:.1f} ms; max {big.lag_max_ms:.0f} ms; {big.cpu_ms_per_poll:.3f} ms CPU per poll; "
              f"{big.still_waiting:,} of {big.runs:,} still waiting)")
    for r in results:
        if r.still_waiting != r.runs:
            print(f"- warning: {r.runs - r.still_waiting} {CLIENT_LABELS[r.client]} waiters stopped during the run;"
                  " see the worker log")


def print_method(args: argparse.Namespace, load_before: float, load_after: float) -> None:
    print()
    print("How this was measured:")
    print(f"- emulator over HTTPS in its own process (not counted), runs kept running (run latency 1 h); each "
          f"client in a fresh worker process on the stdlib asyncio loop; {os.cpu_count()} CPU cores, 1-minute "
          f"load average {load_before:.2f} before and {load_after:.2f} after (other work on the machine adds noise).")
    print(f"- {args.rounds} interleaved rounds of {_whole_intervals(args.seconds, args.interval):g} s per client, "
          f"medians shown; the scale check: one window of {_whole_intervals(args.big_seconds, args.big_interval):g} s. "
          "Windows are whole intervals and start after a warm-up (the waiters' start, TelaRunTrigger's shorter "
          "first waits, 2 s).")
    if args.start == "staggered":
        print("- Waiters start spread over one interval, as deferred tasks reach a triggerer at different moments, "
              "so each poll is its own event-loop wake-up; with --start together polls come in bursts that share "
              "wake-ups, and every client's CPU per poll drops (the fixed cost per wake-up is then shared).")
    else:
        print("- --start together: all waiters started at once, so polls come in bursts that share event-loop "
              "wake-ups: cheaper per poll than the staggered arrivals a triggerer sees.")
    print("- CPU per poll = the worker's process_time over the window, minus what the idle loop (the lag monitor "
          "alone, measured before any waiter started) costs in that time, / polls the emulator counted. Connections "
          "= TCP connections the emulator accepted / polls. Lag = lateness of a 10 ms sleep in the same loop. "
          "Memory = RSS growth from just before the waiters were created to the end of the window, / waiting runs.")
    print("- HttpSensorTrigger keeps polling only while it gets 404, so it polls the same run endpoint for a run id "
          "the emulator does not have (same interval, TLS, Bearer header; one GET per poll). It opens a new "
          "aiohttp session, hence a TCP and TLS connection, per poll, and logs one warning per 404 as it would "
          "in a triggerer. Its polls/s stay under runs / interval because connecting and closing lengthen each "
          "cycle; CPU is per poll actually made.")
    if args.big_runs:
        rate = args.big_runs / args.big_interval
        print(f"- {args.big_runs:,} runs at a {args.big_interval:g} s interval ({rate:,.0f} "
              f"polls/s): a realistic interval for that many waiting runs; at 1 s, {args.big_runs:,} polls/s would "
              f"exceed what {os.cpu_count()} cores serve (client + emulator). HttpSensorTrigger is left out there: "
              "a new TLS connection per poll at that rate needs more than one core for the client alone.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="waiting runs per client in the comparison")
    parser.add_argument("--interval", type=float, default=1.0, help="poll interval of the comparison, seconds")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="measurement window of each comparison round (rounded up to whole intervals)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the comparison (medians)")
    parser.add_argument("--big-runs", type=int, default=5000, help="waiting runs of the scale check (0: skip)")
    parser.add_argument("--big-interval", type=float, default=10.0, help="poll interval of the scale check")
    parser.add_argument("--big-seconds", type=float, default=20.0, help="measurement window of the scale check")
    parser.add_argument("--no-big-floor", action="store_true", help="skip the floor in the scale check")
    parser.add_argument("--start", choices=("staggered", "together"), default="staggered",
                        help="waiters start spread over one interval (as in a triggerer; default) or all at once, "
                             "which makes polls come in bursts that share loop wake-ups")
    parser.add_argument("--profile", choices=sorted(CLIENT_LABELS), metavar="CLIENT",
                        help="instead: run one client (tela, http_sensor, floor) with --runs/--interval/--seconds "
                             "under cProfile and print where its CPU goes")
    parser.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _whole_intervals(seconds: float, interval: float) -> float:
    """A window of whole intervals: each waiter then polls equally often in it whatever its phase, so
    phases bunched by a start-up hiccup or a GC pause cannot inflate or deflate the poll count."""
    return max(1, math.ceil(seconds / interval - 1e-9)) * interval


def comparison_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """``--rounds`` rounds of the three clients, the order rotated every round, then the scale check.

    The machine may be shared (other test suites, a noisy neighbour): interleaved rounds spread such
    disturbances over all clients instead of letting them land on one.
    """
    clients = ["tela", "http_sensor", "floor"]
    scenarios = []
    for round_number in range(args.rounds):
        order = clients[round_number % 3:] + clients[:round_number % 3]
        window = _whole_intervals(args.seconds, args.interval)
        scenarios += [Scenario(client, args.runs, args.interval, window, args.start) for client in order]
    if args.big_runs:
        big_clients = ("tela",) if args.no_big_floor else ("tela", "floor")
        window = _whole_intervals(args.big_seconds, args.big_interval)
        scenarios += [Scenario(c, args.big_runs, args.big_interval, window, args.start) for c in big_clients]
    return scenarios


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return worker_main(args.worker)
    if args.profile:
        return profile_main(args)

    scenarios = comparison_scenarios(args)
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="tela-bench-triggers-"))
    print(f"Running {len(scenarios)} scenarios (logs in {workdir}, kept if a worker fails) ...",
          file=sys.stderr, flush=True)
    emulator = start_emulator(workdir)
    by_scenario: dict[tuple[str, int], list[Result]] = {}
    try:
        admin = EmulatorClient(emulator.base_url, emulator.ca_bundle)
        for number, scenario in enumerate(scenarios):
            result = run_scenario(scenario, emulator, admin, workdir, tag=str(number))
            if result is not None:
                by_scenario.setdefault((scenario.client, scenario.runs), []).append(result)
        admin.close()
    finally:
        stop_emulator(emulator)

    if sum(map(len, by_scenario.values())) == len(scenarios):
        shutil.rmtree(workdir, ignore_errors=True)  # logs are kept only when a worker failed
    results = [median_result(rounds) for rounds in by_scenario.values()]
    print()
    print_table(results)
    print_targets(results, args.runs, args.big_runs, by_scenario)
    print_diagnostics(results, by_scenario)
    print_method(args, load_before, os.getloadavg()[0])
    return 0


def profile_main(args: argparse.Namespace) -> int:
    """One client under cProfile: where its CPU per poll goes (cProfile slows it, so only shares count)."""
    import pstats

    scenario = Scenario(args.profile, args.runs, args.interval, args.seconds, args.start)
    workdir = Path(tempfile.mkdtemp(prefix="tela-bench-profile-"))
    profile_file = workdir / f"{args.profile}.prof"
    emulator = start_emulator(workdir)
    try:
        admin = EmulatorClient(emulator.base_url, emulator.ca_bundle)
        result = run_scenario(scenario, emulator, admin, workdir, profile_file)
        admin.close()
    finally:
        stop_emulator(emulator)
    if result is None:
        return 0
    print(f"{CLIENT_LABELS[args.profile]}: {result.polls:,} polls in the window, "
          f"{result.gross_cpu_ms_per_poll:.3f} ms CPU per poll under the profiler; profile in {profile_file}")
    stats = pstats.Stats(str(profile_file))
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return 0


if __name__ == "__main__":
    sys.exit(main())
