"""The provider's requests, judged by Tela's OpenAPI: the emulator validates every completion body
against the schemas of Tela's documentation page, so anything off-spec fails here with a 400."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import BaseModel

from airflow_provider_tela import TelaFile
from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._inputs import output_schema_override
from airflow_provider_tela.errors import TelaBadRequestError

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8


class Review(BaseModel):
    """A short review of the document."""

    title: str
    score: float


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(PDF)
    return path


def everything(pdf: Path) -> dict:
    """One of every input the provider documents, in a single request."""
    override = output_schema_override(Review, {
        "model": "gpt-4o", "temperature": 0.2,
        "functions": [{"name": "lookup", "parameters": {"properties": {"q": {"type": "string"}}, "required": ["q"]}}],
    })
    return {
        "canvas_id": "canvas-echo",
        "variables": {
            "document": "text", "count": 3, "flag": True,
            "upload": TelaFile(pdf, {"range": [0, 1], "parserType": "tela-pdf-parser"}),
            "url": TelaFile("https://example.com/a.pdf"),
            "inline": TelaFile("data:application/pdf;base64,JVBERi0xLjUK"),
            "many": [TelaFile(PDF, name="one.pdf"), pdf, TelaFile("https://example.com/b.pdf")],
        },
        "messages": [
            {"role": "user", "content": "Keep it short."},
            {"role": "assistant", "content": {"type": "text", "text": "How can I help?"}},
            {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://x/scan.png", "detail": "low"}}},
            {"role": "user", "content": TelaFile(PDF, name="annex.pdf")},
        ],
        "override": override,
    }


def test_every_provider_mode_passes_the_spec(hook, tela_env, pdf):
    hook.create_completion(**everything(pdf))
    run = hook.submit_run(**everything(pdf))
    hook.submit_run(**everything(pdf), webhook_url="http://127.0.0.1:9/unused")
    chunks = list(hook.stream_completion(**everything(pdf)))
    assert run.id and chunks
    stats = tela_env.stats()
    assert stats["spec_rejections"] == 0 and stats["runs_created"] == 4
    assert stats["runs_by_mode"] == {"sync": 1, "async": 1, "webhook": 1, "stream": 1}


def test_what_arrives_is_what_the_spec_and_the_sdk_require(hook, tela_env, pdf):
    hook.submit_run(**everything(pdf))
    [run] = tela_env.runs()
    raw = run["raw_input"]
    override = raw["override"]
    assert override["type"] == "chat"
    assert override["functions"][0]["id"] == "lookup"
    schema = override["structured_output"]["schema"]
    assert (schema["title"], schema["description"]) == ("Review", "A short review of the document.")
    variables = raw["variables"]
    assert (variables["count"], variables["flag"]) == ("3", "true")
    assert variables["upload"]["options"] == {"range": [0, 1], "parser_type": "tela-pdf-parser"}
    many = variables["many"]["files"]
    assert [f["file_url"].startswith(tela_env.url) for f in many] == [True, True, False]
    assert [m["role"] for m in raw["messages"]] == ["user", "assistant", "user", "user"]
    assert set(raw["messages"][3]["content"]) == {"file_url"}


def test_several_files_in_one_variable_arrive_byte_for_byte(hook, tela_env, pdf):
    other = b"%PDF-1.7 second document"
    content = hook.create_completion(canvas_id="canvas-file", variables={
        "document": [TelaFile(pdf), TelaFile(other, name="second.pdf", options={"range": [2, 3]})]}).content
    files = content["variables"]["document"]["files"]
    assert [f["sha256"] for f in files] == [hashlib.sha256(PDF).hexdigest(), hashlib.sha256(other).hexdigest()]
    assert files[1]["options"] == {"range": [2, 3]} and "document (2 files)" in content["text"]
    stats = tela_env.stats()
    assert (stats["files_created"], stats["uploads"]) == (2, 2)


def test_a_request_without_override_type_would_have_been_caught(hook, tela_env):
    """What the provider sent before issue 9 (an override without 'type'): Tela's spec rejects it."""
    request = hook.prepare_request(canvas_id="canvas-echo", variables={"document": "d"}, override={"model": "m"})
    payload = request.to_payload()
    del payload["override"]["type"]
    with pytest.raises(TelaBadRequestError) as info:
        hook.transport.request(ApiCall("POST", "/v2/chat/completions", json=payload, creates_run=True))
    assert "override: 'type' is a required property" in str(info.value)
    assert tela_env.stats()["runs_created"] == 0


def test_extra_body_reaches_tela(hook, tela_env):
    request = hook.prepare_request(canvas_id="canvas-echo", variables={"document": "d"},
                                   extra_body={"long_response": True, "note": "nightly"}, **{"async": True})
    run = hook.submit_request(request)
    [seen] = tela_env.runs()
    assert seen["id"] == run.id and seen["extra_fields"] == {"long_response": True, "note": "nightly"}


@pytest.mark.parametrize("style", ["camel", "both"])
def test_uploads_work_whichever_way_tela_spells_the_upload_urls(hook, tela_env, style):
    tela_env.configure(file_url_style=style)
    variable = hook.upload_file(TelaFile(PDF, name="x.pdf"))
    [stored] = tela_env.files()
    assert variable["file_url"] == stored["download_url"] and stored["sha256"] == hashlib.sha256(PDF).hexdigest()


# --- items 6 and 8: what Tela may answer that the docs allow ---------------------------------------------


@pytest.mark.parametrize("kind", ["sse_error", "sse_error_event"])
def test_a_stream_error_frame_fails_the_run_even_when_done_follows(hook, tela_env, kind):
    from airflow_provider_tela.errors import TelaRunFailedError

    tela_env.add_fault(kind, method="POST", path="/v2/chat/completions", count=1)
    with pytest.raises(TelaRunFailedError) as info:
        list(hook.stream_completion(canvas_id="canvas-echo", variables={"document": "d"}))
    assert info.value.run_id == tela_env.runs()[0]["id"]


def test_an_async_reply_with_only_an_id_is_waited_for(hook, tela_env):
    tela_env.configure(async_reply="id")
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    assert run.status == "created"
    assert hook.wait_for_run(run.id, poll_interval=0.2, timeout=10).content["variables"] == {"document": "d"}
