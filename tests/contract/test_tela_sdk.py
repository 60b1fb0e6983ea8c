"""Tela's official Python SDK (``tela`` on PyPI) against the emulator, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

import pytest
import tela
from pydantic import TypeAdapter
from tela.types.chat.chat_completions_create_param import ChatCompletionCreateOverrideParams

from airflow_provider_tela.models import CompletionRequest
from airflow_provider_tela.testing import TelaEmulator

TEXT = {"document": "hello from the SDK"}


@pytest.fixture
def client(tela_emulator: TelaEmulator) -> tela.Tela:
    sdk = tela.Tela(api_key=tela_emulator.api_key, base_url=tela_emulator.url, max_retries=0, timeout=10)
    yield sdk
    sdk.close()


def accepted(emulator: TelaEmulator, runs: int = 1) -> dict[str, Any]:
    """Every request the SDK made fitted the spec and created a run; the last run's summary."""
    stats = emulator.stats()
    assert stats["spec_rejections"] == 0 and stats["runs_created"] == runs
    return emulator.runs()[-1]


def test_sync_completion_by_canvas(client, tela_emulator):
    completion = client.completions.create(canvas_id="canvas-echo", variables=TEXT)
    run = accepted(tela_emulator)
    assert completion.id == run["id"] and completion.object == "chat.completion" and completion.created > 0
    message = completion.choices[0].message
    assert message.role == "assistant" and message.content["variables"] == TEXT
    assert run["mode"] == "sync" and run["raw_input"]["variables"] == TEXT


def test_a_completion_by_application_creates_a_task(client, tela_emulator):
    """Tela's guide: an application_id makes a Workstation task, "created as if [it] were an async
    completion", even when the SDK asks for a synchronous completion. The SDK's request is accepted as it is
    sent; what it makes of the task it gets back is the SDK's (its types predate Workstation)."""
    with contextlib.suppress(Exception):  # the SDK may not read a task answer: the request is what is checked
        client.completions.create(application_id="app-echo", variables=TEXT)
    [task] = tela_emulator.tasks()
    assert task["promptApplicationId"] == "app-echo" and task["inputContent"]["variables"] == TEXT
    assert tela_emulator.stats()["spec_rejections"] == 0


def test_messages_as_in_the_guide(client, tela_emulator):
    """The Python SDK example of the guide 'Integrating via API', sent as it is written there."""
    messages = [
        {"role": "assistant", "content": {"type": "text", "text": "Hello, how can I assist you today?"}},
        {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://example.com/image.png",
                                                                         "detail": "high"}}},
        {"role": "user", "content": "Thanks!"},
    ]
    completion = client.completions.create(canvas_id="canvas-echo", variables=TEXT, messages=messages)
    assert accepted(tela_emulator)["raw_input"]["messages"] == messages
    assert completion.choices[0].message.content["messages"] == messages


def test_override_with_structured_output(client, tela_emulator):
    override = {
        "type": "chat", "model": "gpt-4o", "temperature": 0.1,
        "structured_output": {"enabled": True, "schema": {
            "type": "object", "title": "Review", "description": "A review",
            "properties": {"title": {"type": "string"}, "score": {"type": "number"}}, "required": ["title"]}},
    }
    completion = client.completions.create(canvas_id="canvas-structured", variables={"text": "Great"}, override=override)
    assert accepted(tela_emulator)["raw_input"]["override"] == override
    message = completion.choices[0].message
    assert message.content == message.structured_content == {"title": "example title", "score": 1}


def test_webhook(client, tela_emulator, webhook_receiver):
    url, received = webhook_receiver
    created = client.completions.create(canvas_id="canvas-echo", variables=TEXT, webhook_url=url)
    assert type(created).__name__ == "ChatCompletionWebhookResponse"
    assert created.status == "created" and created.id
    headers, payload = received.get(timeout=10)
    assert headers["x-completion-run-id"] == created.id
    assert payload["choices"][0]["message"]["content"]["variables"] == TEXT
    assert accepted(tela_emulator)["mode"] == "webhook"


def test_streaming(client, tela_emulator):
    chunks = list(client.completions.create(canvas_id="canvas-echo", variables=TEXT, stream=True))
    assert len(chunks) >= 2 and all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices[0].delta)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop" and text == final.message.content["text"]
    assert accepted(tela_emulator)["mode"] == "stream"


def test_file_from_url(client, tela_emulator):
    document = client.create_file("https://example.com/sample-invoice.pdf", {"range": [0, 1], "parser_type": "fast"})
    completion = client.completions.create(canvas_id="canvas-file", variables={"document": document})
    sent = {"file_url": "https://example.com/sample-invoice.pdf", "options": {"range": [0, 1], "parser_type": "fast"}}
    assert accepted(tela_emulator)["raw_input"]["variables"] == {"document": sent}
    assert completion.choices[0].message.content["variables"]["document"] == sent
    assert tela_emulator.stats()["files_created"] == 0  # a URL is not uploaded


def test_file_from_bytes_pinned_bug_reads_camel_case_upload_urls(client, tela_emulator):
    """tela 0.2.2 declares upload_url/download_url but reads ``response.uploadUrl``: against the
    documented snake_case answer the upload fails before any byte is sent. When this test fails,
    the SDK was fixed: drop the pin and the emulator's file_url_style="both" below."""
    with pytest.raises(AttributeError, match="uploadUrl"):
        client.completions.create(canvas_id="canvas-file", variables={"document": client.create_file(b"%PDF-1.4 a")})
    stats = tela_emulator.stats()
    assert (stats["files_created"], stats["uploads"], stats["runs_created"]) == (1, 0, 0)


def test_file_from_bytes(client, tela_emulator):
    data = b"%PDF-1.4 " + bytes(range(256)) * 16
    tela_emulator.configure(file_url_style="both")  # see the pinned bug above
    completion = client.completions.create(canvas_id="canvas-file", variables={"document": client.create_file(data)})
    [stored] = tela_emulator.files()
    assert stored["sha256"] == hashlib.sha256(data).hexdigest() and stored["size"] == len(data)
    assert stored["content_type"] == "application/octet-stream"  # the SDK sends every file as octet-stream
    arrived = completion.choices[0].message.content["variables"]["document"]
    assert arrived["file_url"] == stored["download_url"] and arrived["sha256"] == stored["sha256"]
    assert accepted(tela_emulator)["raw_input"]["variables"]["document"]["options"] == {}


def test_errors_use_tela_s_body(client, tela_emulator):
    with pytest.raises(tela.NotFoundError) as info:
        client.completions.create(canvas_id="no-such-canvas", variables=TEXT)
    assert info.value.status_code == 404 and info.value.code == "not_found"
    assert info.value.body["message"] == "canvas 'no-such-canvas' not found"


def test_pinned_the_sdk_sends_an_override_without_type(client, tela_emulator):
    """The SDK's types mark override.type Required, but nothing enforces it at run time: the SDK
    sends what the spec rejects, and the emulator answers 400 naming the field."""
    with pytest.raises(tela.BadRequestError) as info:
        client.completions.create(canvas_id="canvas-echo", variables=TEXT, override={"model": "gpt-4o"})
    assert info.value.code == "invalid_request"
    assert info.value.body["details"] == [{"path": "override", "message": "'type' is a required property"}]
    assert tela_emulator.stats()["runs_created"] == 0


@pytest.mark.parametrize("value", [3, True])
def test_pinned_the_sdk_s_int_and_bool_variables_break_the_spec(client, tela_emulator, value):
    """The SDK's types allow int and bool variables and send them as JSON numbers / booleans; the
    OpenAPI's Variables allow strings and files only. The provider converts them to text instead."""
    with pytest.raises(tela.BadRequestError) as info:
        client.completions.create(canvas_id="canvas-echo", variables={"document": "d", "n": value})
    assert info.value.body["details"][0]["path"] == "variables.n"
    provider_payload = CompletionRequest.build(canvas_id="canvas-echo", variables={"document": "d", "n": value}).to_payload()
    client.completions.create(**provider_payload)  # the provider's spelling of the same variables passes
    stats = tela_emulator.stats()
    assert (stats["spec_rejections"], stats["runs_created"]) == (1, 1)
    assert tela_emulator.runs()[0]["raw_input"]["variables"]["n"] == str(value).lower()


def test_the_provider_s_overrides_satisfy_the_sdk_s_types():
    """What the provider sends as override is valid for the SDK's TypedDict (Required fields included)."""
    sdk_override = TypeAdapter(ChatCompletionCreateOverrideParams)
    payload = CompletionRequest.build(canvas_id="c", override={
        "model": "m",
        "functions": [{"name": "lookup", "parameters": {"properties": {"q": {"type": "string"}}}}],
        "structured_output": {"schema": {"properties": {"a": {"type": "string"}}}},
    }).to_payload()
    sdk_override.validate_python(payload["override"])
    with pytest.raises(Exception, match="type"):
        sdk_override.validate_python({"model": "m"})  # the check can fail: an override without type is refused


@pytest.mark.parametrize("kind", ["sse_error", "sse_error_event"])
def test_streaming_error_frames_raise_in_the_sdk(client, tela_emulator, kind):
    """The SDK raises on both error-frame spellings the emulator can send (issue 9, item 8)."""
    tela_emulator.add_fault(kind, method="POST", path="/v2/chat/completions", count=1)
    with pytest.raises(tela.APIError, match="failed mid-stream"):
        list(client.completions.create(canvas_id="canvas-echo", variables=TEXT, stream=True))
