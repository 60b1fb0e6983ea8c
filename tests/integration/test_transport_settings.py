"""What both clients take from the connection and the environment: key, host, proxy, CA bundle, uploads.

Sync (worker) and async (trigger) clients must agree on every one of these: a test per setting
runs both against a real server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
import traceback
from pathlib import Path

import pytest
from hostile import HostileServer, respond, run_json
from proxy import ForwardProxy

from airflow_provider_tela import TelaFile
from airflow_provider_tela._http.settings import ClientSettings, normalize_base_url
from airflow_provider_tela.errors import TelaConfigError, TelaTLSError
from airflow_provider_tela.hooks.tela import TelaAsyncHook, TelaHook
from airflow_provider_tela.triggers.tela import TelaRunTrigger

KEY = "sk-settings-test-key-0123456789"


def set_conn(monkeypatch, host: str, password: str = KEY, **extra) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(
        {"conn_type": "tela", "host": host, "password": password, "extra": extra}
    ))


def poll_both(run_id: str) -> tuple[str, str]:
    """The run's status seen by the sync hook, then by the trigger."""
    sync = TelaHook().get_run(run_id).status

    async def trigger() -> dict:
        async for event in TelaRunTrigger(run_id, poll_interval=0.2, end_time=time.time() + 20).run():
            return event.payload
        raise AssertionError

    return sync, asyncio.run(trigger())["status"]


@pytest.fixture
def finished_run(tela_emulator_https):
    tela_emulator_https.reset()
    tela_emulator_https.configure(run_latency=0)
    tela_emulator_https.add_canvas("canvas-now", latency=0)
    ca = tela_emulator_https.ca_bundle
    hook = TelaHook.__new__(TelaHook)  # placeholder so that the fixture reads clearly below
    del hook
    settings = ClientSettings(base_url=tela_emulator_https.url, api_key=tela_emulator_https.api_key, ca_bundle=ca)
    from airflow_provider_tela._http import endpoints
    from airflow_provider_tela._http.retry import RetryPolicy
    from airflow_provider_tela._http.sync_transport import SyncTransport
    from airflow_provider_tela.hooks.tela import build_request

    transport = SyncTransport(settings, RetryPolicy())
    submit = endpoints.submit(build_request(canvas_id="canvas-now", variables={"document": "d"}, **{"async": True}))
    run = submit.parse(transport.request(submit.call), settings.secrets)
    transport.close()
    return tela_emulator_https, run.id


# --- item 19: one proxy setting for both clients; no .netrc -------------------------------------------


def test_both_clients_take_the_proxy_from_the_environment(monkeypatch, finished_run):
    emulator, run_id = finished_run
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        set_conn(monkeypatch, emulator.url, emulator.api_key, ca_bundle=emulator.ca_bundle)
        assert poll_both(run_id) == ("succeeded", "success")
    tunnels = [target for method, target in proxy.seen if method == "CONNECT"]
    assert len(tunnels) >= 2 and set(tunnels) == {f"127.0.0.1:{emulator.port}"}


def test_no_proxy_is_honoured_by_both_clients(monkeypatch, finished_run):
    emulator, run_id = finished_run
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        set_conn(monkeypatch, emulator.url, emulator.api_key, ca_bundle=emulator.ca_bundle)
        assert poll_both(run_id) == ("succeeded", "success")
    assert proxy.seen == []


def test_the_proxy_extra_is_used_by_both_clients(monkeypatch, finished_run):
    emulator, run_id = finished_run
    with ForwardProxy() as proxy:
        for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        set_conn(monkeypatch, emulator.url, emulator.api_key, ca_bundle=emulator.ca_bundle, proxy=proxy.url)
        assert poll_both(run_id) == ("succeeded", "success")
    assert len([1 for method, _ in proxy.seen if method == "CONNECT"]) >= 2


def test_plain_http_to_loopback_through_a_proxy_needs_consent(monkeypatch, tela_emulator):
    with ForwardProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        set_conn(monkeypatch, tela_emulator.url, tela_emulator.api_key)
        with pytest.raises(TelaConfigError, match="through a proxy"):
            TelaHook().list_projects()
        set_conn(monkeypatch, tela_emulator.url, tela_emulator.api_key, allow_insecure_http=True)
        TelaHook().list_projects()
    assert proxy.seen == [("GET", f"{tela_emulator.url}/project")]


def test_netrc_never_replaces_the_bearer_key(monkeypatch, tmp_path):
    async def record(request, writer):
        await respond(request, writer, 200, run_json("r1"))

    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    with HostileServer(record) as server:
        set_conn(monkeypatch, server.url)
        TelaHook().get_run("r1")
        asyncio.run(TelaAsyncHook().get_run("r1"))
    assert [r.headers["authorization"] for r in server.requests] == [f"Bearer {KEY}"] * 2


# --- item 20: the same CAs for both clients; the connection's CA for Tela's host only --------------------


def test_both_clients_trust_the_ca_bundle_from_the_environment(monkeypatch, finished_run):
    emulator, run_id = finished_run
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", emulator.ca_bundle)
    set_conn(monkeypatch, emulator.url, emulator.api_key)
    assert poll_both(run_id) == ("succeeded", "success")


def test_verify_may_be_a_ca_path(monkeypatch, finished_run):
    emulator, run_id = finished_run
    set_conn(monkeypatch, emulator.url, emulator.api_key, verify=emulator.ca_bundle)
    assert poll_both(run_id) == ("succeeded", "success")


@pytest.mark.parametrize("extra", [
    pytest.param({"verify": "true", "ca_bundle": "{ca}"}, id="word-and-bundle"),
    pytest.param({"verify": "/nonexistent/ca.pem", "ca_bundle": "{ca}"}, id="both-paths:ca_bundle-wins"),
    pytest.param({"verify": None, "ca_bundle": "{ca}"}, id="ui-unset-switch"),
    pytest.param({"verify": True, "ca_bundle": "{ca}"}, id="ui-switch-on"),
    pytest.param({"verify": "false"}, id="word-off"),
    pytest.param({"verify": False, "ca_bundle": "/nonexistent/ca.pem"}, id="switch-off-wins-over-a-bundle"),
])
def test_every_form_of_the_tls_extras_is_read_alike_by_both_clients(monkeypatch, finished_run, extra):
    emulator, run_id = finished_run
    extra = {name: value.format(ca=emulator.ca_bundle) if isinstance(value, str) else value
             for name, value in extra.items()}
    set_conn(monkeypatch, emulator.url, emulator.api_key, **extra)
    assert poll_both(run_id) == ("succeeded", "success")


def test_a_missing_ca_bundle_is_a_config_error_naming_the_path(monkeypatch, tela_emulator_https, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    set_conn(monkeypatch, tela_emulator_https.url, tela_emulator_https.api_key, ca_bundle=missing)
    with pytest.raises(TelaConfigError, match=r"no-such-ca\.pem"):
        TelaHook().list_projects()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", missing)
    set_conn(monkeypatch, tela_emulator_https.url, tela_emulator_https.api_key)
    with pytest.raises(TelaConfigError, match="REQUESTS_CA_BUNDLE"):
        TelaHook().list_projects()


def test_a_ca_bundle_without_a_certificate_is_a_config_error_in_both_clients(monkeypatch, tela_emulator_https, tmp_path):
    """A readable file that is not a CA bundle failed the trigger with a raw ssl.SSLError (no event)."""
    import asyncio
    import time

    from airflow_provider_tela.triggers.tela import TelaRunTrigger

    garbage = tmp_path / "garbage-ca.pem"
    garbage.write_text("this is not a certificate\n")
    set_conn(monkeypatch, tela_emulator_https.url, tela_emulator_https.api_key, ca_bundle=str(garbage))
    with pytest.raises(TelaConfigError, match=r"garbage-ca\.pem.*no usable PEM certificate"):
        TelaHook().list_projects()

    async def first_event() -> dict:
        async for event in TelaRunTrigger("r1", poll_interval=1, end_time=time.time() + 5).run():
            return event.payload
        raise AssertionError("no event")

    event = asyncio.run(first_event())
    assert event["status"] == "error" and event["error_type"] == "TelaConfigError" and "garbage-ca.pem" in event["message"]
    monkeypatch.setenv("SSL_CERT_FILE", str(garbage))
    set_conn(monkeypatch, tela_emulator_https.url, tela_emulator_https.api_key)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    with pytest.raises(TelaConfigError, match="SSL_CERT_FILE"):
        TelaHook().list_projects()


def test_the_connection_ca_is_for_tela_and_uploads_use_the_default_bundle(monkeypatch):
    from airflow_provider_tela.testing.tls import create_tls_material

    tela_ca, storage_ca = create_tls_material(), create_tls_material()
    try:
        async def storage(request, writer):
            await respond(request, writer, 200, b"")

        with HostileServer(storage, ssl_context=storage_ca.server_context()) as bucket:
            async def tela(request, writer):
                await respond(request, writer, 200, {"upload_url": f"{bucket.url}/put/1", "download_url": f"{bucket.url}/get/1"})

            with HostileServer(tela, ssl_context=tela_ca.server_context()) as server:
                monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(storage_ca.cert_path))  # the "system" CAs
                set_conn(monkeypatch, server.url, ca_bundle=str(tela_ca.cert_path))
                variable = TelaHook().upload_file(TelaFile(b"%PDF bytes", name="a.pdf"))
                assert variable == {"file_url": f"{bucket.url}/get/1"}
        (put,) = bucket.requests
        assert put.method == "PUT" and put.body == b"%PDF bytes" and "authorization" not in put.headers
    finally:
        tela_ca.cleanup()
        storage_ca.cleanup()


def test_a_certificate_tela_does_not_match_is_a_tls_error(monkeypatch, tela_emulator_https):
    set_conn(monkeypatch, tela_emulator_https.url, tela_emulator_https.api_key)  # no CA: the default bundle
    with pytest.raises(TelaTLSError):
        TelaHook().list_projects()


# --- items 16 and 18: the key and the host, read strictly ----------------------------------------------


def test_a_key_with_a_trailing_newline_works_and_is_masked(monkeypatch, tela_emulator):
    from airflow.providers.common.compat.sdk import redact

    set_conn(monkeypatch, tela_emulator.url, tela_emulator.api_key + "\n")
    hook = TelaHook()
    assert hook.test_connection()[0] is True
    assert tela_emulator.api_key not in str(redact(f"the key is {tela_emulator.api_key}"))


@pytest.mark.parametrize("bad", ["key\nwith-newline", "key\rcr", "key\x00nul", "key\ttab", "kéy"])
def test_a_key_with_control_characters_is_refused_without_showing_it(monkeypatch, tela_emulator, bad):
    secret = f"sk-{bad}-0123456789"
    set_conn(monkeypatch, tela_emulator.url, secret)
    with pytest.raises(TelaConfigError, match="control character") as info:
        TelaHook().list_projects()
    text = "".join(traceback.format_exception(info.value)) + repr(info.value.args)
    assert secret not in text and "0123456789" not in text
    ok, message = TelaHook().test_connection()
    assert ok is False and "0123456789" not in message


@pytest.mark.parametrize("host", [
    "https://user:sk-hidden-key@api.tela.com",
    "https://:sk-hidden-key@api.tela.com",
    "http://evil:1\\@127.0.0.1:2",
    "http://127.0.0.1:2\\@evil",
    "https://api.tela.com /x",
    "https://api.tela.com?x=1",
    "https://api.tela.com#frag",
    "https://api.tela.com/v2?api_key=sk-hidden-key",
    "https://api.tela.com/#sk-hidden-key",
    "https://exa%6dple.com",
])
def test_hosts_that_http_clients_read_differently_are_refused(host):
    with pytest.raises(TelaConfigError) as info:
        normalize_base_url(host)
    assert "sk-hidden-key" not in str(info.value)


def test_the_key_never_appears_in_the_settings_repr():
    settings = ClientSettings(base_url="https://api.tela.com", api_key="sk-repr-key-0123456789")
    assert "sk-repr-key" not in repr(settings)


# --- item 23: nothing is uploaded or submitted unless the whole request is valid ---------------------------


def test_a_file_that_grows_during_upload_fails_it_and_nothing_is_submitted(tela_env, tmp_path):
    document = tmp_path / "growing.pdf"
    document.write_bytes(b"%PDF " + b"x" * 1000)
    hook = TelaHook()
    size = TelaFile(document).size()
    with document.open("ab") as extra:
        extra.write(b"appended while uploading")
    with pytest.raises(TelaConfigError, match="grew while it was uploaded"):
        hook.upload_file(TelaFile(document), size=size)
    document.write_bytes(b"%PDF short")
    with pytest.raises(TelaConfigError, match="shrank"):
        hook.upload_file(TelaFile(document), size=size)
    stats = tela_env.stats()
    assert stats["bytes_uploaded"] == 0 and stats["runs_created"] == 0
    assert not any(f.get("uploaded") for f in tela_env.files())


def test_options_that_cannot_be_sent_fail_before_any_upload(tela_env, tmp_path):
    document = tmp_path / "a.pdf"
    document.write_bytes(b"%PDF body")
    with pytest.raises(TelaConfigError, match="cannot be sent as JSON"):
        TelaHook().submit_run(canvas_id="canvas-file", variables={"document": TelaFile(document, {"range": [0], "when": object()})})
    stats = tela_env.stats()
    assert stats["files_created"] == 0 and stats["uploads"] == 0 and stats["runs_created"] == 0


del Path
