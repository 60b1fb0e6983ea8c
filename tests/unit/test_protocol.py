"""The shared protocol pieces: settings, retry decisions, error mapping, SSE decoding."""

from __future__ import annotations

import pytest

from airflow_provider_tela._http import calls
from airflow_provider_tela._http.responses import decode_model, parse_retry_after
from airflow_provider_tela._http.retry import Failure, RetryPolicy
from airflow_provider_tela._http.settings import ClientSettings, normalize_base_url
from airflow_provider_tela._http.sse import SSEDecoder
from airflow_provider_tela.errors import (
    TelaAuthenticationError,
    TelaBadResponseError,
    TelaConfigError,
    TelaConnectionError,
    TelaRateLimitError,
    TelaRunMayExistError,
    TelaServerError,
)
from airflow_provider_tela.models import CanvasRun, CompletionRequest

KEY = "sk-secret-key-123"
GET = calls.get_run("r1")
POST = calls.completion(CompletionRequest.build(canvas_id="c", **{"async": True}))


@pytest.mark.parametrize(
    "host, expected",
    [
        (None, "https://api.tela.com"),
        ("", "https://api.tela.com"),
        ("api.tela.com", "https://api.tela.com"),
        ("https://api.tela.com/", "https://api.tela.com"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_base_url_from_host_field(host, expected):
    assert normalize_base_url(host) == expected


def test_settings_refuse_plain_http_to_remote_hosts_and_hide_the_key():
    with pytest.raises(TelaConfigError, match="allow_insecure_http"):
        ClientSettings(base_url="http://tela.example.com", api_key=KEY)
    ClientSettings(base_url="http://tela.example.com", api_key=KEY, allow_insecure_http=True)
    ClientSettings(base_url="http://127.0.0.1:9", api_key=KEY)
    assert KEY not in repr(ClientSettings(api_key=KEY))
    with pytest.raises(TelaConfigError, match="API Key field"):
        ClientSettings(api_key="")


def test_retry_after_is_honoured_and_capped():
    attempts = RetryPolicy(max_retries=2).attempts(GET, (KEY,))
    assert attempts.answered(429, {"Retry-After": "2"}, b"{}").retry_in == 2.0
    assert attempts.answered(503, {}, b"").retry_in is not None
    final = attempts.answered(429, {"Retry-After": "2"}, b'{"error": {"message": "slow down"}}')
    assert isinstance(final.error, TelaRateLimitError) and final.error.retry_after == 2.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert RetryPolicy(retry_after_max=5).attempts(GET, ()).answered(429, {"Retry-After": "900"}, b"").retry_in == 5


def test_backoff_grows_and_is_capped_with_jitter():
    policy = RetryPolicy(backoff_base=1, backoff_max=4)
    for retry_number, ceiling in [(0, 1), (1, 2), (2, 4), (5, 4)]:
        steps = policy.steps()
        for _ in range(retry_number):
            steps.delay()
        delay = steps.delay()
        assert ceiling / 2 <= delay <= ceiling


def test_ambiguous_post_is_never_retried_but_a_get_is():
    post = RetryPolicy().attempts(POST, ())
    outcome = post.failed(Failure.NO_ANSWER, "connection dropped")
    assert isinstance(outcome.error, TelaRunMayExistError)
    assert "may have been created" in str(outcome.error)
    assert isinstance(RetryPolicy().attempts(POST, ()).answered(504, {}, b"").error, TelaRunMayExistError)
    assert RetryPolicy().attempts(POST, ()).failed(Failure.NOT_SENT, "refused").retry_in is not None
    assert RetryPolicy().attempts(GET, ()).failed(Failure.NO_ANSWER, "dropped").retry_in is not None
    exhausted = RetryPolicy(max_retries=0).attempts(GET, ()).failed(Failure.NOT_SENT, "refused")
    assert isinstance(exhausted.error, TelaConnectionError)


def test_errors_carry_status_and_excerpt_but_never_the_key():
    attempts = RetryPolicy(max_retries=0).attempts(GET, (KEY,))
    error = attempts.answered(401, {}, f'{{"error": {{"message": "bad key {KEY}"}}}}'.encode()).error
    assert isinstance(error, TelaAuthenticationError)
    assert error.status_code == 401 and KEY not in str(error) and "***" in str(error)
    assert "API Key field" in str(error)
    server = attempts.answered(500, {}, b"x" * 5000).error
    assert isinstance(server, TelaServerError) and len(str(server)) < 1000


def test_non_json_answer_is_a_clear_error():
    from airflow_provider_tela._http import endpoints

    with pytest.raises(TelaBadResponseError, match="not JSON"):
        endpoints.list_projects().parse(b"<html>login</html>", ())
    raw = RetryPolicy().attempts(GET, ()).answered(200, {}, b"<html>login</html>").body
    with pytest.raises(TelaBadResponseError, match="not JSON"):
        decode_model(GET, CanvasRun, raw, (), "run r1")
    assert decode_model(GET, CanvasRun, b'{"id": "r1", "status": "queued"}', (), "run r1").status == "queued"
    assert decode_model(GET, CanvasRun, b'{"id": "r1", "status": "running"}', (), "run r1").status == "running"


def test_sse_decoder_yields_chunks_and_detects_truncation():
    decoder = SSEDecoder()
    lines = [
        'data: {"choices": [{"delta": {"content": "Hel"}}]}', "",
        ": keep-alive", "",
        'data: {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]}', "",
        "data: [DONE]", "",
    ]
    chunks = [c for c in (decoder.feed(line) for line in lines) if c is not None]
    assert "".join(c.text for c in chunks) == "Hello" and decoder.done
    cut = SSEDecoder()
    cut.feed('data: {"choices": [{"delta": {"content": "Hel"}}]}')
    cut.feed("")
    with pytest.raises(TelaBadResponseError, match="ended before"):
        cut.close()
    bad = SSEDecoder()
    bad.feed("data: {oops")
    with pytest.raises(TelaBadResponseError, match="not JSON"):
        bad.feed("")


@pytest.mark.parametrize("final", [
    '{"choices": [{"delta": {}, "finish_reason": "stop"}]}',
    '{"choices": [], "message": {"role": "assistant", "content": "Hello"}}',
    '{"choices": [{"message": {"role": "assistant", "content": "Hello"}}]}',
])
def test_a_stream_with_a_final_message_but_no_done_is_complete(final):
    # Tela's SDK accepts a stream that ends after its final chunk without "data: [DONE]"
    decoder = SSEDecoder()
    for line in ('data: {"choices": [{"delta": {"content": "Hello"}}]}', "", f"data: {final}", ""):
        decoder.feed(line)
    assert not decoder.done
    decoder.close()


@pytest.mark.parametrize("bad", ["", "  ", "\n", ".", "..", " .. ", "a/b", "../runs", "run 1", "run?x=1", "run#1",
                                 "r%2F1", "run\x00", "r\u00e9", "x" * 201, None, 5])
def test_an_id_that_is_not_plain_is_refused_before_any_request(bad):
    with pytest.raises(TelaConfigError, match="run_id must be a Tela id"):
        calls.get_run(bad)


@pytest.mark.parametrize("given", ["run-1\n", " run-1", "\trun-1\r\n", "run-1"])
def test_surrounding_whitespace_is_removed_where_an_id_enters(given):
    from airflow_provider_tela._http import endpoints
    from airflow_provider_tela._ids import plain_id

    assert plain_id(given) == "run-1"
    assert calls.get_run(given).path == "/v2/chat/completions/run-1"
    # the answer about run-1 is the answer to the check of the id as it was given
    assert endpoints.poll_run(given).parse(b'{"id": "run-1", "status": "succeeded"}', ()).id == "run-1"


def test_polls_validate_only_what_an_active_run_needs():
    from airflow_provider_tela._http import endpoints
    from airflow_provider_tela.models import RunProgress

    parse_poll = endpoints.poll_run("r1").parse
    active = parse_poll(b'{"id": "r1", "status": "running", "input_content": {"variables": {"a": 1}}}', ())
    assert type(active) is RunProgress and active.status == "running"
    done = parse_poll(b'{"id": "r1", "status": "succeeded", "output_content": {"content": {"text": "t"}}}', ())
    assert isinstance(done, CanvasRun) and done.content == {"text": "t"}
    assert parse_poll(b'{"id": "r1", "status": "paused"}', ()).status == "paused"


def test_the_watchdog_cuts_tls_inside_a_proxy_tunnel_too():
    """Through an https proxy, urllib3 wraps TLS in its SSLTransport, which has no shutdown(): the
    watchdog cuts the socket it wraps (it raised AttributeError in its timer thread before)."""
    import socket

    from urllib3.util.ssltransport import SSLTransport

    from airflow_provider_tela._http.sync_transport import _cut, _InFlight

    ours, peer = socket.socketpair()
    tunnel = SSLTransport.__new__(SSLTransport)
    tunnel.socket = ours
    in_flight = _InFlight()
    in_flight.conn = type("Conn", (), {"sock": tunnel})()
    try:
        _cut(in_flight)
        peer.settimeout(2)
        assert in_flight.fired and peer.recv(1) == b""  # the far end sees the connection closed
    finally:
        ours.close()
        peer.close()


@pytest.mark.parametrize("pieces", [
    [b"a\nb\r\nc\rd\n"],
    [b"a\n", b"b\r", b"\nc\r", b"d\n"],          # a CRLF split between two reads is one line end
    [b"a", b"\nb\r\n", b"c", b"\r", b"d", b"\n"],
    [b"a\nb\r\nc\rd"],                           # the last line ends with the stream
])
def test_stream_lines_end_at_cr_lf_or_crlf_however_the_bytes_arrive(pieces):
    from airflow_provider_tela._http.sse import LineBuffer

    buffer = LineBuffer()
    lines = [line for piece in pieces for line in buffer.feed(piece)] + buffer.end()
    assert lines == [b"a", b"b", b"c", b"d"]


def test_blank_lines_survive_the_line_buffer():
    from airflow_provider_tela._http.sse import LineBuffer

    buffer = LineBuffer()
    assert buffer.feed(b"data: x\r\n\r") + buffer.feed(b"\n\ndata: y\n") == [b"data: x", b"", b"", b"data: y"]
