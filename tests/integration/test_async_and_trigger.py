"""TelaAsyncHook and TelaRunTrigger against the emulator, in a real event loop."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from airflow_provider_tela._http.async_transport import _pools, close_shared_sessions
from airflow_provider_tela.errors import TelaNotFoundError, TelaRunMayExistError
from airflow_provider_tela.hooks.tela import TelaAsyncHook, build_request
from airflow_provider_tela.triggers.tela import MAX_INLINE_CONTENT_BYTES, TelaRunTrigger


async def collect(trigger: TelaRunTrigger) -> list[dict]:
    return [event.payload async for event in trigger.run()]


async def events_of(trigger: TelaRunTrigger) -> list[dict]:
    try:
        return await collect(trigger)
    finally:
        await close_shared_sessions()


def submit(hook, canvas_id="canvas-echo", **variables):
    return hook.submit_run(canvas_id=canvas_id, variables=variables or {"document": "d"})


def test_trigger_serializes_only_json_safe_secret_free_kwargs(tela_env):
    trigger = TelaRunTrigger(run_id="r1", tela_conn_id="tela_default", poll_interval=3, end_time=123.0)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_tela.triggers.tela.TelaRunTrigger"
    assert kwargs == {"run_id": "r1", "tela_conn_id": "tela_default", "poll_interval": 3.0, "end_time": 123.0, "first_poll_in": 0.0}
    assert tela_env.api_key not in json.dumps(kwargs)
    # a triggerer that did not create it rebuilds it from the path and kwargs alone
    module, _, name = path.rpartition(".")
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert rebuilt.serialize() == (path, kwargs)


async def test_trigger_yields_one_success_event(hook, tela_env):
    run = submit(hook)
    events = await events_of(TelaRunTrigger(run.id, poll_interval=0.2, end_time=time.time() + 10))
    assert len(events) == 1
    event = events[0]
    assert event["status"] == "success" and event["run_id"] == run.id and event["content_inline"] is True
    assert event["content"]["variables"] == {"document": "d"}
    assert set(event["usage"]) == {"duration", "cost", "input_tokens", "output_tokens"}


async def test_trigger_reports_failure_with_the_reason(hook):
    run = submit(hook, "canvas-fail")
    events = await events_of(TelaRunTrigger(run.id, poll_interval=0.2, end_time=time.time() + 10))
    assert events == [{"status": "failed", "run_id": run.id, "message": "The model refused the document (emulated failure)",
                       "usage": {}}]  # (what the failed run reported: the emulator's report nothing)


async def test_trigger_times_out_at_the_deadline(hook, tela_env):
    tela_env.configure(run_latency=60)
    run = submit(hook)
    events = await events_of(TelaRunTrigger(run.id, poll_interval=0.2, end_time=time.time() + 0.6))
    assert len(events) == 1 and events[0]["status"] == "timeout" and events[0]["run_id"] == run.id


async def test_trigger_rides_out_transient_errors(hook, tela_env):
    run = submit(hook)
    tela_env.add_fault(kind="503", method="GET", path="/v2/chat/completions", count=6)
    tela_env.add_fault(kind="drop_before", method="GET", path="/v2/chat/completions", count=2)
    events = await events_of(TelaRunTrigger(run.id, poll_interval=0.2, end_time=time.time() + 30))
    assert [e["status"] for e in events] == ["success"]
    assert tela_env.stats()["faults_injected"]["503"] == 6


async def test_trigger_fails_clearly_on_unknown_run(tela_env):
    events = await events_of(TelaRunTrigger("missing-run", poll_interval=0.2, end_time=time.time() + 5))
    assert events[0]["status"] == "error" and "404" in events[0]["message"]


async def test_big_output_stays_out_of_the_event(hook, tela_env):
    big = "x" * (MAX_INLINE_CONTENT_BYTES + 10)
    tela_env.add_canvas("canvas-big", content={"text": big})
    run = submit(hook, "canvas-big")
    events = await events_of(TelaRunTrigger(run.id, poll_interval=0.2, end_time=time.time() + 10))
    assert events[0]["status"] == "success" and events[0]["content_inline"] is False
    assert "content" not in events[0]


async def test_many_triggers_share_one_pool(hook, tela_env):
    runs = [submit(hook) for _ in range(30)]
    before = tela_env.stats()["connections_opened"]
    triggers = [TelaRunTrigger(run.id, poll_interval=0.1, end_time=time.time() + 20) for run in runs]
    results = await asyncio.gather(*(collect(t) for t in triggers))
    # the last trigger out closed the loop's pool: no loop ends with sockets open
    assert _pools[asyncio.get_running_loop()].session is None
    assert all(r[0]["status"] == "success" for r in results)
    stats = tela_env.stats()
    polls = stats["polls"]
    opened = stats["connections_opened"] - before
    assert polls >= 30 and opened <= 30, (polls, opened)


async def test_cancelled_trigger_stops_polling(hook, tela_env):
    tela_env.configure(run_latency=60)
    run = submit(hook)
    trigger = TelaRunTrigger(run.id, poll_interval=0.1, end_time=time.time() + 60)

    async def consume():
        return [e async for e in trigger.run()]

    task = asyncio.create_task(consume())
    deadline = time.monotonic() + 20  # a hang guard only: polls come every 0.1 s once it has started
    while tela_env.stats()["polls"] < 2:  # it is really polling when cancelled
        assert time.monotonic() < deadline, "the trigger never polled"
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # a GET already sent when the task was cancelled is counted before the snapshot
    polls = tela_env.stats()["polls"]
    await asyncio.sleep(1)  # ten poll intervals
    assert tela_env.stats()["polls"] == polls
    await close_shared_sessions()


async def test_async_hook_submit_and_errors(tela_env):
    hook = TelaAsyncHook()
    try:
        run = await hook.submit_request(build_request("canvas-echo", variables={"document": "a"}, **{"async": True}))
        assert (await hook.get_run(run.id)).id == run.id
        with pytest.raises(TelaNotFoundError):
            await hook.get_run("nope")
        tela_env.add_fault(kind="drop_after", method="POST", path="/v2/chat/completions", count=1)
        with pytest.raises(TelaRunMayExistError):
            await hook.submit_request(build_request("canvas-echo", variables={"document": "a"}, **{"async": True}))
        tela_env.add_fault(kind="429", method="GET", path="/v2/chat/completions", count=1, retry_after=0.3)
        started = time.monotonic()
        await hook.get_run(run.id)
        assert tela_env.stats()["faults_injected"]["429"] == 1
        assert time.monotonic() - started >= 0.3  # Retry-After was honoured, not skipped
    finally:
        await close_shared_sessions()
