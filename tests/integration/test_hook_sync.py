"""TelaHook against the emulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from airflow_provider_tela.errors import (
    TelaAuthenticationError,
    TelaBadResponseError,
    TelaConfigError,
    TelaNotFoundError,
    TelaPermissionError,
    TelaRunFailedError,
    TelaRunMayExistError,
    TelaServerError,
    TelaTimeoutError,
)
from airflow_provider_tela.hooks.tela import TelaHook


def test_sync_completion_returns_the_content_unchanged(hook, tela_env):
    completion = hook.create_completion(canvas_id="canvas-echo", variables={"document": "hello"})
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content["variables"] == {"document": "hello"}
    assert tela_env.stats()["runs_created"] == 1


def test_application_id_targets_the_app(hook, tela_env):
    ref = hook.create_task("app-echo", variables={"document": "x"})
    assert hook.wait_for_task(ref.task_id, poll_interval=0.2, timeout=20).content["variables"] == {"document": "x"}
    assert tela_env.runs()[0]["raw_input"]["application_id"] == "app-echo"


def test_bad_input_fails_before_any_request(hook, tela_env):
    with pytest.raises(TelaConfigError, match="exactly one"):
        hook.submit_run(canvas_id="canvas-echo", application_id="app-echo")
    with pytest.raises(TelaConfigError, match=r"messages\.0\.role"):
        hook.submit_run(canvas_id="canvas-echo", messages=[{"role": "bot", "content": "x"}])
    assert tela_env.stats()["requests"] == 0


def test_submit_then_wait_until_succeeded(hook, tela_env):
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "doc"})
    assert run.status in ("created", "running") and run.id
    finished = hook.wait_for_run(run.id, poll_interval=0.2, timeout=10)
    assert finished.status == "succeeded"
    assert finished.output_content.content["variables"] == {"document": "doc"}
    info = finished.output_content.information
    assert info.input_tokens > 0 and info.output_tokens > 0 and info.cost > 0
    assert tela_env.runs()[0]["raw_input"]["variables"] == {"document": "doc"}
    assert tela_env.stats()["runs_created"] == 1


def test_failed_run_raises_with_the_api_reason(hook, tela_env):
    run = hook.submit_run(canvas_id="canvas-fail", variables={})
    with pytest.raises(TelaRunFailedError, match="emulated failure") as info:
        hook.wait_for_run(run.id, poll_interval=0.1, timeout=10)
    assert info.value.run_id == run.id


def test_wait_times_out_with_the_run_id(hook, tela_env):
    tela_env.configure(run_latency=30)
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    with pytest.raises(TelaTimeoutError, match=run.id):
        hook.wait_for_run(run.id, poll_interval=0.2, timeout=0.5)


def test_unknown_run_is_not_found(hook):
    with pytest.raises(TelaNotFoundError, match="404"):
        hook.get_run("no-such-run")


def test_wrong_key_is_an_authentication_error_without_the_key(tela_env, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELA_DEFAULT",
        json.dumps({"conn_type": "tela", "host": tela_env.url, "password": "wrong-key-abcdef"}),
    )
    with pytest.raises(TelaAuthenticationError) as info:
        TelaHook().get_run("x")
    assert info.value.status_code == 401 and "wrong-key-abcdef" not in str(info.value)
    ok, message = TelaHook().test_connection()
    assert not ok and "401" in message


def test_forbidden_key_is_a_permission_error(tela_env, monkeypatch):
    tela_env.configure(forbidden_keys=["read-only-key-1"])
    monkeypatch.setenv(
        "AIRFLOW_CONN_TELA_DEFAULT",
        json.dumps({"conn_type": "tela", "host": tela_env.url, "password": "read-only-key-1"}),
    )
    with pytest.raises(TelaPermissionError):
        TelaHook().submit_run(canvas_id="canvas-echo")


def test_test_connection_succeeds(hook):
    assert hook.test_connection() == (True, f"Connected to Tela at {hook.settings.base_url}")


def test_429_with_retry_after_is_retried_and_counted(hook, tela_env):
    tela_env.add_fault(kind="429", method="POST", path="/v2/chat/completions", count=2, retry_after=0.2)
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    stats = tela_env.stats()
    assert stats["completions_posted"] + stats["faults_injected"]["429"] >= 3
    assert stats["faults_injected"]["429"] == 2 and stats["runs_created"] == 1 and run.id


@pytest.mark.parametrize("kind", ["502", "503"])
def test_gateway_errors_are_retried(hook, tela_env, kind):
    tela_env.add_fault(kind=kind, method="GET", path="/v2/chat/completions", count=2)
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    assert hook.get_run(run.id).id == run.id
    assert tela_env.stats()["faults_injected"][kind] == 2


def test_retry_budget_runs_out(hook, tela_env):
    tela_env.add_fault(kind="503", method="GET", path="/v2/chat/completions", count=10)
    with pytest.raises(TelaServerError, match="503"):
        hook.get_run("anything")
    assert tela_env.stats()["faults_injected"]["503"] == 4  # the first try and 3 retries


def test_dropped_post_is_not_resubmitted(hook, tela_env):
    tela_env.add_fault(kind="drop_after", method="POST", path="/v2/chat/completions", count=1)
    with pytest.raises(TelaRunMayExistError, match="may have been created"):
        hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    # the emulator accepted the run, and the client did not send it a second time
    assert tela_env.stats()["runs_created"] == 1
    assert tela_env.stats()["completions_posted"] == 1


def test_slow_post_times_out_as_may_exist(tela_env, monkeypatch):
    conn = {"conn_type": "tela", "host": tela_env.url, "password": tela_env.api_key, "extra": {"timeout": 0.3}}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    tela_env.add_fault(kind="slow", method="POST", path="/v2/chat/completions", count=1, delay=2)
    with pytest.raises(TelaRunMayExistError, match="no answer: ReadTimeout"):
        TelaHook().submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    assert tela_env.stats()["requests"] == 1 and tela_env.stats()["faults_injected"] == {"slow": 1}


def test_dropped_get_is_retried(hook, tela_env):
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    tela_env.add_fault(kind="drop_before", method="GET", path="/v2/chat/completions", count=1)
    assert hook.get_run(run.id).id == run.id


def test_unreachable_host_is_a_connection_error(monkeypatch):
    from airflow_provider_tela.errors import TelaConnectionError

    conn = {"conn_type": "tela", "host": "http://127.0.0.1:9", "password": "k-12345", "extra": {"max_retries": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    with pytest.raises(TelaConnectionError, match="Could not reach Tela"):
        TelaHook().submit_run(canvas_id="c")


@pytest.mark.parametrize("kind, match", [("garbage", "not JSON"), ("malformed", "does not match")])
def test_malformed_answers_are_clear_errors(hook, tela_env, kind, match):
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    tela_env.add_fault(kind=kind, method="GET", path="/v2/chat/completions", count=1)
    with pytest.raises(TelaBadResponseError, match=match):
        hook.get_run(run.id)


def test_streaming_yields_typed_chunks(hook, tela_env):
    chunks = list(hook.stream_completion(canvas_id="canvas-echo", variables={"document": "streamed"}))
    assert len(chunks) > 2
    text = "".join(chunk.text for chunk in chunks)
    final = chunks[-1].final_message
    assert final is not None and text == final.content["text"]
    assert tela_env.stats()["runs_created"] == 1


def test_truncated_stream_is_a_run_that_may_exist_naming_its_id(hook, tela_env):
    tela_env.add_fault(kind="truncated_sse", method="POST", path="/v2/chat/completions", count=1)
    with pytest.raises(TelaRunMayExistError, match="ended before") as info:
        list(hook.stream_completion(canvas_id="canvas-echo", variables={"document": "x"}))
    assert info.value.run_id == tela_env.runs()[0]["id"]


def test_an_unknown_status_is_read_not_refused(hook, tela_env):
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    tela_env.add_fault(kind="bad_status", method="GET", path="/v2/chat/completions", count=1)
    assert hook.get_run(run.id).status == "queued"


def test_one_pooled_connection_for_many_calls(hook, tela_env):
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    for _ in range(10):
        hook.get_run(run.id)
    assert tela_env.stats()["connections_opened"] == 1


def test_promoted_version_and_upload_target(hook):
    version = hook.get_promoted_version("canvas-echo")
    names = {v.name: v for v in version.variables}
    assert names["document"].required and names["document"].type == "text"
    target = hook.create_file_upload()
    assert target.upload_url.startswith("http") and target.download_url.startswith("http")


def test_https_with_the_emulator_ca_bundle(tela_emulator_https, monkeypatch):
    conn = json.loads(tela_emulator_https.connection_json())
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    assert conn["host"].startswith("https://")
    assert TelaHook().create_completion(canvas_id="canvas-echo", variables={"document": "tls"}).content
    conn["extra"] = {"max_retries": 0}
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(conn))
    from airflow_provider_tela.errors import TelaConnectionError

    with pytest.raises(TelaConnectionError, match="ca_bundle"):
        TelaHook().get_run("x")


def test_connection_in_uri_form(tela_env, monkeypatch):
    uri = tela_env.connection_uri()
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", uri)
    hook = TelaHook()
    assert hook.settings.base_url == tela_env.url
    assert hook.test_connection()[0] is True


def test_webhook_submission_is_async_and_delivered(hook, tela_env):
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["x-completion-run-id"], json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hook"
        run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "w"}, webhook_url=url)
        finished = hook.wait_for_run(run.id, poll_interval=0.1, timeout=10)
        raw = tela_env.runs()[0]["raw_input"]
        assert raw["webhook_url"] == url
        for _ in range(50):
            if received:
                break
            threading.Event().wait(0.1)
        assert received and received[0][0] == run.id
        assert received[0][1]["choices"][0]["message"]["content"] == finished.content
    finally:
        server.shutdown()


def test_the_sensor_warns_once_per_unknown_status(hook, tela_env, caplog, capfd):
    from airflow_provider_tela.sensors.tela import TelaRunSensor

    tela_env.configure(run_latency=60)
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    tela_env.add_fault(kind="bad_status", method="GET", path="/v2/chat/completions", count=3)
    sensor = TelaRunSensor(task_id="wait", run_id=run.id, poke_interval=1)
    with caplog.at_level("WARNING"):
        assert [sensor.poke({}) for _ in range(4)] == [False] * 4
    # Airflow 3 logs through structlog (to the console), 2.11 through logging: count both
    out = capfd.readouterr()
    logged = [r.getMessage() for r in caplog.records if "which this provider does not know" in r.getMessage()]
    printed = [line for line in (out.out + out.err).splitlines() if "which this provider does not know" in line]
    warnings = max(logged, printed, key=len)
    assert len(warnings) == 1 and "'queued'" in warnings[0]
