"""The batch engine and TelaBatchTrigger against the emulator over 127.0.0.1, in a real event loop.

The emulator counts what it saw: every test asserts how many runs were created, so that "one run per
record" and "never paid twice" are facts, not hopes. No assertion is on time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_tela._batch import ledger as ledger_module
from airflow_provider_tela._batch.engine import BatchEngine
from airflow_provider_tela._batch.ledger import DONE, INTENT, SUBMITTED, Ledger
from airflow_provider_tela._batch.plan import BatchPlan
from airflow_provider_tela._batch.records import describe, scan
from airflow_provider_tela._batch.spec import BatchSpec
from airflow_provider_tela._http.async_transport import close_shared_sessions
from airflow_provider_tela._http.retry import RetryPolicy
from airflow_provider_tela.errors import TelaAuthenticationError, TelaBatchStateError
from airflow_provider_tela.hooks.tela import TelaAsyncHook
from airflow_provider_tela.testing import RunFailed
from airflow_provider_tela.triggers.batch import TelaBatchTrigger

LOG = logging.getLogger("test_batch")
COMPLETIONS = "/v2/chat/completions"


def documents(n: int, prefix: str = "doc") -> list[dict[str, str]]:
    return [{"document": f"{prefix} {i}"} for i in range(n)]


def make_plan(tmp_path: Path, records: list[dict[str, Any]], *, canvas: str = "canvas-echo", **settings: Any) -> BatchPlan:
    spec = BatchSpec(canvas_id=canvas)
    source_path = tmp_path / "in.jsonl"
    source_path.write_text("".join(json.dumps(record) + "\n" for record in records))
    source = describe(str(source_path))
    checked = scan(source, lambda record: spec.request_for(record.variables))
    plan = BatchPlan(spec=spec, records=source, output_uri=str(tmp_path / "out"),
                     state_uri=str(tmp_path / "out" / "_tela_batch" / "t"), total=checked.total,
                     records_digest=checked.digest, fingerprint="test",
                     **{"concurrency": 5, "poll_interval": 0.5, "timeout": 60.0, **settings})
    plan.save()
    return plan


async def run_engine(plan: BatchPlan, hook_class: type[TelaAsyncHook] = TelaAsyncHook, **kwargs: Any) -> dict[str, Any]:
    try:
        async with hook_class() as hook:
            return await BatchEngine(plan, hook, LOG, **kwargs).run()
    finally:
        await close_shared_sessions()


def rows_of(plan: BatchPlan) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(plan.results.uri).read_text().splitlines()]


def runs_by_document(emulator) -> Counter[str]:
    return Counter(run["raw_input"]["variables"]["document"] for run in emulator.runs())


async def bounded(condition: Any, within: float = 60.0) -> None:
    """Wait until ``condition()`` holds; a test whose awaited event never comes fails, not hangs."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "the awaited condition never came"
        await asyncio.sleep(0.01)


@pytest.fixture
def fast(tela_env):
    tela_env.configure(run_latency=0.05)
    return tela_env


async def test_rows_come_in_record_order_with_their_own_run_and_the_manifest_sums_them(fast, tmp_path):
    plan = make_plan(tmp_path, documents(40), concurrency=8)
    manifest = await run_engine(plan)
    rows = rows_of(plan)
    assert [row["index"] for row in rows] == list(range(40))
    runs = {run["id"]: run for run in fast.runs()}
    for row in rows:
        assert row["status"] == "succeeded" and row["error"] is None
        assert row["content"]["variables"] == {"document": f"doc {row['index']}"}
        assert runs[row["run_id"]]["raw_input"]["variables"] == {"document": f"doc {row['index']}"}
    assert manifest["total"] == manifest["succeeded"] == 40 and manifest["output_uri"] == plan.results.uri
    assert manifest["usage"]["output_tokens"] == sum(row["usage"]["output_tokens"] for row in rows)
    assert fast.stats()["runs_created"] == 40


async def test_under_30_percent_faults_every_record_succeeds_with_exactly_one_submission(fast, tmp_path):
    fast.configure(seed=11)
    # One sure fault of each kind asserted below first (which request draws what from a rate depends on
    # how the concurrent POSTs and GETs interleave), then the rates.
    sure = [("POST", COMPLETIONS, kind) for kind in ("429", "503")]
    sure += [("GET", COMPLETIONS + "/", kind) for kind in ("500", "502", "drop_before")]
    faults = [
        *({"kind": kind, "method": method, "path": path, "count": 1, "retry_after": 0} for method, path, kind in sure),
        {"kind": "429", "method": "POST", "path": COMPLETIONS, "rate": 0.15, "retry_after": 0},
        {"kind": "503", "method": "POST", "path": COMPLETIONS, "rate": 0.15},
        *({"kind": kind, "method": "GET", "path": COMPLETIONS + "/", "rate": rate}
          for kind, rate in (("429", 0.06), ("500", 0.05), ("502", 0.05), ("503", 0.04), ("drop_before", 0.04),
                             ("drop_after", 0.03), ("garbage", 0.02), ("malformed", 0.01))),
    ]
    fast.configure(faults=faults)
    plan = make_plan(tmp_path, documents(100), concurrency=10)
    # Short backoffs after refusals keep the test quick; what is asserted is what the server counted.
    manifest = await run_engine(plan, policy=RetryPolicy(backoff_base=0.05))
    stats = fast.stats()
    unsuccessful = [row for row in rows_of(plan) if row["status"] != "succeeded"]
    assert manifest["succeeded"] == 100 and manifest["failed"] == manifest["ambiguous"] == 0, (manifest, unsuccessful)
    assert stats["runs_created"] == stats["completions_posted"] == 100, stats
    assert runs_by_document(fast) == Counter({f"doc {i}": 1 for i in range(100)})
    assert all(row["content"]["variables"]["document"] == f"doc {row['index']}" for row in rows_of(plan))
    injected = stats["faults_injected"]
    assert {"429", "503", "500", "502", "drop_before"} <= set(injected), injected
    assert sum(injected.values()) >= 0.15 * stats["requests"], (injected, stats["requests"])  # about 0.26 expected


async def test_throttling_halves_the_window_and_honours_retry_after(fast, tmp_path):
    fast.add_fault("429", method="POST", path=COMPLETIONS, count=3, retry_after=0.2)
    plan = make_plan(tmp_path, documents(30), concurrency=8)
    async with TelaAsyncHook() as hook:
        engine = BatchEngine(plan, hook, LOG)
        manifest = await engine.run()
    await close_shared_sessions()
    assert manifest["succeeded"] == 30 and fast.stats()["runs_created"] == 30
    assert engine.limiter.window.decreases >= 1 and engine.limiter.window.paused_until > 0


async def test_failed_runs_become_failed_rows_and_the_batch_goes_on(fast, tmp_path):
    def content(run_input):
        if run_input.variables["document"].endswith("3"):
            raise RunFailed("the document is unreadable")
        return {"ok": run_input.variables["document"]}

    fast.add_canvas("canvas-picky", content=content)
    plan = make_plan(tmp_path, documents(20), canvas="canvas-picky")
    manifest = await run_engine(plan)
    failed = [row for row in rows_of(plan) if row["status"] == "failed"]
    assert [row["index"] for row in failed] == [3, 13]
    assert "failed: the document is unreadable" in failed[0]["error"] and failed[0]["run_id"]
    assert manifest["succeeded"] == 18 and manifest["failed"] == 2
    assert fast.stats()["runs_created"] == 20


async def test_a_record_tela_rejects_fails_alone(fast, tmp_path):
    fast.add_canvas("canvas-strict", variables=[{"name": "document", "required": True}])
    records = documents(6)
    records[2] = {"other": "no document"}
    plan = make_plan(tmp_path, records, canvas="canvas-strict")
    manifest = await run_engine(plan)
    rows = rows_of(plan)
    assert rows[2]["status"] == "failed" and "400" in rows[2]["error"] and rows[2]["run_id"] is None
    assert manifest["succeeded"] == 5 and fast.stats()["runs_created"] == 5


async def test_the_spend_guard_stops_submitting_and_skips_the_rest(fast, tmp_path):
    plan = make_plan(tmp_path, documents(60), concurrency=3, max_cost=0.0004)
    manifest = await run_engine(plan)
    created = fast.stats()["runs_created"]
    assert manifest["skipped"] == 60 - created > 0
    assert manifest["succeeded"] == created
    assert manifest["skipped_reason"].startswith("not submitted: max_cost=0.0004 reached")
    skipped = [row for row in rows_of(plan) if row["status"] == "skipped"]
    assert skipped and all(row["error"] == manifest["skipped_reason"] for row in skipped)
    # it stops at the guard: only the records in progress when it fired went on
    assert manifest["usage"]["cost"] >= 0.0004 and created <= 0.0004 / 7.6e-05 + 1 + plan.concurrency


@pytest.mark.parametrize("policy", ["fail", "resubmit"])
async def test_an_answer_lost_after_the_post_follows_on_ambiguous(fast, tmp_path, policy):
    fast.add_fault("drop_after", method="POST", path=COMPLETIONS, count=1)
    plan = make_plan(tmp_path, documents(12), concurrency=1, on_ambiguous=policy)
    manifest = await run_engine(plan)
    rows = rows_of(plan)
    created = fast.stats()["runs_created"]
    if policy == "resubmit":
        assert manifest["succeeded"] == 12 and created == 13  # the lost one now exists twice, as asked
        assert runs_by_document(fast)["doc 0"] == 2
    else:
        assert rows[0]["status"] == "ambiguous" and "may exist in Tela" in rows[0]["error"]
        assert manifest["ambiguous"] == 1
    if policy == "fail":  # the record fails as ambiguous, never sent again; the others go on
        assert manifest["succeeded"] == 11 and created == 12 and manifest["skipped"] == 0


async def test_a_refused_key_stops_the_batch_at_once(fast, tmp_path):
    fast.configure(api_key="another-key")
    plan = make_plan(tmp_path, documents(50), concurrency=4)
    with pytest.raises(TelaAuthenticationError):
        await run_engine(plan)
    assert fast.stats()["runs_created"] == 0
    assert fast.stats()["auth_failures"] <= 4


async def test_a_cancelled_trigger_resumes_from_the_same_kwargs_without_submitting_twice(fast, tmp_path):
    fast.configure(run_latency=0.3)
    plan = make_plan(tmp_path, documents(60), concurrency=6)
    trigger = TelaBatchTrigger(state_uri=plan.state_uri, tela_conn_id="tela_default")
    path, kwargs = trigger.serialize()
    assert kwargs == {"state_uri": plan.state_uri, "tela_conn_id": "tela_default"}

    first = asyncio.ensure_future(trigger.run().__anext__())
    await bounded(lambda: first.done() or fast.stats()["runs_created"] >= 20)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await close_shared_sessions()
    ledger = Ledger.open(plan.state_dir, 60)
    ledger.close()
    assert ledger.state.count(DONE) + ledger.state.count(SUBMITTED) >= 20
    assert ledger.state.count(INTENT) == 0  # the POSTs in flight were let finish and recorded

    module, _, name = path.rpartition(".")
    again = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    events = [event.payload async for event in again.run()]
    await close_shared_sessions()
    assert [event["status"] for event in events] == ["success"]
    manifest = events[0]["manifest"]
    assert manifest["succeeded"] == 60 and manifest["resumed"]["done"] + manifest["resumed"]["reattached"] >= 20
    assert fast.stats()["runs_created"] == 60
    assert runs_by_document(fast) == Counter({f"doc {i}": 1 for i in range(60)})


class HeldBeforeSending(TelaAsyncHook):
    """Its submissions wait before reaching the transport (as behind a slow look-up of the connection)."""

    held = 0

    async def submit_request(self, request: Any, **kwargs: Any) -> Any:
        HeldBeforeSending.held += 1
        await asyncio.Event().wait()  # until cancelled
        raise AssertionError("never released")


def cancel_every_other_task() -> None:
    """What ``asyncio.run`` does when the worker's loop is torn down (SystemExit, KeyboardInterrupt):
    every task is cancelled at once, the POSTs the engine shields included."""
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()


@pytest.mark.parametrize("stopped", ["the batch", "every task"])
async def test_a_submission_stopped_before_it_began_is_sent_by_the_next_try_not_left_ambiguous(
        fast, tmp_path, stopped):
    plan = make_plan(tmp_path, documents(10), concurrency=4)
    HeldBeforeSending.held = 0
    first = asyncio.ensure_future(run_engine(plan, HeldBeforeSending, stop_grace=0.2))
    await bounded(lambda: first.done() or HeldBeforeSending.held >= 4)  # four intents durable, no POST begun
    first.cancel() if stopped == "the batch" else cancel_every_other_task()
    with pytest.raises(asyncio.CancelledError):
        await first
    ledger = Ledger.open(plan.state_dir, 10)
    ledger.close()
    assert ledger.state.count(INTENT) == 0 and fast.stats()["completions_posted"] == 0

    manifest = await run_engine(plan)
    assert manifest["succeeded"] == 10 and manifest["ambiguous"] == 0
    assert runs_by_document(fast) == Counter({f"doc {i}": 1 for i in range(10)})


async def test_a_submission_stopped_after_it_began_stays_ambiguous_and_is_not_sent_again(fast, tmp_path):
    fast.add_fault("slow", method="POST", path=COMPLETIONS, count=3, delay=30.0)  # answered after the test
    plan = make_plan(tmp_path, documents(6), concurrency=3)
    first = asyncio.ensure_future(run_engine(plan, stop_grace=0))
    await bounded(lambda: first.done() or fast.stats()["faults_injected"].get("slow", 0) >= 3)  # none answered
    cancel_every_other_task()
    with pytest.raises(asyncio.CancelledError):
        await first

    manifest = await run_engine(plan)
    assert manifest["succeeded"] == 3 and manifest["ambiguous"] == 3
    assert max(runs_by_document(fast).values()) == 1  # each record paid at most once


class FrozenAfter:
    """Ledger writes after the n-th never happen: the process died right after that write."""

    def __init__(self, n: int) -> None:
        self.left = n
        self.dead = threading.Event()
        self.release = threading.Event()

    def __call__(self, original: Any) -> Any:
        def write(log: Any, data: bytes) -> None:
            if self.left <= 0:
                self.dead.set()
                self.release.wait(30)
                return  # never written
            self.left -= 1
            original(log, data)

        return write


@pytest.mark.parametrize("kill_after_writes", [3, 17, 30])
async def test_a_kill_at_any_write_leaves_at_most_concurrency_ambiguous_and_nothing_paid_twice(
        fast, tmp_path, kill_after_writes):
    fast.configure(run_latency=0.2)
    plan = make_plan(tmp_path, documents(50), concurrency=5)
    frozen = FrozenAfter(kill_after_writes)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger_module._AppendLog, "write", frozen(ledger_module._AppendLog.write))
        first = asyncio.ensure_future(run_engine(plan, stop_grace=0))
        await bounded(lambda: first.done() or frozen.dead.is_set())
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
    frozen.release.set()

    manifest = await run_engine(plan)
    assert manifest["succeeded"] + manifest["ambiguous"] == 50
    assert manifest["ambiguous"] <= plan.concurrency
    created = runs_by_document(fast)
    assert max(created.values()) == 1  # no record submitted twice
    rows = rows_of(plan)
    assert all(created[f"doc {row['index']}"] == 1 for row in rows if row["status"] == "succeeded")


async def test_the_key_is_nowhere_in_the_batch_files(fast, tmp_path):
    def content(run_input):
        if run_input.variables.get("document", "").endswith("1"):
            raise RunFailed(f"refused: {run_input.variables}")
        return {"ok": True}

    fast.add_canvas("canvas-picky", content=content, variables=[{"name": "document", "required": True}])
    records = [*documents(12), {"other": "no document: Tela answers 400"}]
    plan = make_plan(tmp_path, records, canvas="canvas-picky")
    manifest = await run_engine(plan)
    assert manifest["failed"] == 3 and manifest["succeeded"] == 10
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert len(files) >= 5  # records, plan, ledger, part, results
    assert all(fast.api_key.encode() not in path.read_bytes() for path in files)


async def test_a_retry_after_past_the_records_timeout_fails_them_without_waiting(fast, tmp_path):
    fast.add_fault("429", method="POST", path=COMPLETIONS, count=1, retry_after=3600)
    plan = make_plan(tmp_path, documents(3), concurrency=1, timeout=30.0)
    manifest = await run_engine(plan)
    rows = rows_of(plan)
    assert manifest["failed"] == 3 and fast.stats()["runs_created"] == 0
    assert "Retry-After" in rows[1]["error"] and "429" in rows[0]["error"]


# --- one engine per state folder (a triggerer that lost its heartbeat, a zombie worker) -------------


@pytest.mark.parametrize("storage", ["local", "object-storage"])
async def test_two_engines_on_one_state_folder_submit_each_record_once(fast, tmp_path, storage):
    """HA triggerers overlapping, or a zombie worker beside its retry: two engines, one ledger. The
    second waits for the first's lease, then resumes from the ledger the first left."""
    from airflow_provider_tela._batch.lease import ObjectLease

    fast.configure(run_latency=0.2)
    plan = make_plan(tmp_path, documents(30))
    if storage == "object-storage":
        from dataclasses import replace

        plan = replace(plan, state_uri=f"file://{tmp_path}/out/_tela_batch/t")
        plan.save()
        # (a waiting engine is let in when the lease is released, not when it expires: a long ttl costs
        # nothing, and a loaded machine's late renewal does not stop the first engine)
        engines = [BatchEngine(plan, None, LOG, lease=ObjectLease(plan.state_dir, ttl=30.0, settle=0.05),
                               lease_poll=0.1) for _ in range(2)]
        lease_file = tmp_path / "out" / "_tela_batch" / "t" / "lease.json"

        async def one(engine: BatchEngine) -> dict[str, Any]:
            async with TelaAsyncHook() as hook:
                engine.hook = hook
                return await engine.run()

        async def once_the_first_holds_it(engine: BatchEngine) -> dict[str, Any]:
            # Two engines starting in the same instant are the residual race the lease documents
            # (object storage has no atomic create); the overlap tested here is a second engine
            # arriving while the first holds the folder.
            await bounded(lambda: lease_file.exists() and engines[0].lease.owner in lease_file.read_text())
            return await one(engine)

        try:
            first, second = await asyncio.gather(one(engines[0]), once_the_first_holds_it(engines[1]))
        finally:
            await close_shared_sessions()
        manifests = [first, second]
        assert not (tmp_path / "out" / "_tela_batch" / "t" / "lease.json").exists()  # released at the end
    else:
        async def trigger() -> dict[str, Any]:
            events = [event.payload async for event in TelaBatchTrigger(plan.state_uri).run()]
            assert len(events) == 1
            return events[0]

        try:
            events = await asyncio.gather(trigger(), trigger())
        finally:
            await close_shared_sessions()
        assert [event["status"] for event in events] == ["success", "success"]
        manifests = [event["manifest"] for event in events]
    assert fast.stats()["runs_created"] == 30
    assert set(runs_by_document(fast).values()) == {1}
    assert all(manifest["succeeded"] == 30 for manifest in manifests)
    assert sorted(manifest.get("resumed", {}).get("done", 0) for manifest in manifests) == [0, 30]
    assert [row["index"] for row in rows_of(plan)] == list(range(30))


async def test_an_engine_whose_lease_was_taken_over_stops_submitting(fast, tmp_path):
    """Object storage: a zombie that could not renew in time finds a stranger's lease and stops; it
    never sends a record beside the engine that took over. The takeover is driven, not timed: on the
    zombie's 4th run the lease's clock jumps past its expiry and a stranger takes it."""
    from airflow_provider_tela._batch.lease import ObjectLease

    fast.configure(run_latency=0.3)
    plan = make_plan(tmp_path, documents(20), concurrency=2)
    now = [1_000.0]  # wall and monotonic time of both leases: only the takeover moves it

    def lease(ttl: float) -> ObjectLease:
        return ObjectLease(plan.state_dir, ttl=ttl, settle=0.0, clock=lambda: now[0], monotonic=lambda: now[0],
                           sleep=lambda seconds: None)

    zombie, stranger = lease(60.0), lease(3600.0)

    async def renew_never() -> None:
        return None

    posted = checked_after_takeover = 0
    taken_over = False
    check = zombie.check

    def checked() -> None:  # the check every submission passes just before its intent and POST
        nonlocal checked_after_takeover
        check()
        checked_after_takeover += taken_over

    zombie.check = checked  # type: ignore[method-assign]
    try:
        async with TelaAsyncHook() as hook:
            submit = hook.submit_request

            async def submit_request(request: Any, **kwargs: Any) -> Any:
                nonlocal posted, taken_over
                run = await submit(request, **kwargs)
                posted += 1
                if posted == 4:
                    now[0] += 61.0  # the zombie paused past its lease's expiry: the lease is free to take
                    assert await asyncio.to_thread(stranger.try_acquire) is None
                    taken_over = True
                return run

            hook.submit_request = submit_request
            engine = BatchEngine(plan, hook, LOG, lease=zombie)
            engine._heartbeat = renew_never  # the zombie: paused, its lease not renewed
            with pytest.raises(TelaBatchStateError, match=r"lease .* could not be renewed in time"):
                await engine.run()
    finally:
        await close_shared_sessions()
    created = fast.stats()["runs_created"]
    assert checked_after_takeover == 0  # no submission got past the lease's check once it was taken
    assert 4 <= created < 4 + plan.concurrency  # only a POST already past its lease check when it was taken
    state = Ledger.open(plan.state_dir, plan.total).state
    assert state.count(DONE) + state.count(SUBMITTED) + state.count(INTENT) >= created
    assert json.loads((tmp_path / "out" / "_tela_batch" / "t" / "lease.json").read_text())["owner"] == stranger.owner


async def test_a_paid_run_whose_cost_drifted_is_named_once_and_counted_at_the_highest_cost_read(
        fast, tmp_path, monkeypatch, caplog):
    """A documented field of another type is read as None (the model keeps it in ``unreadable``): a
    run whose ``information.cost`` drifted is paid all the same, so it counts at the highest cost read
    from the batch's runs (``batch.spend``), never at nothing. The log says so, once."""
    from airflow_provider_tela.testing import runs as emulator_runs

    cost = emulator_runs.Run.cost

    def drifted(run: Any) -> Any:  # every other run's cost comes as an object
        amount = cost.fget(run)
        if run.request.variables["document"].endswith(("1", "3", "5", "7", "9")):
            return {"amount": amount, "currency": "USD"}
        return amount

    monkeypatch.setattr(emulator_runs.Run, "cost", property(drifted))
    plan = make_plan(tmp_path, documents(10), concurrency=2, max_cost=1.0)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        manifest = await run_engine(plan)
    rows = rows_of(plan)
    unread = [row for row in rows if row["usage"]["cost"] is None]
    assert manifest["succeeded"] == 10 and [row["index"] for row in unread] == [1, 3, 5, 7, 9]
    read = [row["usage"]["cost"] for row in rows if row["usage"]["cost"] is not None]
    assert manifest["usage"]["costs_estimated"] == 5
    assert manifest["usage"]["cost"] == pytest.approx(sum(read) + 5 * max(read))
    said = [record.getMessage() for record in caplog.records if "cost could not be read" in record.getMessage()]
    assert len(said) == 1 and "its max_cost budget counts it at the highest cost read" in said[0]
    assert fast.stats()["runs_created"] == 10


def strict_json(data: bytes | str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(data, parse_constant=refuse)


@pytest.mark.parametrize("first", [None, float("nan"), float("inf"), -0.003], ids=["honest", "nan", "inf", "negative"])
async def test_one_odd_cost_over_the_wire_never_switches_the_spend_guard_off(fast, tmp_path, monkeypatch, first):
    """Issue 16's numbers: 40 records, max_cost=0.01, runs costing 0.003, one at a time. Honest: 4 paid,
    36 skipped. The first run's cost NaN (as Tela's body says it: Python's and pydantic's readers take
    it), Infinity or negative: it cannot be read and there is no readable cost to estimate it from, so
    the batch stops submitting: 1 paid, 39 skipped. The manifest and every file stay standard JSON."""
    from airflow_provider_tela.testing import runs as emulator_runs

    def cost(run: Any) -> float:
        odd = first is not None and run.request.variables["document"] == "doc 0"
        return first if odd else 0.003

    monkeypatch.setattr(emulator_runs.Run, "cost", property(cost))
    plan = make_plan(tmp_path, documents(40), concurrency=1, max_cost=0.01)
    manifest = await run_engine(plan)
    created = fast.stats()["runs_created"]
    json.dumps(manifest, allow_nan=False)
    if first is None:
        assert created == 4 and manifest["skipped"] == 36 and manifest["usage"]["cost"] == pytest.approx(0.012)
    else:
        assert created == 1 and manifest["skipped"] == 39 and manifest["usage"]["costs_estimated"] == 1
        assert "could not be read" in manifest["skipped_reason"]
        assert rows_of(plan)[0]["status"] == "succeeded" and rows_of(plan)[0]["usage"]["cost"] is None
    for path in (tmp_path / "out").rglob("*.jsonl"):
        for line in path.read_bytes().splitlines():
            strict_json(line.rsplit(b"\t", 1)[-1])


async def test_a_paid_answer_holding_half_an_emoji_is_read_and_written(fast, tmp_path):
    """``"\\ud83d"`` is valid JSON (JavaScript's JSON.stringify writes it for half an emoji) that pydantic's
    reader refuses: the run is paid, so it is read (Python's reader) and its row written as valid JSON."""
    fast.add_canvas("canvas-half", content=lambda run_input: {"text": run_input.variables["document"] + " \ud83d"})
    plan = make_plan(tmp_path, documents(5), canvas="canvas-half")
    manifest = await run_engine(plan)
    assert manifest["succeeded"] == 5 and fast.stats()["runs_created"] == 5
    raw = Path(plan.results.uri).read_bytes()
    raw.decode("utf-8")
    assert [row["content"]["text"] for row in rows_of(plan)] == [f"doc {i} \ud83d" for i in range(5)]
