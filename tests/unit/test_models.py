from __future__ import annotations

import pytest

from airflow_provider_tela._http.responses import validate
from airflow_provider_tela.errors import TelaBadResponseError, TelaConfigError
from airflow_provider_tela.models import (
    CanvasRun,
    ChatCompletion,
    CompletionRequest,
    RunStatus,
)


def parse_model(model, data, what):
    return validate(model, data, what, ())


def test_request_needs_exactly_one_target():
    with pytest.raises(TelaConfigError, match="exactly one of canvas_id"):
        CompletionRequest.build(variables={})
    with pytest.raises(TelaConfigError, match="exactly one of canvas_id"):
        CompletionRequest.build(canvas_id="c", application_id="a")


def test_request_payload_mirrors_the_api():
    request = CompletionRequest.build(
        canvas_id="c1",
        variables={"doc": "text", "file": {"file_url": "https://x/y.pdf", "options": {"range": [0, 1]}}},
        messages=[{"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://i", "detail": "high"}}}],
        override={"model": "gpt", "temperature": 0.2, "structured_output": {"enabled": True, "schema": {"properties": {"a": {"type": "string"}}}}},
        **{"async": True},
    )
    payload = request.to_payload()
    assert payload == {
        "canvas_id": "c1",
        "variables": {"doc": "text", "file": {"file_url": "https://x/y.pdf", "options": {"range": [0, 1]}}},
        "messages": [{"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://i", "detail": "high"}}}],
        "override": {
            "model": "gpt", "temperature": 0.2, "type": "chat",  # type is required by the spec: "chat" by default
            "structured_output": {"enabled": True, "schema": {
                "type": "object", "properties": {"a": {"type": "string"}},
                # required by Tela's SDK; filled when not given
                "title": "output", "description": "Structured output of the canvas run"}},
        },
        "async": True,
    }


@pytest.mark.parametrize(
    "fields, named",
    [
        ({"canvas_id": "c", "variables": {"doc": 3.5}}, "variable 'doc' must be text"),
        ({"canvas_id": "c", "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"canvas_id": "c", "messages": [{"role": "user"}]}, "messages.0.content"),
        ({"canvas_id": "c", "override": {"temperature": 7}}, "override.temperature"),
        ({"canvas_id": "c", "override": {"modle": "x"}}, "override.modle"),
        ({"canvas_id": "c", "variables": {"f": {"file_url": ""}}}, "variables.f"),
    ],
)
def test_bad_request_fields_are_named(fields, named):
    with pytest.raises(TelaConfigError) as info:
        CompletionRequest.build(**fields)
    assert named in str(info.value)


def test_run_parses_documented_fields_and_keeps_unknown_ones():
    run = parse_model(
        CanvasRun,
        {
            "id": "r1", "status": "succeeded", "brand_new_field": 1,
            "output_content": {
                "content": {"text": "hi"}, "has_structured_output": False,
                "information": {"duration": 1.5, "cost": 0.01, "input_tokens": 10, "output_tokens": 2},
            },
        },
        "run r1",
    )
    assert run.status == RunStatus.SUCCEEDED
    assert run.content == {"text": "hi"}
    assert run.usage == {"duration": 1.5, "cost": 0.01, "input_tokens": 10, "output_tokens": 2}
    assert run.model_extra == {"brand_new_field": 1}


def test_unknown_status_is_kept_and_a_missing_id_is_named():
    # Tela may add statuses: reading one must not fail a paid run (waits read it as "not finished")
    assert parse_model(CanvasRun, {"id": "r", "status": "queued"}, "run r").status == "queued"
    with pytest.raises(TelaBadResponseError, match="id"):
        parse_model(CanvasRun, {"status": "running"}, "run r")
    with pytest.raises(TelaBadResponseError, match="status"):
        parse_model(CanvasRun, {"id": "r", "status": ""}, "run r")


@pytest.mark.parametrize(
    "body, reason",
    [
        ({"error": {"message": "boom"}}, "boom"),
        ({"raw_output": {"error": {"message": "deep"}}}, "deep"),
        ({"output_content": {"content": {"error": "inline"}}}, "inline"),
        ({}, "gave no reason"),
    ],
)
def test_failure_reason_found_wherever_tela_puts_it(body, reason):
    run = CanvasRun.model_validate({"id": "r", "status": "failed", **body})
    assert reason in run.failure_reason()


def test_completion_content_is_unchanged():
    completion = ChatCompletion.model_validate(
        {"id": "x", "object": "chat.completion", "created": 1, "choices": [{"message": {"role": "assistant", "content": {"text": "t"}}}]}
    )
    assert completion.content == {"text": "t"}
    with pytest.raises(TelaBadResponseError, match="choices"):
        parse_model(ChatCompletion, {"id": "x", "choices": []}, "a completion")
