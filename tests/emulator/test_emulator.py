"""The Tela API emulator, exercised over real HTTP on 127.0.0.1 (requests and raw sockets, no mocks)."""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_tela.testing import TelaEmulator

COMPLETIONS = "/v2/chat/completions"
TERMINAL = ("succeeded", "failed")


def auth(emulator: TelaEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.api_key}"}


def post_completion(emulator: TelaEmulator, body: dict[str, Any], **kwargs: Any) -> requests.Response:
    return requests.post(emulator.url + COMPLETIONS, json=body, headers=auth(emulator), timeout=10, **kwargs)


def get_run(emulator: TelaEmulator, run_id: str) -> requests.Response:
    return requests.get(f"{emulator.url}{COMPLETIONS}/{run_id}", headers=auth(emulator), timeout=10)


def wait_terminal(emulator: TelaEmulator, run_id: str, timeout: float = 5) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = get_run(emulator, run_id).json()
        if run["status"] in TERMINAL or time.monotonic() > deadline:
            return run
        time.sleep(0.03)


def raw_exchange(emulator: TelaEmulator, request: bytes) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it."""
    address = urlsplit(emulator.url)
    received = b""
    with socket.create_connection((address.hostname, address.port), timeout=5) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass
    return received


def raw_post_completion(emulator: TelaEmulator, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST {COMPLETIONS} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {emulator.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    )
    return raw_exchange(emulator, head.encode() + payload)


def sse_events(text: str) -> list[str]:
    return [block[len("data: "):] for block in text.split("\n\n") if block.startswith("data: ")]


ECHO = {"canvas_id": "canvas-echo", "variables": {"document": "hello emulator"}}


# ----------------------------------------------------------------------------- completions


def test_sync_completion(tela_emulator: TelaEmulator) -> None:
    started = time.monotonic()
    response = post_completion(tela_emulator, {**ECHO, "messages": [{"role": "user", "content": "hi"}]})
    assert time.monotonic() - started >= 0.2  # the configured run latency
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion" and isinstance(body["created"], int) and body["id"]
    message = body["choices"][0]["message"]
    assert message["role"] == "assistant" and message["tool_calls"] == [] and message["structured_content"] is None
    assert message["content"]["variables"] == {"document": "hello emulator"}
    assert message["content"]["messages"] == [{"role": "user", "content": "hi"}]
    assert "canvas-echo" in message["content"]["text"]
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    # deterministic: the same input gives the same content
    assert post_completion(tela_emulator, {**ECHO, "messages": [{"role": "user", "content": "hi"}]}).json()[
        "choices"][0]["message"]["content"] == message["content"]
    [run, _] = tela_emulator.runs()
    assert run["id"] == body["id"] and run["mode"] == "sync" and run["raw_input"]["canvas_id"] == "canvas-echo"


def test_application_id_selects_the_canvas(tela_emulator: TelaEmulator) -> None:
    response = post_completion(tela_emulator, {"application_id": "app-echo", "variables": {"document": "x"}})
    assert response.status_code == 200
    [run] = tela_emulator.runs()
    assert run["canvas_id"] == "canvas-echo" and run["raw_input"]["application_id"] == "app-echo"
    assert tela_emulator.stats()["runs_by_canvas"] == {"canvas-echo": 1}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"variables": {"document": "x"}}, "canvas_id"),
        ({"canvas_id": "canvas-echo", "application_id": "app-echo", "variables": {"document": "x"}}, "application_id"),
        ({"canvas_id": "canvas-echo"}, "variables.document"),
        ({"canvas_id": "canvas-echo", "variables": {"document": 3}}, "variables.document"),
        ({"canvas_id": "canvas-echo", "variables": {"document": "x"}, "messages": "hi"}, "messages"),
        ({"canvas_id": "canvas-echo", "variables": {"document": "x"}, "stream": True, "async": True}, "stream"),
    ],
)
def test_invalid_requests_name_the_field(tela_emulator: TelaEmulator, body: dict[str, Any], param: str) -> None:
    response = post_completion(tela_emulator, body)
    assert response.status_code == 400
    error = response.json()
    assert (error["status"], error["name"], error["code"]) == (400, "BadRequestError", "invalid_request")
    assert [detail["path"] for detail in error["details"]] == [param]
    assert tela_emulator.stats()["runs_created"] == 0


def test_invalid_json_and_unknown_canvas(tela_emulator: TelaEmulator) -> None:
    response = requests.post(tela_emulator.url + COMPLETIONS, data=b"{nope", headers=auth(tela_emulator), timeout=5)
    assert response.status_code == 400 and response.json()["code"] == "invalid_request"
    response = post_completion(tela_emulator, {"canvas_id": "no-such-canvas"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "canvas 'no-such-canvas' not found", "status": 404,
                               "name": "NotFoundError"}
    assert get_run(tela_emulator, "no-such-run").status_code == 404


def test_auth(tela_emulator: TelaEmulator) -> None:
    tela_emulator.configure(forbidden_keys=["read-only-key"])
    url = tela_emulator.url + COMPLETIONS
    missing = requests.post(url, json=ECHO, timeout=5)
    wrong = requests.post(url, json=ECHO, headers={"Authorization": "Bearer wrong-secret-123"}, timeout=5)
    forbidden = requests.post(url, json=ECHO, headers={"Authorization": "Bearer read-only-key"}, timeout=5)
    assert (missing.status_code, wrong.status_code, forbidden.status_code) == (401, 401, 403)
    assert wrong.json()["code"] == "unauthorized" and wrong.json()["status"] == 401
    assert "wrong-secret-123" not in wrong.text and "read-only-key" not in forbidden.text
    for path in ("/v2/file", "/prompt/canvas-echo/promoted-version", "/project"):
        assert requests.request("POST" if path == "/v2/file" else "GET", tela_emulator.url + path, timeout=5).status_code == 401
    stats = tela_emulator.stats()
    assert stats["auth_failures"] == 6 and stats["completions_posted"] == 0
    # the admin API needs no key and is counted apart
    assert requests.get(tela_emulator.url + "/_emulator/stats", timeout=5).status_code == 200
    assert tela_emulator.stats()["admin_requests"] == 1 and tela_emulator.stats()["requests"] == 6


class EmulatorClock:
    """The monotonic clock run progress is read from, moved only by the test (wall time stays real).

    A run's status depends only on this clock, so each poll's answer is decided by the test, not by
    how fast a loaded machine gets the request to the server.
    """

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


@pytest.fixture
def emulator_clock(monkeypatch: pytest.MonkeyPatch) -> EmulatorClock:
    from airflow_provider_tela.testing import server as server_module
    from airflow_provider_tela.testing import state as state_module

    clock = EmulatorClock()
    # Only the emulator modules' view of ``time``: the event loop keeps the real clock.
    monkeypatch.setattr(state_module, "time", clock)
    monkeypatch.setattr(server_module, "time", clock)
    return clock


def test_async_run_progresses_with_time(tela_emulator: TelaEmulator, emulator_clock: EmulatorClock) -> None:
    tela_emulator.configure(run_latency=0.5)
    created = post_completion(tela_emulator, {**ECHO, "async": True})
    assert created.status_code == 200
    run_id = created.json()["id"]
    assert created.json()["status"] == "created" and created.json()["output_content"] is None
    started = emulator_clock.now
    seen = []
    # "created" for the first tenth of the latency, "running" until it has passed, then terminal
    for elapsed in (0.0, 0.02, 0.1, 0.3, 0.49, 0.5, 2.0):
        emulator_clock.now = started + elapsed
        status = get_run(tela_emulator, run_id).json()["status"]
        if not seen or seen[-1] != status:
            seen.append(status)
    assert seen == ["created", "running", "succeeded"]
    run = get_run(tela_emulator, run_id).json()
    output = run["output_content"]
    assert output["content"]["variables"] == {"document": "hello emulator"}
    assert output["has_structured_output"] is False and output["tool_calls"] == []
    information = output["information"]
    assert information["duration"] == 0.5
    assert information["cost"] == pytest.approx((information["input_tokens"] + information["output_tokens"]) * 2e-6)
    assert run["raw_input"]["variables"] == {"document": "hello emulator"} and run["raw_input"]["webhook_url"] is None
    assert run["input_content"]["variables"] == {"document": "hello emulator"}
    assert run["created_at"].endswith("Z") and run["updated_at"] > run["created_at"]
    assert run["prompt_version_id"] and run["workspace_id"] and "error" not in run
    stats = tela_emulator.stats()
    assert stats["polls"] == stats["polls_by_run"][run_id] >= 3
    assert stats["runs_by_mode"] == {"async": 1}


def test_failing_canvas(tela_emulator: TelaEmulator) -> None:
    sync = post_completion(tela_emulator, {"canvas_id": "canvas-fail"})
    assert sync.status_code == 422
    assert sync.json() == {"code": "run_failed", "status": 422, "name": "UnprocessableEntityError",
                           "message": "Canvas run failed: The model refused the document (emulated failure)"}
    run_id = post_completion(tela_emulator, {"canvas_id": "canvas-fail", "async": True}).json()["id"]
    run = wait_terminal(tela_emulator, run_id)
    reason = "The model refused the document (emulated failure)"
    assert run["status"] == "failed" and run["output_content"] is None
    assert run["raw_output"] == {"error": {"message": reason}} and run["error"] == {"message": reason}


def test_stream(tela_emulator: TelaEmulator) -> None:
    response = post_completion(tela_emulator, {**ECHO, "stream": True}, stream=True)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert len(chunks) >= 3 and all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(chunk["choices"][0]["finish_reason"] is None for chunk in chunks[:-1])
    final = chunks[-1]
    assert final["choices"][0]["finish_reason"] == "stop"
    text = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks)
    assert text == final["message"]["content"]["text"]
    assert final["message"]["content"]["variables"] == {"document": "hello emulator"}
    assert tela_emulator.stats()["runs_by_mode"] == {"stream": 1}


def test_structured_output(tela_emulator: TelaEmulator) -> None:
    body = post_completion(tela_emulator, {"canvas_id": "canvas-structured", "variables": {"text": "Great product"}}).json()
    message = body["choices"][0]["message"]
    assert message["content"] == message["structured_content"]
    assert message["content"]["sentiment"] == "positive" and message["content"]["score"] == 0.9
    schema = {"type": "object", "properties": {
        "name": {"type": "string"}, "total": {"type": "number"}, "count": {"type": "integer"},
        "paid": {"type": "boolean"}, "lines": {"type": "array"}, "meta": {"type": "object"}}}
    override = {"type": "chat", "structured_output": {"enabled": True, "schema": schema}}
    body = post_completion(tela_emulator, {**ECHO, "override": override, "async": True}).json()
    run = wait_terminal(tela_emulator, body["id"])
    assert run["output_content"]["has_structured_output"] is True
    assert run["output_content"]["content"] == {
        "name": "example name", "total": 1, "count": 1, "paid": True, "lines": [], "meta": {}}
    assert run["raw_input"]["override"] == override


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], Any]]]]:
    received: queue.Queue[tuple[dict[str, str], Any]] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_webhook_delivery(tela_emulator: TelaEmulator, webhook_receiver: tuple[str, queue.Queue]) -> None:
    url, received = webhook_receiver
    created = post_completion(tela_emulator, {**ECHO, "webhook_url": url})
    assert created.status_code == 200 and created.json()["status"] == "created"
    headers, payload = received.get(timeout=5)
    assert headers["x-completion-run-id"] == created.json()["id"]
    assert headers["Content-Type"].startswith("application/json")
    assert payload["object"] == "chat.completion" and isinstance(payload["created"], int)
    assert payload["choices"][0]["message"]["role"] == "assistant"
    assert payload["choices"][0]["message"]["content"]["variables"] == {"document": "hello emulator"}
    assert payload["usage"]["total_tokens"] > 0
    assert get_run(tela_emulator, created.json()["id"]).json()["raw_input"]["webhook_url"] == url
    # the receiver has the payload before the emulator has read the answer and recorded the delivery
    deadline = time.monotonic() + 10
    while not (stats := tela_emulator.stats())["webhook_deliveries"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stats["webhooks_sent"] == 1 and stats["webhooks_failed"] == 0
    assert stats["webhook_deliveries"] == [
        {"run_id": created.json()["id"], "url": url, "status": 204, "ok": True, "error": None}]


# ----------------------------------------------------------------------------- files and canvases


def test_file_upload_and_resolution(tela_emulator: TelaEmulator) -> None:
    slot = requests.post(tela_emulator.url + "/v2/file", headers=auth(tela_emulator), timeout=5).json()
    assert slot["upload_url"].startswith(tela_emulator.url + "/_uploads/")
    assert slot["download_url"].startswith(tela_emulator.url + "/_files/")
    data = os.urandom(3 * 1024 * 1024 + 17)
    # a generator makes requests send it chunked, like a streamed upload of unknown length
    chunks = (data[i:i + 65536] for i in range(0, len(data), 65536))
    put = requests.put(slot["upload_url"], data=chunks, headers={"Content-Type": "application/pdf"}, timeout=10)
    assert put.status_code == 200
    digest = hashlib.sha256(data).hexdigest()
    [record] = tela_emulator.files()
    assert (record["size"], record["sha256"], record["content_type"]) == (len(data), digest, "application/pdf")
    download = requests.get(slot["download_url"], timeout=10)
    assert download.content == data and download.headers["Content-Type"] == "application/pdf"

    inline = b"%PDF-1.5 tiny"
    variables = {
        "document": {"file_url": slot["download_url"], "options": {"range": [0, 1], "parser_type": "tela"}},
        "inline": {"file_url": "data:application/pdf;base64," + base64.b64encode(inline).decode()},
        "remote": {"file_url": "https://example.com/invoice.pdf"},
    }
    body = post_completion(tela_emulator, {"canvas_id": "canvas-file", "variables": variables}).json()
    echoed = body["choices"][0]["message"]["content"]["variables"]
    assert echoed["document"] == {"file_url": slot["download_url"], "size": len(data), "sha256": digest,
                                  "content_type": "application/pdf", "options": {"range": [0, 1], "parser_type": "tela"}}
    assert echoed["inline"]["sha256"] == hashlib.sha256(inline).hexdigest()
    assert echoed["inline"]["size"] == len(inline) and echoed["inline"]["content_type"] == "application/pdf"
    assert echoed["remote"] == {"file_url": "https://example.com/invoice.pdf"}
    stats = tela_emulator.stats()
    assert (stats["files_created"], stats["uploads"], stats["bytes_uploaded"]) == (1, 1, len(data))

    missing = {"document": {"file_url": tela_emulator.url + "/_files/unknown-token"}}
    response = post_completion(tela_emulator, {"canvas_id": "canvas-file", "variables": missing})
    assert response.status_code == 400 and response.json()["details"][0]["path"] == "variables.document"


def test_promoted_version_and_listings(tela_emulator: TelaEmulator) -> None:
    response = requests.get(tela_emulator.url + "/prompt/canvas-file/promoted-version", headers=auth(tela_emulator),
                            timeout=5)
    version = response.json()
    assert version["promptId"] == "canvas-file" and version["id"]
    assert version["variables"] == [
        {"name": "document", "type": "file", "required": True, "description": "Document to read",
         "processingOptions": {"allowMultimodal": True}},
        {"name": "pages", "type": "text", "required": False, "description": "Optional page range",
         "processingOptions": {"allowMultimodal": False}},
    ]
    run = post_completion(tela_emulator, {"canvas_id": "canvas-echo", "variables": {"document": "x"}}).json()
    assert tela_emulator.runs()[0]["raw_input"]["version_id"] == requests.get(
        tela_emulator.url + "/prompt/canvas-echo/promoted-version", headers=auth(tela_emulator), timeout=5).json()["id"]
    assert run["id"]
    assert requests.get(tela_emulator.url + "/prompt/nope/promoted-version", headers=auth(tela_emulator),
                        timeout=5).status_code == 404
    [project] = requests.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).json()
    canvases = requests.get(tela_emulator.url + "/prompt", params={"projectId": project["id"]},
                            headers=auth(tela_emulator), timeout=5).json()
    assert {"canvas-echo", "canvas-structured", "canvas-fail", "canvas-file"} <= {c["id"] for c in canvases}
    assert tela_emulator.stats()["promoted_version_gets"] == 3


def test_custom_canvases(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_canvas("shout", content=lambda run: {"text": run.variables["word"].upper()},
                             variables=[{"name": "word", "required": True}], latency=0.05)
    tela_emulator.add_canvas("broken", fail="backend exploded", application_id="app-broken")
    body = post_completion(tela_emulator, {"canvas_id": "shout", "variables": {"word": "hey"}}).json()
    assert body["choices"][0]["message"]["content"] == {"text": "HEY"}
    [run] = tela_emulator.runs()
    assert run["canvas_id"] == "shout"
    assert run["latency"] == 0.05 != tela_emulator.configure()["run_latency"]  # the canvas's own latency, not the default
    failed = post_completion(tela_emulator, {"canvas_id": "broken"})
    assert failed.status_code == 422 and failed.json()["message"] == "Canvas run failed: backend exploded"
    # the application registered with it makes Workstation tasks (tests/emulator/test_workstation.py)
    task = post_completion(tela_emulator, {"application_id": "app-broken"}).json()
    assert task["promptApplicationId"] == "app-broken" and task["status"] == "running"


def test_a_canvas_sets_what_its_runs_cost(tela_emulator: TelaEmulator) -> None:
    """``cost`` fixes information.cost (a value, or per run); without it the tokens price the run."""
    tela_emulator.add_canvas("priced", cost=0.25, latency=0)
    tela_emulator.add_canvas("per-word", cost=lambda run: len(run.variables["word"]) / 100, latency=0)
    requests.post(f"{tela_emulator.url}/_emulator/canvases", json={"canvas_id": "drifted", "cost": "n/a"},
                  timeout=10).raise_for_status()  # (the admin API takes it too)
    costs = {}
    for canvas, word in (("priced", "a"), ("per-word", "hello"), ("drifted", "a"), ("canvas-echo", "a")):
        run_id = post_completion(tela_emulator, {"canvas_id": canvas, "variables": {"word": word, "document": word},
                                                 "async": True}).json()["id"]
        information = wait_terminal(tela_emulator, run_id)["output_content"]["information"]
        costs[canvas] = information["cost"]
        assert information["input_tokens"] > 0
    assert costs["priced"] == 0.25 and costs["per-word"] == 0.05 and costs["drifted"] == "n/a"
    assert 0 < costs["canvas-echo"] < 0.001


# ----------------------------------------------------------------------------- faults


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "504"])
def test_error_status_faults_apply_count_times(tela_emulator: TelaEmulator, kind: str) -> None:
    tela_emulator.add_fault(kind, method="POST", path=COMPLETIONS, count=2, retry_after=3)
    first, second, third = (post_completion(tela_emulator, ECHO) for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (int(kind), int(kind), 200)
    if kind == "429":
        assert first.headers["Retry-After"] == "3"
        assert first.json()["code"] == "rate_limited" and first.json()["status"] == 429
    if kind in ("502", "504"):
        assert first.headers["Content-Type"].startswith("text/html")
    stats = tela_emulator.stats()
    assert stats["faults_injected"] == {kind: 2}
    assert stats["completions_posted"] == 1 and stats["runs_created"] == 1


def test_fault_matching_by_method_and_path(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("503", method="GET", path=COMPLETIONS, count=1)
    run_id = post_completion(tela_emulator, {**ECHO, "async": True}).json()["id"]  # POST is not affected
    assert get_run(tela_emulator, run_id).status_code == 503
    assert get_run(tela_emulator, run_id).status_code == 200


def test_drop_before_creates_nothing(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("drop_before", method="POST", path=COMPLETIONS, count=1)
    assert raw_post_completion(tela_emulator, {**ECHO, "async": True}) == b""
    stats = tela_emulator.stats()
    assert stats["runs_created"] == 0 and stats["completions_posted"] == 0
    assert stats["faults_injected"] == {"drop_before": 1}
    tela_emulator.add_fault("drop_before", method="GET", path=COMPLETIONS, count=1)
    with pytest.raises(requests.ConnectionError):
        get_run(tela_emulator, "any")


@pytest.mark.parametrize("mode", [{"async": True}, {}, {"stream": True}])
def test_drop_after_creates_the_run(tela_emulator: TelaEmulator, mode: dict[str, bool]) -> None:
    tela_emulator.add_fault("drop_after", method="POST", path=COMPLETIONS, count=1)
    assert raw_post_completion(tela_emulator, {**ECHO, **mode}) == b""
    stats = tela_emulator.stats()
    assert stats["runs_created"] == 1 and stats["faults_injected"] == {"drop_after": 1}
    assert post_completion(tela_emulator, {**ECHO, **mode}).status_code == 200


def test_slow_fault_delays_then_answers(tela_emulator: TelaEmulator) -> None:
    tela_emulator.configure(run_latency=0)
    tela_emulator.add_fault("slow", method="POST", path=COMPLETIONS, count=1, delay=0.4)
    started = time.monotonic()
    assert post_completion(tela_emulator, ECHO).status_code == 200
    assert time.monotonic() - started >= 0.4
    assert tela_emulator.stats()["faults_injected"] == {"slow": 1}
    assert tela_emulator.configure()["faults"] == []  # its one use is spent
    assert post_completion(tela_emulator, ECHO).status_code == 200
    stats = tela_emulator.stats()
    assert stats["faults_injected"] == {"slow": 1}  # the second request was not delayed
    assert stats["runs_created"] == 2 and [run["latency"] for run in tela_emulator.runs()] == [0.0, 0.0]


def test_garbage_and_malformed_answers(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("garbage", method="POST", path=COMPLETIONS, count=1)
    tela_emulator.add_fault("malformed", method="POST", path=COMPLETIONS, count=1)
    garbage = post_completion(tela_emulator, ECHO)
    assert garbage.status_code == 200
    with pytest.raises(ValueError):
        garbage.json()
    malformed = post_completion(tela_emulator, ECHO)
    assert malformed.status_code == 200 and malformed.json() == {}
    assert tela_emulator.stats()["runs_created"] == 0


def test_bad_status_fault(tela_emulator: TelaEmulator) -> None:
    run_id = post_completion(tela_emulator, {**ECHO, "async": True}).json()["id"]
    tela_emulator.add_fault("bad_status", method="GET", path=COMPLETIONS, count=1)
    assert get_run(tela_emulator, run_id).json()["status"] not in ("created", "running", "succeeded", "failed")
    assert get_run(tela_emulator, run_id).json()["status"] in ("created", "running", "succeeded")


def test_truncated_sse(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("truncated_sse", method="POST", path=COMPLETIONS, count=1)
    text = post_completion(tela_emulator, {**ECHO, "stream": True}).text
    assert "[DONE]" not in text and not text.endswith("\n\n")
    events = sse_events(text)
    with pytest.raises(ValueError):
        json.loads(events[-1])
    assert tela_emulator.stats()["faults_injected"] == {"truncated_sse": 1}


def test_rate_faults_are_seeded(tela_emulator: TelaEmulator) -> None:
    def pattern() -> list[int]:
        tela_emulator.add_fault("500", method="GET", path="/project", rate=0.5)
        codes = [requests.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).status_code
                 for _ in range(20)]
        tela_emulator.reset()
        return codes

    first = pattern()
    assert first == pattern()
    assert 0 < first.count(500) < 20


# ----------------------------------------------------------------------------- transport


def test_connections_opened_counts_tcp_connections(tela_emulator: TelaEmulator) -> None:
    with requests.Session() as session:
        for _ in range(5):
            assert session.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).ok
    assert tela_emulator.stats()["connections_opened"] == 1
    for _ in range(5):
        with requests.Session() as session:
            assert session.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).ok
    assert tela_emulator.stats()["connections_opened"] == 6


def test_https_with_ca_bundle() -> None:
    with TelaEmulator(https=True) as emulator:
        assert emulator.url.startswith("https://127.0.0.1:")
        assert emulator.ca_bundle and Path(emulator.ca_bundle).is_file()
        response = requests.post(emulator.url + COMPLETIONS, json=ECHO, headers=auth(emulator),
                                 verify=emulator.ca_bundle, timeout=5)
        assert response.status_code == 200
        slot = requests.post(emulator.url + "/v2/file", headers=auth(emulator), verify=emulator.ca_bundle,
                             timeout=5).json()
        assert slot["upload_url"].startswith(emulator.url)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(emulator.url + "/project", headers=auth(emulator), timeout=5)
        assert json.loads(emulator.connection_json())["extra"] == {"ca_bundle": emulator.ca_bundle}
        bundle = emulator.ca_bundle
    assert not Path(bundle).exists()


def test_connection_helpers(tela_emulator: TelaEmulator) -> None:
    assert json.loads(tela_emulator.connection_json()) == {
        "conn_type": "tela", "host": tela_emulator.url, "password": "tela-emulator-key"}
    port = urlsplit(tela_emulator.url).port
    assert tela_emulator.connection_uri() == f"tela://http://:tela-emulator-key@127.0.0.1:{port}"


def test_tela_connection_env_fixture(tela_connection_env: TelaEmulator) -> None:
    assert json.loads(os.environ["AIRFLOW_CONN_TELA_DEFAULT"])["host"] == tela_connection_env.url


async def test_runs_inside_a_running_loop() -> None:
    import aiohttp

    async with TelaEmulator(run_latency=0) as emulator, aiohttp.ClientSession() as session:
        async with session.post(emulator.url + COMPLETIONS, json=ECHO, headers=auth(emulator)) as response:
            assert response.status == 200
        assert emulator.stats()["runs_created"] == 1


# ----------------------------------------------------------------------------- admin API and CLI


def test_admin_api(tela_emulator: TelaEmulator) -> None:
    admin = tela_emulator.url + "/_emulator"
    config = requests.post(admin + "/config", json={"run_latency": 0.05, "faults": [
        {"kind": "503", "method": "GET", "path": "/project", "count": 1}]}, timeout=5).json()
    assert config["run_latency"] == 0.05 and config["faults"][0]["kind"] == "503"
    assert "tela-emulator-key" not in json.dumps(config)
    assert requests.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).status_code == 503
    requests.post(admin + "/faults", json={"kind": "429", "path": "/project", "count": 1}, timeout=5)
    assert requests.get(tela_emulator.url + "/project", headers=auth(tela_emulator), timeout=5).status_code == 429
    assert requests.post(admin + "/config", json={"bogus": 1}, timeout=5).status_code == 400
    assert requests.post(admin + "/faults", json={"kind": "nope"}, timeout=5).status_code == 400

    created = requests.post(admin + "/canvases", json={"canvas_id": "static", "content": {"text": "fixed"}}, timeout=5)
    assert created.status_code == 200 and created.json()["promptId"] == "static"
    body = post_completion(tela_emulator, {"canvas_id": "static"}).json()
    assert body["choices"][0]["message"]["content"] == {"text": "fixed"}
    assert requests.get(admin + "/runs", timeout=5).json()[0]["canvas_id"] == "static"
    assert requests.get(admin + "/stats", timeout=5).json()["runs_created"] == 1
    assert requests.get(admin + "/files", timeout=5).json() == []

    assert requests.post(admin + "/reset", timeout=5).json() == {"ok": True}
    assert tela_emulator.runs() == [] and tela_emulator.stats()["requests"] == 0
    assert post_completion(tela_emulator, {"canvas_id": "static"}).status_code == 404  # custom canvases are gone
    assert requests.get(admin + "/config", timeout=5).json()["run_latency"] == 0.2


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    command = [sys.executable, "-m", "airflow_provider_tela.testing", "--port", "0", "--api-key", "cli-key",
               "--run-latency", "0", "--ready-file", str(ready)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as process:
        try:
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:") and ready.read_text().strip() == url
            response = requests.post(url + COMPLETIONS, json=ECHO, headers={"Authorization": "Bearer cli-key"},
                                     timeout=5)
            assert response.status_code == 200
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            assert not ready.exists()
        finally:
            if process.poll() is None:
                process.kill()
