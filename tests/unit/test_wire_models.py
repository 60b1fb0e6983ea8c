"""Wire fidelity of the models (issue 9): a strict writer that sends what Tela's OpenAPI and SDK
require, and a tolerant reader of what Tela answers. Items are numbered as in the issue."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from airflow_provider_tela import TelaFile
from airflow_provider_tela._http.responses import validate
from airflow_provider_tela._inputs import FileSlots, files_in, output_schema_override, resolve_variables, variable_kind
from airflow_provider_tela.errors import TelaConfigError
from airflow_provider_tela.models import (
    MANAGED_FIELDS,
    CanvasRun,
    ChatCompletion,
    CompletionChunk,
    CompletionRequest,
    FileUploadTarget,
    PromotedVersion,
    ToolCall,
)


def parse_model(model, data, what):
    return validate(model, data, what, ())


def payload(**fields: Any) -> dict[str, Any]:
    return CompletionRequest.build(canvas_id="c", **fields).to_payload()


def refused(**fields: Any) -> str:
    with pytest.raises(TelaConfigError) as info:
        CompletionRequest.build(canvas_id="c", **fields)
    return str(info.value)


# --- 1. Override.type is always sent -------------------------------------------------------------


@pytest.mark.parametrize(("given", "sent"), [
    ({"model": "gpt-4o"}, "chat"),
    ({"type": None, "temperature": 0.1}, "chat"),
    ({}, "chat"),
    ({"type": "completion"}, "completion"),
    ({"type": "chat"}, "chat"),
])
def test_override_always_carries_a_valid_type(given: dict[str, Any], sent: str) -> None:
    assert payload(override=given)["override"]["type"] == sent


def test_no_override_sends_none() -> None:
    assert "override" not in payload(variables={"d": "x"})


def test_override_type_outside_the_enum_is_refused() -> None:
    assert "override.type: Input should be 'chat' or 'completion'" in refused(override={"type": "fast"})


def test_output_schema_alone_sends_a_typed_override() -> None:
    class Review(BaseModel):
        title: str

    override = payload(override=output_schema_override(Review, None))["override"]
    assert override["type"] == "chat" and override["structured_output"]["enabled"] is True


# --- 2. fields the SDK requires where the spec does not ------------------------------------------


def test_function_id_defaults_to_its_name() -> None:
    functions = payload(override={"functions": [
        {"name": "lookup", "parameters": {"properties": {"q": {"type": "string"}}}},
        {"id": "fn-2", "name": "other"},
    ]})["override"]["functions"]
    assert functions[0] == {"id": "lookup", "name": "lookup",
                            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    assert functions[1] == {"id": "fn-2", "name": "other"}


def test_function_parameters_always_carry_type_and_properties() -> None:
    [function] = payload(override={"functions": [{"name": "f", "parameters": {}}]})["override"]["functions"]
    assert function["parameters"] == {"type": "object", "properties": {}}


def test_structured_output_schema_always_has_title_and_description() -> None:
    class Invoice(BaseModel):
        """An invoice's header."""

        number: str

    filled = payload(override=output_schema_override({"properties": {"a": {"type": "string"}}}, None))
    schema = filled["override"]["structured_output"]["schema"]
    assert (schema["title"], schema["description"]) == ("output", "Structured output of the canvas run")
    from_model = payload(override=output_schema_override(Invoice, None))["override"]["structured_output"]["schema"]
    assert (from_model["title"], from_model["description"]) == ("Invoice", "An invoice's header.")
    assert from_model["properties"] == {"number": {"title": "Number", "type": "string"}}


def test_system_messages_are_refused_with_the_fix() -> None:
    message = refused(messages=[{"role": "system", "content": "Be brief."}])
    assert "messages.0.role" in message and "'user' and 'assistant'" in message and "canvas's prompt" in message


# --- 3. variables: int, bool, several files, file option spellings ------------------------------


@pytest.mark.parametrize(("given", "sent"), [(3, "3"), (0, "0"), (-12, "-12"), (True, "true"), (False, "false")])
def test_ints_and_bools_are_sent_as_text(given: Any, sent: str) -> None:
    assert payload(variables={"n": given})["variables"] == {"n": sent}


@pytest.mark.parametrize(("given", "says"), [(2.5, "f'{value:.2f}'"), (None, "leave the variable out"),
                                             ({1, 2}, "str(value)")])
def test_other_scalars_are_refused(given: Any, says: str) -> None:
    message = refused(variables={"n": given})
    assert "variable 'n' must be text" in message and says in message


def test_a_list_of_files_is_sent_as_files() -> None:
    files = [{"file_url": "https://x/a.pdf"}, {"file_url": "https://x/b.pdf", "options": {"range": [0, 2]}}]
    expected = {"files": files}
    assert payload(variables={"docs": files})["variables"]["docs"] == expected
    assert payload(variables={"docs": tuple(files)})["variables"]["docs"] == expected
    assert payload(variables={"docs": {"files": files}})["variables"]["docs"] == expected


@pytest.mark.parametrize(("given", "says"), [
    ([], "'docs' is an empty list"),
    (["https://x/a.pdf"], "item 0 is str"),
    ({"files": []}, "variables.docs.files.files: List should have at least 1 item"),
    ({"files": [{"url": "u"}]}, "variables.docs.files.files.0.file_url: Field required"),
    ({"file_url": ""}, "variables.docs.file.file_url"),
])
def test_bad_file_lists_are_named(given: Any, says: str) -> None:
    assert says in refused(variables={"docs": given})


def test_a_list_of_files_in_the_input_layer(tmp_path: Path) -> None:
    local = tmp_path / "scan.pdf"
    local.write_bytes(b"%PDF")
    url, on_disk = TelaFile("https://x/a.pdf", {"range": [0, 1]}), local
    variables = {"docs": [url, on_disk], "note": "text"}
    assert files_in(variables, None) == [url, on_disk]
    slots = FileSlots()
    resolved = resolve_variables(variables, slots)
    first, second = resolved["docs"]
    assert first["options"] == {"range": [0, 1]} and "options" not in second
    assert [slots.files[first["file_url"]], slots.files[second["file_url"]]] == [url, TelaFile(on_disk)]
    assert resolve_variables(variables, FileSlots()) == resolved  # a slot names its file, the same each time
    sent = payload(variables=resolved)["variables"]
    assert sent["docs"] == {"files": resolved["docs"]} and sent["note"] == "text"
    assert variable_kind([url]) == variable_kind({"files": []}) == "file" and variable_kind("x") == "text"


def test_parser_type_is_sent_in_the_sdk_spelling() -> None:
    def options(given: dict[str, Any]) -> dict[str, Any]:
        return payload(variables={"d": {"file_url": "https://x/a.pdf", "options": given}})["variables"]["d"]["options"]

    assert options({"parserType": "tela-pdf-parser"}) == {"parser_type": "tela-pdf-parser"}
    assert options({"parser_type": "p", "parserType": "p"}) == {"parser_type": "p"}
    assert options({"parser_type": "p", "range": [0, 1], "dpi": 300}) == {"range": [0, 1], "parser_type": "p", "dpi": 300}
    assert "parser_type or parserType" in refused(
        variables={"d": {"file_url": "https://x/a.pdf", "options": {"parser_type": "a", "parserType": "b"}}})
    assert TelaFile("https://x/a.pdf", {"parserType": "q"}).to_variable()["options"] == {"parserType": "q"}


# --- 4. extra_body ---------------------------------------------------------------------------------


def test_extra_body_is_merged_into_the_payload() -> None:
    sent = payload(variables={"d": "x"}, extra_body={"long_response": True, "note": "nightly", "priority": None})
    assert sent == {"canvas_id": "c", "variables": {"d": "x"}, "long_response": True, "note": "nightly",
                    "priority": None}
    request = CompletionRequest.build(canvas_id="c", extra_body={"note": "x"})
    assert "extra_body" not in request.model_dump(by_alias=True)


@pytest.mark.parametrize("key", sorted(MANAGED_FIELDS))
def test_extra_body_may_not_set_a_managed_field(key: str) -> None:
    assert f"extra_body may not set {key!r}" in refused(extra_body={key: "x", "note": "y"})


def test_managed_fields_are_the_api_s_names() -> None:
    assert {"canvas_id", "application_id", "version_id", "label", "tags", "variables", "messages", "override",
            "stream", "async", "webhook_url"} == MANAGED_FIELDS


@pytest.mark.parametrize("value", [object(), math.nan, {"nested": {1, 2}}])
def test_extra_body_must_be_plain_json(value: Any) -> None:
    assert "extra_body must be plain JSON" in refused(extra_body={"note": value})


def test_new_override_fields_go_through_the_override_s_extra_body() -> None:
    sent = payload(override={"model": "m", "extra_body": {"reasoning_effort": "high"}})
    assert sent["override"] == {"model": "m", "type": "chat", "reasoning_effort": "high"}
    assert "override.extra_body may not set 'model'" in refused(override={"extra_body": {"model": "x"}})
    assert "override.extra_body must be plain JSON" in refused(override={"extra_body": {"x": math.inf}})
    assert "Extra inputs are not permitted" in refused(override={"modle": "m"})  # the typo guard stays
    assert "override={..., 'extra_body'" in refused(extra_body={"override": {"model": "m"}})


def test_function_parameters_keep_every_json_schema_key() -> None:
    class Args(BaseModel):
        """Where to look."""

        city: str
        days: int = 1

    schema = Args.model_json_schema()
    [function] = payload(override={"functions": [{"name": "weather", "parameters": schema}]})["override"]["functions"]
    assert function["parameters"] == schema  # title, description, required, ... as pydantic wrote them
    extra = {"type": "object", "properties": {}, "additionalProperties": False, "$defs": {"X": {}}}
    [function] = payload(override={"functions": [{"name": "f", "parameters": extra}]})["override"]["functions"]
    assert function["parameters"] == extra


# --- 5. tool and function call arguments: a string or an object -----------------------------------

ARGS = {"city": "Recife", "days": 3}


@pytest.mark.parametrize("arguments", [ARGS, '{"city": "Recife", "days": 3}'])
def test_tool_call_arguments_may_be_an_object_or_a_string(arguments: Any) -> None:
    run = parse_model(CanvasRun, {"id": "r", "status": "succeeded", "output_content": {
        "content": {"text": ""}, "tool_calls": [{"name": "weather", "arguments": arguments}]}}, "run r")
    [call] = run.output_content.tool_calls
    assert call.arguments == arguments and call.parsed_arguments == ARGS
    completion = parse_model(ChatCompletion, {"choices": [{"message": {
        "role": "assistant", "content": "", "tool_calls": [{"name": "weather", "arguments": arguments}]}}]}, "c")
    assert completion.choices[0].message.tool_calls[0].parsed_arguments == ARGS
    chunk = parse_model(CompletionChunk, {"choices": [{"delta": {"function_call": {
        "name": "weather", "arguments": arguments}}}]}, "a chunk")
    assert chunk.choices[0].delta.function_call.parsed_arguments == ARGS


def test_arguments_that_are_not_an_object_parse_to_none() -> None:
    assert ToolCall(arguments='{"city": ').parsed_arguments is None  # a streamed fragment
    assert ToolCall(arguments="[1, 2]").parsed_arguments is None
    assert ToolCall().parsed_arguments is None


# --- 7. POST /v2/file in either spelling ---------------------------------------------------------


@pytest.mark.parametrize("answer", [
    {"upload_url": "https://up", "download_url": "https://down"},
    {"uploadUrl": "https://up", "downloadUrl": "https://down"},
    {"upload_url": "https://up", "downloadUrl": "https://down", "expiresIn": 900},
])
def test_file_upload_target_accepts_both_spellings(answer: dict[str, Any]) -> None:
    target = parse_model(FileUploadTarget, answer, "a file upload request")
    assert (target.upload_url, target.download_url) == ("https://up", "https://down")


def test_file_upload_target_without_urls_is_named() -> None:
    with pytest.raises(Exception, match="upload_url"):
        parse_model(FileUploadTarget, {"url": "x"}, "a file upload request")


# --- 9. unknown fields kept, unknown values in non-essential places tolerated ---------------------


def test_a_run_from_a_newer_api_parses_and_keeps_what_it_does_not_know() -> None:
    document = {
        "id": "r1", "status": "succeeded", "deleted_at": None, "priority": "high",
        "input_content": {
            "variables": {"d": {"file_url": "u", "options": {"parserType": "x"}}, "many": {"files": [{"file_url": "u"}]}},
            "messages": [{"role": "tool", "content": {"type": "audio", "audio": {}}, "name": "x"}],
            "files": [{"name": "d", "used_at": "tools", "type": "video", "url": "u", "parsed_content": "",
                       "pages": 3}],
            "attachments": [],
        },
        "output_content": {
            "role": "function", "content": {"text": "hi"}, "has_structured_output": False, "reasoning": "...",
            "tool_calls": [{"name": "t", "arguments": {"a": 1}, "id": "call-1", "type": "function"}],
            "information": {"duration": 1.5, "cost": 0.1, "input_tokens": 3, "output_tokens": 4, "cached_tokens": 2},
        },
        "raw_input": {"canvas_id": "c", "override": {"type": "agent"}, "label": "nightly", "long_response": True},
        "raw_output": {"anything": [1, 2]},
    }
    run = parse_model(CanvasRun, document, "run r1")
    assert run.model_extra == {"deleted_at": None, "priority": "high"}
    assert run.input_content.model_extra == {"attachments": []}
    assert run.input_content.files[0].used_at == "tools" and run.input_content.files[0].model_extra == {"pages": 3}
    assert run.output_content.role == "function" and run.output_content.model_extra == {"reasoning": "..."}
    assert run.output_content.tool_calls[0].model_extra == {"id": "call-1", "type": "function"}
    assert run.output_content.information.model_extra == {"cached_tokens": 2}
    assert run.raw_input.model_extra == {"label": "nightly", "long_response": True}
    assert run.raw_input.override == {"type": "agent"}
    assert run.usage["cached_tokens"] == 2


@pytest.mark.parametrize(("drift", "where"), [
    ({"created_at": 1728399621}, lambda run: run),
    ({"raw_output": "text"}, lambda run: run),
    ({"compatibility_date": 20240101}, lambda run: run),
    ({"raw_input": {"messages": "x"}}, lambda run: run.raw_input),
    ({"input_content": ["x"]}, lambda run: run),
    ({"output_content": {"content": "hi", "information": {"duration": "1.2s", "cost": 0.1}}},
     lambda run: run.output_content.information),
    ({"output_content": {"content": "hi", "information": {"input_tokens": 3.5}}},
     lambda run: run.output_content.information),
    ({"output_content": {"content": "hi", "has_structured_output": "maybe", "input_messages": ["m"]}},
     lambda run: run.output_content),
])
def test_a_paid_run_with_a_drifted_field_still_parses(drift: dict[str, Any], where: Any) -> None:
    """Tela's SDK builds answers without validating them: a known field of another type than
    documented must not fail a run that is already paid for. It reads as None, its raw value kept."""
    run = parse_model(CanvasRun, {"id": "r", "status": "succeeded", **drift}, "run r")
    assert run.status == "succeeded" and where(run).unreadable
    for name, value in where(run).unreadable.items():
        assert getattr(where(run), name) is None and value is not None
    if "output_content" in drift:
        assert run.content == "hi"


def test_a_completion_with_drifted_fields_keeps_its_content() -> None:
    completion = parse_model(ChatCompletion, {"created": "yesterday", "usage": "many", "choices": [
        {"finish_reason": 5, "message": {"role": ["a"], "content": "c"}}]}, "a completion")
    assert completion.content == "c"
    assert completion.unreadable == {"created": "yesterday", "usage": "many"}
    assert completion.choices[0].unreadable == {"finish_reason": 5}
    assert completion.choices[0].message.unreadable == {"role": ["a"]}


@pytest.mark.parametrize("document", [
    {"id": 5, "status": "succeeded"},                                    # required: the run's id
    {"id": "r", "status": ["succeeded"]},                                # required: its status
    {"id": "r", "status": "succeeded", "output_content": "hi"},          # the output itself
    {"id": "r", "status": "succeeded", "output_content": {"tool_calls": {"name": "t"}}},
    {"id": "r", "status": "succeeded", "output_content": {"tool_calls": [{"arguments": [1]}]}},
])
def test_a_run_whose_id_status_or_output_cannot_be_read_fails(document: dict[str, Any]) -> None:
    from airflow_provider_tela.errors import TelaBadResponseError

    with pytest.raises(TelaBadResponseError):
        parse_model(CanvasRun, document, "run r")


def test_a_completion_whose_output_cannot_be_read_fails() -> None:
    from airflow_provider_tela.errors import TelaBadResponseError

    for document in ({"choices": "x"}, {"choices": [{"message": "x"}]},
                     {"choices": [{"message": {"content": "c", "tool_calls": "t"}}]}):
        with pytest.raises(TelaBadResponseError):
            parse_model(ChatCompletion, document, "a completion")


def test_completions_chunks_and_versions_keep_unknown_fields() -> None:
    completion = parse_model(ChatCompletion, {
        "id": "x", "object": "chat.completion.v3", "created": 1, "system_fingerprint": "fp",
        "choices": [{"index": 0, "finish_reason": "content_filter", "logprobs": None,
                     "message": {"role": "tool", "content": "c", "refusal": None}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "prompt_tokens_details": {}},
    }, "a completion")
    assert completion.model_extra == {"system_fingerprint": "fp"}
    assert completion.choices[0].model_extra == {"index": 0, "logprobs": None}
    assert completion.choices[0].message.model_extra == {"refusal": None}
    assert completion.usage.model_extra == {"prompt_tokens_details": {}}
    chunk = parse_model(CompletionChunk, {"object": "chunk", "service_tier": "x", "choices": [
        {"index": 0, "delta": {"role": "tool", "content": "a", "audio": None}, "finish_reason": "length"}]}, "a chunk")
    assert chunk.model_extra == {"service_tier": "x"} and chunk.choices[0].delta.model_extra == {"audio": None}
    version = parse_model(PromotedVersion, {"id": "v", "promptId": "c", "variables": [
        {"name": "scan", "type": "image", "required": True, "processingOptions": {"ocr": True}, "maxSize": 10}]}, "v")
    assert version.model_extra == {"promptId": "c"}
    assert version.variables[0].type == "image" and version.variables[0].model_extra == {"maxSize": 10}


def test_drift_is_warned_once_per_field_never_with_its_value(monkeypatch) -> None:
    import logging

    from airflow_provider_tela import models

    said: list[str] = []
    monkeypatch.setattr(models, "_drift_seen", set())
    monkeypatch.setattr(logging.getLogger("airflow_provider_tela"), "warning",
                        lambda message, *args: said.append(message % args))
    for _ in range(3):
        parse_model(CanvasRun, {"id": "r", "status": "succeeded", "created_at": 1234567, "raw_output": "sk-x"}, "r")
    assert len(said) == 1 and "created_at, raw_output" in said[0] and "1234567" not in said[0] and "sk-x" not in said[0]
