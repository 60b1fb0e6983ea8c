"""The provider against a hostile server: slow, endless, cut, ambiguous, garbage, redirecting answers.

Both clients (the worker's TelaHook, the trigger's TelaAsyncHook) are attacked the same way; the
assertions count what the server saw (submissions, bytes sent before the client hung up) instead of
timing the client. ``within`` is only a hang guard, far above the deadlines under test: the old
code hung for minutes here.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from hostile import HostileServer, cut, drip, endless, head, respond, run_json, send

from airflow_provider_tela import TelaFile
from airflow_provider_tela.errors import (
    TelaBadResponseError,
    TelaClientError,
    TelaConnectionError,
    TelaError,
    TelaRunFailedError,
    TelaRunMayExistError,
    TelaTLSError,
)
from airflow_provider_tela.hooks.tela import TelaAsyncHook, TelaHook, build_request
from airflow_provider_tela.triggers.tela import TelaRunTrigger

KEY = "sk-hostile-test-key-0123456789"
HANG_GUARD = 60.0
# Added to a trigger's end_time, which is fixed before the trigger starts its loop, session and
# connection: on a loaded machine that setup alone can use up a deadline of a second or two, leaving
# no time for the poll the test is about.
SETUP_MARGIN = 3.0


def within(seconds: float, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a daemon thread; fail the test if it hangs (the pre-fix behaviour), else return or raise its result."""
    outcome: list[Any] = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            outcome.append((False, exc))

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if not outcome:
        pytest.fail(f"hung for more than {seconds} s")
    ok, value = outcome[0]
    if ok:
        return value
    raise value


def trigger_event(trigger: TelaRunTrigger) -> dict:
    async def first() -> dict:
        async for event in trigger.run():
            return event.payload
        raise AssertionError("no event")

    return asyncio.run(asyncio.wait_for(first(), HANG_GUARD))


def connect(monkeypatch, server: HostileServer, **extra: Any) -> TelaHook:
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", server.connection_json(KEY, **extra))
    return TelaHook()


def async_request():
    return build_request(canvas_id="c", variables={"document": "d"}, **{"async": True})


def chain_of(error: BaseException) -> list[BaseException]:
    seen, todo = [], [error]
    while todo:
        current = todo.pop()
        if current is None or current in seen:
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def assert_no_key_anywhere(error: BaseException) -> None:
    text = "".join(traceback.format_exception(error))
    for link in chain_of(error):
        text += str(link) + repr(link) + repr(link.args)
    assert KEY not in text


# --- waits: deadlines hold whatever the server does -------------------------------------------


async def throttle_for_a_year(request, writer):
    await respond(request, writer, 429, {"error": "slow down"}, {"Retry-After": "99999999"})


def test_a_trigger_with_seconds_left_answers_timeout_at_its_deadline(monkeypatch):
    with HostileServer(throttle_for_a_year) as server:
        connect(monkeypatch, server, max_retries=3)
        event = trigger_event(TelaRunTrigger("r1", poll_interval=1, end_time=time.time() + 2 + SETUP_MARGIN))
    assert event["status"] == "timeout"
    assert len(server.seen("GET")) == 1  # one check; Retry-After then runs into the deadline, not past it


def test_a_sync_wait_with_seconds_left_times_out_at_its_deadline(monkeypatch):
    with HostileServer(throttle_for_a_year) as server:
        hook = connect(monkeypatch, server, max_retries=3)
        with pytest.raises(TelaError, match="did not finish within 2 s"):
            within(HANG_GUARD, lambda: hook.wait_for_run("r1", poll_interval=1, timeout=2))
    assert len(server.seen("GET")) == 1


async def drip_a_run(request, writer):
    await drip(request, writer, json.dumps(run_json("r1", "succeeded", padding="." * 100)).encode(), every=0.2)


def test_a_dripping_server_cannot_hold_a_request_past_its_deadline(monkeypatch):
    with HostileServer(drip_a_run) as server:
        hook = connect(monkeypatch, server, timeout=1, connect_timeout=1, max_retries=0)
        with pytest.raises(TelaConnectionError, match="time allowed ran out"):
            within(HANG_GUARD, lambda: hook.get_run("r1"))
    (request,) = server.requests
    assert not request.completed  # the client hung up long before the last byte (one every 0.2 s)


def test_a_storage_endpoint_dripping_its_answer_cannot_hold_an_upload(monkeypatch, tmp_path):
    """An upload is bounded too: its size at the slowest accepted rate, plus connect and read timeouts."""
    async def storage(request, writer):
        if request.method == "POST":
            await respond(request, writer, 200, {"upload_url": server.url + "/put", "download_url": "https://x/dl"})
        else:
            await drip(request, writer, b"." * 200, every=0.2)  # a 40 s answer, each read well within 1 s

    document = tmp_path / "doc.txt"
    document.write_text("hello")
    with HostileServer(storage) as server:
        hook = connect(monkeypatch, server, timeout=1, connect_timeout=1, max_retries=0)
        with pytest.raises(TelaConnectionError, match="time allowed ran out"):
            within(HANG_GUARD, lambda: hook.upload_file(TelaFile(document)))
    assert [r.completed for r in server.seen("PUT")] == [False]


def test_the_trigger_cuts_a_dripping_server_at_its_deadline_too(monkeypatch):
    with HostileServer(drip_a_run) as server:
        connect(monkeypatch, server, timeout=30, max_retries=0)
        event = trigger_event(TelaRunTrigger("r1", poll_interval=1, end_time=time.time() + 2 + SETUP_MARGIN))
    assert event["status"] == "timeout"
    assert not server.requests[0].completed


async def drip_a_stream(request, writer):
    chunk = b'data: {"id": "r9", "choices": [{"delta": {"content": "x"}}]}\n\n'
    if not await send(request, writer, head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})):
        return
    for _ in range(200):
        await asyncio.sleep(0.1)
        if not await send(request, writer, f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"):
            return
    request.completed = True


def test_a_stream_is_bounded_by_the_timeout_and_names_its_run(monkeypatch):
    with HostileServer(drip_a_stream) as server:
        hook = connect(monkeypatch, server, timeout=5)
        with pytest.raises(TelaRunMayExistError) as info:
            within(HANG_GUARD, lambda: list(hook.stream_completion(canvas_id="c", variables={"d": "x"}, timeout=1.5)))
    assert info.value.run_id == "r9" and not server.requests[0].completed
    assert len(server.seen("POST")) == 1


# --- never pay twice: every unusable answer to a POST is "may exist" ------------------------------


def submit_with_both_clients() -> list[BaseException]:
    """Submit once with the sync hook and once with the async hook (on the connection set in the
    environment); return what each raised."""
    raised: list[BaseException] = []
    for submit in (lambda: TelaHook().submit_request(async_request()),
                   lambda: asyncio.run(TelaAsyncHook().submit_request(async_request()))):
        with pytest.raises(TelaError) as info:
            within(HANG_GUARD, submit)
        raised.append(info.value)
    return raised


def submit_both_ways(monkeypatch, server: HostileServer) -> list[BaseException]:
    connect(monkeypatch, server, max_retries=3)
    return submit_with_both_clients()


async def cut_chunked(request, writer):
    await cut(request, writer, json.dumps(run_json("r1", "created")).encode(), chunked=True)


async def cut_sized(request, writer):
    await cut(request, writer, json.dumps(run_json("r1", "created")).encode())


async def bad_gateway_after_acting(request, writer):
    await respond(request, writer, 502, "<html>Bad Gateway</html>", {"Content-Type": "text/html"})


async def bad_gateway_500(request, writer):
    await respond(request, writer, 500, {"error": {"message": "internal"}})


async def gzip_lie(request, writer):
    await respond(request, writer, 200, b"this is not gzip", {"Content-Encoding": "gzip"})


async def not_utf8_json(request, writer):
    await respond(request, writer, 200, b'{"id": "\xff\xfe", "status": "created"}')


async def status_line_garbage(request, writer):
    await send(request, writer, b"HTTP/1.1 OK-ISH\r\n\r\n")
    writer.close()


async def two_content_lengths(request, writer):
    # requests raises InvalidHeader for this answer: after the request was sent, not while building it
    await send(request, writer, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n{}")
    await asyncio.sleep(0.2)
    writer.close()


@pytest.mark.parametrize("handler", [cut_chunked, cut_sized, bad_gateway_after_acting, bad_gateway_500, gzip_lie,
                                     not_utf8_json, status_line_garbage, two_content_lengths])
def test_a_post_without_a_usable_answer_is_may_exist_and_sent_once(monkeypatch, handler):
    with HostileServer(handler) as server:
        raised = submit_both_ways(monkeypatch, server)
    assert all(isinstance(error, TelaRunMayExistError) for error in raised), raised
    assert len(server.seen("POST")) == 2  # one per client: never retried


async def cut_first_get_only(request, writer):
    if len(request.headers) and sum(1 for _ in [request]) and getattr(cut_first_get_only, "done", False):
        await respond(request, writer, 200, run_json("r1", "succeeded", output_content={"content": {"text": "t"}}))
        return
    cut_first_get_only.done = True  # type: ignore[attr-defined]
    await cut(request, writer, json.dumps(run_json("r1", "succeeded")).encode(), chunked=True)


def test_a_get_cut_mid_body_is_retried(monkeypatch):
    cut_first_get_only.done = False  # type: ignore[attr-defined]
    with HostileServer(cut_first_get_only) as server:
        hook = connect(monkeypatch, server, max_retries=2)
        assert within(HANG_GUARD, lambda: hook.get_run("r1")).content == {"text": "t"}
    assert len(server.seen("GET")) == 2


async def wrong_shape_with_id(request, writer):
    await respond(request, writer, 200, {"id": "run-42", "status": 42, "input_content": "?"})


def test_a_post_answered_in_an_unexpected_shape_keeps_the_run_id(monkeypatch):
    with HostileServer(wrong_shape_with_id) as server:
        raised = submit_both_ways(monkeypatch, server)
    for error in raised:
        assert isinstance(error, TelaRunMayExistError) and error.run_id == "run-42"
        assert "run-42" in str(error)
    assert len(server.seen("POST")) == 2


@pytest.mark.parametrize("reply", [{"id": "run-7"}, {"id": "run-7", "status": None}, {"id": "run-7", "status": ""}])
def test_an_async_reply_with_only_an_id_is_a_created_run(monkeypatch, reply):
    async def id_only(request, writer):
        await respond(request, writer, 200, reply)

    with HostileServer(id_only) as server:
        hook = connect(monkeypatch, server)
        run = hook.submit_request(async_request())
    assert (run.id, run.status) == ("run-7", "created")


async def answers_twice(request, writer):
    # the right answer, then a stale one for another run, as if left over from an earlier request
    await respond(request, writer, 200, run_json("r1", "running"))
    await respond(request, writer, 200, run_json("other-run", "succeeded", output_content={"content": "wrong"}))


def test_a_server_answering_twice_never_gets_its_second_answer_read(monkeypatch):
    with HostileServer(answers_twice) as server:
        hook = connect(monkeypatch, server, max_retries=0)
        seen = []
        for _ in range(3):
            # A stale answer already waiting on the pooled connection closes it (urllib3's check when
            # it is taken). One that arrives in the microseconds between that check and the request is
            # read, and refused for naming another run: either way it is never this run's answer.
            try:
                seen.append(hook.get_run("r1").id)
            except TelaBadResponseError as refused:
                assert "describes run 'other-run'" in str(refused)
                seen.append("refused")
            time.sleep(0.05)  # as left over from an earlier request: it is there before the next one
        assert "other-run" not in seen and "r1" in seen
        event = trigger_event(TelaRunTrigger("r1", poll_interval=0.2, end_time=time.time() + 1.5 + SETUP_MARGIN))
    assert event["status"] == "timeout" and event["last_status"] == "running"


def test_an_answer_about_another_run_is_ignored(monkeypatch):
    async def other(request, writer):
        await respond(request, writer, 200, run_json("other-run", "succeeded"))

    with HostileServer(other) as server:
        hook = connect(monkeypatch, server, max_retries=0)
        with pytest.raises(TelaBadResponseError, match="describes run 'other-run'"):
            hook.get_run("r1")


# --- secrets: no error chain carries the key -------------------------------------------------------


async def echo_authorization(request, writer):
    echoed = request.headers.get("authorization", "")
    await respond(request, writer, 200, {"id": {"header": echoed}, "status": [echoed], "echo": echoed})


def test_an_answer_echoing_the_authorization_header_never_puts_the_key_in_an_error(monkeypatch):
    with HostileServer(echo_authorization) as server:
        raised = submit_both_ways(monkeypatch, server)
        hook = connect(monkeypatch, server, max_retries=0)
        with pytest.raises(TelaError) as get_info:
            hook.get_run("r1")
        raised.append(get_info.value)
    for error in raised:
        assert_no_key_anywhere(error)


def key_free(value: Any) -> bool:
    return KEY not in json.dumps(value, default=repr)


def test_an_echoed_key_reaches_no_run_id_output_error_or_trigger_event(monkeypatch):
    """Every answer that echoes the key (in a run id, an output, a failure reason, a stream) is read
    with the key already replaced: it cannot travel on into XCom, the durable record or an event."""
    def auth(request) -> str:
        return request.headers.get("authorization", "")

    async def echoes(request, writer):
        if request.method == "POST" and b'"stream"' in request.body:
            frame = json.dumps({"id": "s1", "choices": [{"delta": {"content": auth(request)}, "finish_reason": "stop"}]})
            await respond(request, writer, 200, f"data: {frame}\n\ndata: [DONE]\n\n".encode(),
                          {"Content-Type": "text/event-stream"})
        elif request.method == "POST":
            await respond(request, writer, 200, {"id": auth(request), "status": 42})
        elif request.path.endswith("/other"):
            await respond(request, writer, 200, run_json(auth(request), "running"))
        elif request.path.endswith("/failed"):
            await respond(request, writer, 200, run_json("failed", "failed", error={"message": "bad " + auth(request)}))
        else:
            await respond(request, writer, 200, run_json("done", "succeeded", output_content={"content": auth(request)}))

    with HostileServer(echoes) as server:
        hook = connect(monkeypatch, server, max_retries=0)
        raised = submit_both_ways(monkeypatch, server)
        assert [type(e) for e in raised] == [TelaRunMayExistError] * 2 and [e.run_id for e in raised] == [None] * 2
        with pytest.raises(TelaBadResponseError) as other:
            hook.get_run("other")
        raised.append(other.value)
        with pytest.raises(TelaRunFailedError) as failed:
            hook.wait_for_run("failed", poll_interval=0.1, timeout=5)
        raised.append(failed.value)
        event = trigger_event(TelaRunTrigger("failed", poll_interval=0.1, end_time=time.time() + 5))
        done = hook.get_run("done")
        streamed = "".join(chunk.text for chunk in hook.stream_completion(canvas_id="c", variables={"d": "x"}))
    for error in raised:
        assert_no_key_anywhere(error)
    assert event["status"] == "failed" and key_free(event) and "***" in event["message"]
    assert done.content == "Bearer ***" and key_free(done.model_dump())
    assert streamed == "Bearer ***"


async def echo_authorization_as_error(request, writer):
    await respond(request, writer, 400, {"error": {"message": f"bad header {request.headers.get('authorization')}"}})


def test_an_error_body_echoing_the_key_is_scrubbed(monkeypatch):
    with HostileServer(echo_authorization_as_error) as server:
        hook = connect(monkeypatch, server, max_retries=0)
        with pytest.raises(TelaClientError) as info:
            hook.get_run("r1")
    assert "***" in str(info.value)
    assert_no_key_anywhere(info.value)


# --- transport: size caps, deep JSON, redirects, cookies, TLS ---------------------------------------


async def endless_body(request, writer):
    await endless(request, writer)


def test_an_endless_body_is_cut_at_the_cap_in_both_clients(monkeypatch):
    with HostileServer(endless_body) as server:
        hook = connect(monkeypatch, server, max_response_bytes=1_000_000, max_retries=0)
        with pytest.raises(TelaBadResponseError, match="max_response_bytes"):
            within(HANG_GUARD, lambda: hook.get_run("r1"))
        event = trigger_event(TelaRunTrigger("r1", poll_interval=1, end_time=time.time() + 30))
    assert event["status"] == "error" and event["error_type"] == "TelaBadResponseError"
    assert all(not r.completed and r.bytes_sent < 50_000_000 for r in server.requests)


async def endless_stream_line(request, writer):
    # an SSE stream whose first line never ends: no newline, ever (up to 400 MB)
    if not await send(request, writer, head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})):
        return
    piece = b"x" * 65536
    for first in (b"data: ", *[piece] * 6000):
        if not await send(request, writer, f"{len(first):x}\r\n".encode() + first + b"\r\n"):
            return


async def one_huge_chunk(request, writer):
    # one chunk declared 400 MB long: a reader of whole chunks buffers it before counting it
    if not await send(request, writer, head(200, {"Content-Type": "text/event-stream", "Transfer-Encoding": "chunked"})):
        return
    if not await send(request, writer, f"{400 * 2**20:x}\r\ndata: ".encode()):
        return
    for _ in range(6000):
        if not await send(request, writer, b"x" * 65536):
            return


async def endless_line_until_close(request, writer):
    # no length, no chunks: the body runs until the connection closes
    if not await send(request, writer, b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\ndata: "):
        return
    for _ in range(6000):
        if not await send(request, writer, b"x" * 65536):
            return


@pytest.mark.parametrize("handler", [endless_stream_line, one_huge_chunk, endless_line_until_close])
def test_a_stream_line_that_never_ends_is_cut_at_the_cap(monkeypatch, handler):
    """The cap counts raw bytes as they arrive: a line (or a chunk) read whole before it was counted
    grew the worker's memory without bound."""
    with HostileServer(handler) as server:
        hook = connect(monkeypatch, server, max_response_bytes=1_000_000, max_retries=0)
        with pytest.raises(TelaRunMayExistError, match="max_response_bytes"):
            within(HANG_GUARD, lambda: list(hook.stream_completion(canvas_id="c", variables={"d": "x"}, timeout=60)))
    (request,) = server.requests
    assert not request.completed and request.bytes_sent < 20_000_000


async def deep_json_503(request, writer):
    await respond(request, writer, 503, b"[" * 200_000)


def test_deeply_nested_json_in_an_error_answer_does_not_crash_the_trigger(monkeypatch):
    with HostileServer(deep_json_503) as server:
        connect(monkeypatch, server, max_retries=0)
        event = trigger_event(TelaRunTrigger("r1", poll_interval=0.2, end_time=time.time() + 1.5 + SETUP_MARGIN))
    assert event["status"] == "timeout" and len(server.requests) >= 2


async def deep_json_200(request, writer):
    await respond(request, writer, 200, b'{"id": "r1", "status": "running", "x": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")


def test_deeply_nested_json_in_an_answer_is_a_bad_response(monkeypatch):
    with HostileServer(deep_json_200) as server:
        hook = connect(monkeypatch, server, max_retries=0)
        with pytest.raises(TelaBadResponseError):
            hook.get_run("r1")
        with pytest.raises(TelaRunMayExistError):
            hook.submit_request(async_request())
    assert len(server.seen("POST")) == 1


def test_a_redirect_is_not_followed_and_the_key_does_not_travel(monkeypatch):
    async def elsewhere(request, writer):
        await respond(request, writer, 200, run_json("r1"))

    with HostileServer(elsewhere) as other:
        async def redirect(request, writer):
            await respond(request, writer, 302, b"", {"Location": f"{other.url}/v2/chat/completions/r1"})

        with HostileServer(redirect) as server:
            hook = connect(monkeypatch, server)
            with pytest.raises(TelaClientError, match="redirect") as info:
                hook.get_run("r1")
            event = trigger_event(TelaRunTrigger("r1", poll_interval=1, end_time=time.time() + 10))
    assert event["status"] == "error" and event["error_type"] == "TelaClientError"
    assert other.requests == [] and "127.0.0.1" in str(info.value)


def test_no_cookie_travels_between_tela_connections(monkeypatch):
    async def sets_cookie(request, writer):
        await respond(request, writer, 200, run_json("r1"), {"Set-Cookie": "session=workspace-a; Path=/"})

    async def checks(request, writer):
        await respond(request, writer, 200, run_json("r1"))

    with HostileServer(sets_cookie) as a, HostileServer(checks) as b:
        conn_a = json.loads(a.connection_json(KEY))
        conn_b = json.loads(b.connection_json("sk-workspace-b-key"))
        conn_a["host"] = conn_a["host"].replace("127.0.0.1", "localhost")
        conn_b["host"] = conn_b["host"].replace("127.0.0.1", "localhost")
        monkeypatch.setenv("AIRFLOW_CONN_TELA_A", json.dumps(conn_a))
        monkeypatch.setenv("AIRFLOW_CONN_TELA_B", json.dumps(conn_b))

        async def both() -> None:
            async with TelaAsyncHook("tela_a") as hook_a, TelaAsyncHook("tela_b") as hook_b:
                await hook_a.get_run("r1")
                await hook_b.get_run("r1")
                await hook_a.get_run("r1")

        asyncio.run(both())
        sync_a, sync_b = TelaHook("tela_a"), TelaHook("tela_b")
        sync_a.get_run("r1")
        sync_a.get_run("r1")
        sync_b.get_run("r1")
    assert [r.headers.get("cookie") for r in a.requests + b.requests] == [None] * 6


def test_a_tls_record_broken_after_the_post_is_may_exist_not_a_certificate_error(monkeypatch):
    """A corrupted TLS record (bad MAC, as a broken middlebox sends) after the request went out: the
    run may exist. Read as a certificate failure it was fatal, the intent withdrawn, and a clear paid again."""
    import os

    from airflow_provider_tela.testing.tls import create_tls_material

    async def corrupt_record(request, writer):
        os.write(writer.get_extra_info("socket").fileno(), b"\x17\x03\x03\x00\x20" + b"\x00" * 32)
        await asyncio.sleep(0.3)
        writer.close()

    material = create_tls_material()
    try:
        with HostileServer(corrupt_record, ssl_context=material.server_context()) as server:
            monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", server.connection_json(
                KEY, max_retries=3, ca_bundle=str(material.cert_path)))
            raised = submit_with_both_clients()
    finally:
        material.cleanup()
    assert [type(error) for error in raised] == [TelaRunMayExistError] * 2, raised
    assert len(server.seen("POST")) == 2  # one per client: never retried


def test_a_handshake_cut_before_the_request_left_is_not_sent_in_both_clients(monkeypatch):
    """A connection closed during the TLS handshake (no certificate error to name): nothing was sent,
    so a run-creating request is retried, never reported as a run that may exist."""
    import socket

    from airflow_provider_tela.testing.tls import create_tls_material

    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def close_at_once():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)
            conn.close()

    threading.Thread(target=close_at_once, daemon=True).start()
    material = create_tls_material()
    try:
        port = listener.getsockname()[1]
        monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps({
            "conn_type": "tela", "host": f"https://127.0.0.1:{port}", "password": KEY,
            "extra": {"max_retries": 2, "ca_bundle": str(material.cert_path)}}))
        raised = submit_with_both_clients()
    finally:
        listener.close()
        material.cleanup()
    assert [type(error) for error in raised] == [TelaConnectionError] * 2, raised
    assert all("not sent" in str(error) for error in raised)
    assert len(accepted) == 6  # each client tried three times: safe, since nothing had left


def test_a_tls_failure_ends_the_trigger_at_once(monkeypatch, tmp_path):
    from airflow_provider_tela.testing.tls import create_tls_material

    material = create_tls_material()
    try:
        async def fine(request, writer):
            await respond(request, writer, 200, run_json("r1"))

        with HostileServer(fine, ssl_context=material.server_context()) as server:
            connect(monkeypatch, server)  # no CA for the server's self-signed certificate
            event = trigger_event(TelaRunTrigger("r1", poll_interval=0.2, end_time=time.time() + 30))
            with pytest.raises(TelaTLSError, match="certificate verify failed"):
                TelaHook().get_run("r1")
    finally:
        material.cleanup()
    assert event["status"] == "error" and event["error_type"] == "TelaTLSError"
    assert "certificate" in event["message"]
