"""What the cheap poll path must still do: Tela's request id on every answer, the size cap on every body.

The async transport reads a body whose length is announced in one read, and the request id is read
per character only when it holds something to drop: these tests pin what those shortcuts keep, in
both clients, against a server that says exactly what each test needs.
"""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest
from hostile import HostileServer, respond, run_json

from airflow_provider_tela.errors import TelaBadResponseError, TelaClientError, TelaError
from airflow_provider_tela.hooks.tela import TelaAsyncHook, TelaHook

KEY = "sk-poll-path-test-key-0123456789"


def answering(status: int, body: Any, headers: dict[str, str] | None = None):
    async def handler(request, writer):
        await respond(request, writer, status, body, headers)

    return handler


def both_ways(monkeypatch, server: HostileServer, call, **extra: Any) -> list[Any]:
    """``call(hook)`` with the worker's hook, then awaited with the trigger's (inside ``async with``):
    what each returned, or the TelaError each raised."""
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", server.connection_json(KEY, **extra))
    results: list[Any] = []
    try:
        results.append(call(TelaHook()))
    except TelaError as exc:
        results.append(exc)

    async def in_trigger() -> Any:
        async with TelaAsyncHook() as hook:
            try:
                return await call(hook)
            except TelaError as exc:
                return exc

    results.append(asyncio.run(in_trigger()))
    return results


def test_a_status_check_carries_its_answers_request_id(monkeypatch):
    with HostileServer(answering(200, run_json("r1"), {"x-request-id": "req-0001"})) as server:
        runs = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"))
    assert [run.request_id for run in runs] == ["req-0001", "req-0001"]


def test_an_answer_without_a_request_id_has_none(monkeypatch):
    with HostileServer(answering(200, run_json("r1", "succeeded", output_content={"content": "x"}))) as server:
        runs = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"))
    assert [run.request_id for run in runs] == [None, None]
    assert [run.content for run in runs] == ["x", "x"]


def test_an_error_names_its_request_id(monkeypatch):
    answer = {"error": {"message": "no such run"}}
    with HostileServer(answering(404, answer, {"x-request-id": "req-0404"})) as server:
        errors = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"), max_retries=0)
    for error in errors:
        assert isinstance(error, TelaClientError) and error.request_id == "req-0404"
        assert "(Tela request id: req-0404)" in str(error)


def test_a_request_id_echoing_the_key_or_holding_a_tab_is_cleaned(monkeypatch):
    # (a tab is the one control character an HTTP header value may carry)
    header = f"req\t0002 Bearer {KEY}"
    with HostileServer(answering(200, run_json("r1"), {"x-request-id": header})) as server:
        runs = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"))
    assert [run.request_id for run in runs] == ["req0002 Bearer ***"] * 2


def test_a_long_request_id_is_cut_after_scrubbing(monkeypatch):
    # the key straddles the 100th character: scrubbed first, so no part of it is left
    header = "r" * 90 + KEY
    with HostileServer(answering(200, run_json("r1"), {"x-request-id": header})) as server:
        runs = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"))
    assert [run.request_id for run in runs] == ["r" * 90 + "***"] * 2


def test_a_small_gzip_that_inflates_past_the_cap_is_refused_by_both_clients(monkeypatch):
    # 4 MB of spaces inside a valid run object, a few KB on the wire with a true Content-Length: the
    # cap counts what the body inflates to, not what its header announces
    inflated = b'{"id": "r1", "status": "running", "pad": "' + b" " * 4_000_000 + b'"}'
    body = gzip.compress(inflated)
    assert len(body) < 50_000
    with HostileServer(answering(200, body, {"Content-Encoding": "gzip"})) as server:
        errors = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"),
                           max_response_bytes=1_000_000, max_retries=0)
    for error in errors:
        assert isinstance(error, TelaBadResponseError) and "max_response_bytes" in str(error)


def test_a_gzip_answer_under_the_cap_is_read(monkeypatch):
    body = gzip.compress(b'{"id": "r1", "status": "running"}')
    with HostileServer(answering(200, body, {"Content-Encoding": "gzip", "x-request-id": "req-gz"})) as server:
        runs = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"))
    assert [(run.status, run.request_id) for run in runs] == [("running", "req-gz")] * 2


@pytest.mark.parametrize("announced", ["exact", "over the cap"])
def test_an_announced_length_is_read_whole_or_refused_before_reading(monkeypatch, announced):
    pad = 2_000 if announced == "exact" else 2_000_000
    body = b'{"id": "r1", "status": "running", "pad": "' + b"x" * pad + b'"}'
    with HostileServer(answering(200, body)) as server:
        results = both_ways(monkeypatch, server, lambda hook: hook.get_run("r1"),
                            max_response_bytes=1_000_000, max_retries=0)
    if announced == "exact":
        assert [run.status for run in results] == ["running", "running"]
    else:
        for error in results:
            assert isinstance(error, TelaBadResponseError) and "Content-Length" in str(error)
