"""The emulator judged by Tela's OpenAPI: request bodies are checked against the schemas parsed from
Tela's own documentation page (shipped verbatim), over real HTTP on 127.0.0.1."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_tela.testing import TelaEmulator, spec

COMPLETIONS = "/v2/chat/completions"
SHARED_PAGE = Path(__file__).resolve().parents[2].parent / "shared" / "tela-api" / spec.SPEC_PAGE
ERROR_KEYS = {"code", "message", "status", "name"}


def auth(emulator: TelaEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.api_key}"}


def post(emulator: TelaEmulator, body: Any) -> requests.Response:
    return requests.post(emulator.url + COMPLETIONS, json=body, headers=auth(emulator), timeout=10)


def echo(**fields: Any) -> dict[str, Any]:
    return {"canvas_id": "canvas-echo", "variables": {"document": "d"}, **fields}


# ----------------------------------------------------------------------------- the spec's source


# sha256 of Tela's "Retrieve Canvas Run" page as fetched into ../shared/tela-api/: pinned so that a
# checkout without that folder (a clean clone in CI) still proves the shipped page was not edited.
TELA_PAGE_SHA256 = "bf333d9938b0c5708f5d88e202a06b78d6315c3510cc54c5691e8a3ee8189617"


def test_the_shipped_page_is_tela_s_page_verbatim() -> None:
    shipped = spec.page_text().encode("utf-8")
    assert hashlib.sha256(shipped).hexdigest() == TELA_PAGE_SHA256
    if SHARED_PAGE.exists():  # beside the project's documentation folder: the page itself, byte for byte
        assert shipped == SHARED_PAGE.read_bytes()


def test_the_schemas_are_parsed_from_the_page_not_typed_by_hand() -> None:
    text = spec.page_text()
    schemas = spec.load_openapi(text)["components"]["schemas"]
    assert schemas["Override"]["required"] == ["type"]
    assert schemas["Messages"]["items"]["properties"]["role"]["enum"] == ["user", "assistant"]
    # Change the page and the judgement changes with it: the page is the only source.
    relaxed = text.replace("      required:\n        - type\n    FileMessage:", "    FileMessage:")
    assert relaxed != text
    validator = spec.jsonschema.Draft4Validator(spec.completion_body_schema(spec.load_openapi(relaxed)))
    assert list(validator.iter_errors(echo(override={"model": "m"}))) == []
    assert [v.path for v in spec.check_completion_body(echo(override={"model": "m"}))] == ["override"]


def test_a_page_without_an_openapi_block_is_refused() -> None:
    with pytest.raises(ValueError, match="no ````yaml OpenAPI block"):
        spec.load_openapi("# Retrieve Canvas Run\n\nno schema here\n")


def test_nullable_becomes_json_schema_null() -> None:
    assert spec.to_json_schema({"type": "string", "nullable": True}) == {
        "anyOf": [{"type": "string"}, {"type": "null"}]}


# ----------------------------------------------------------------------------- rejected over HTTP

SPEC_BREAKS = [
    ("override without type", echo(override={"model": "gpt-4o"}), "override", "'type' is a required property"),
    ("override type not in the enum", echo(override={"type": "fast"}), "override.type", "is not one of ['chat', 'completion']"),
    ("temperature not a number", echo(override={"type": "chat", "temperature": "hot"}), "override.temperature", "not of type 'number'"),
    ("function parameters not an object", echo(override={"type": "chat", "functions": [
        {"id": "f", "name": "f", "parameters": {"type": "array"}}]}), "override.functions.0.parameters.type", "'object'"),
    ("structured output of an array", echo(override={"type": "chat", "structured_output": {
        "enabled": True, "schema": {"type": "array"}}}), "override.structured_output.schema.type", "'object'"),
    ("structured output flag not boolean", echo(override={"type": "chat", "structured_output": {"enabled": "yes"}}),
     "override.structured_output.enabled", "not of type 'boolean'"),
    ("integer variable", echo(variables={"document": 3}), "variables.document", "not of type 'string'"),
    ("boolean variable", echo(variables={"document": True}), "variables.document", "not valid under any"),
    ("null variable", echo(variables={"document": None}), "variables.document", "not valid under any"),
    ("list variable", echo(variables={"document": ["a"]}), "variables.document", "not valid under any"),
    ("file variable without file_url", echo(variables={"document": {"url": "https://x/a.pdf"}}), "variables.document", "not valid under any"),
    ("file_url not a string", echo(variables={"document": {"file_url": 3}}), "variables.document", "file_url: 3 is not of type 'string'"),
    ("file options not an object", echo(variables={"document": {"file_url": "https://x/a.pdf", "options": "fast"}}),
     "variables.document", "options: 'fast' is not of type 'object'"),
    ("empty list of files", echo(variables={"document": {"files": []}}), "variables.document", "files: [] should be non-empty"),
    ("file in a list without file_url", echo(variables={"document": {"files": [{"url": "u"}]}}), "variables.document",
     "files.0: 'file_url' is a required property"),
    ("messages not a list", echo(messages="hi"), "messages", "not of type 'array'"),
    ("system message", echo(messages=[{"role": "system", "content": "be brief"}]), "messages.0.role", "is not one of ['user', 'assistant']"),
    ("message without content", echo(messages=[{"role": "user"}]), "messages.0", "'content' is a required property"),
    ("message content a number", echo(messages=[{"role": "user", "content": 3}]), "messages.0.content", "not valid under any"),
    ("canvas_id not a string", {"canvas_id": 7}, "canvas_id", "not of type 'string'"),
    ("webhook_url not a string", echo(webhook_url=True), "webhook_url", "not of type 'string'"),
    ("stream not a boolean", echo(stream="yes"), "stream", "not of type 'boolean'"),
    ("async not a boolean", echo(**{"async": 1}), "async", "not of type 'boolean'"),
    ("body not an object", ["canvas-echo"], "(body)", "not of type 'object'"),
]


@pytest.mark.parametrize(("body", "path", "says"), [case[1:] for case in SPEC_BREAKS], ids=[c[0] for c in SPEC_BREAKS])
def test_what_the_spec_rejects_gets_a_400_naming_the_field(tela_emulator: TelaEmulator, body: Any, path: str,
                                                           says: str) -> None:
    response = post(tela_emulator, body)
    assert response.status_code == 400 and response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert set(error) >= ERROR_KEYS and (error["status"], error["name"]) == (400, "BadRequestError")
    assert error["message"].startswith("request body does not match Tela's OpenAPI: ")
    assert [detail["path"] for detail in error["details"]] == [path]
    assert says in error["details"][0]["message"] and says in error["message"]
    stats = tela_emulator.stats()
    assert stats["spec_rejections"] == 1 and stats["runs_created"] == 0


def test_every_violation_is_listed(tela_emulator: TelaEmulator) -> None:
    body = echo(override={"temperature": "hot"}, messages=[{"role": "robot", "content": "x"}], stream="no")
    error = post(tela_emulator, body).json()
    assert [d["path"] for d in error["details"]] == ["messages.0.role", "override", "override.temperature", "stream"]


# ----------------------------------------------------------------------------- accepted over HTTP


def test_the_guide_s_examples_pass(tela_emulator: TelaEmulator) -> None:
    """The shapes of the 'Integrating via API' guide, each accepted and run."""
    variables = {
        "document": "Document Content!",
        "invoice": {"file_url": "https://www.wmaccess.com/downloads/sample-invoice.pdf"},
        "inline": {"file_url": "data:application/pdf;base64,JVBERi0xLjUK"},
    }
    messages = [
        {"role": "assistant", "content": {"type": "text", "text": "Hello, how can I assist you today?"}},
        {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://example.com/image.png", "detail": "high"}}},
        {"role": "user", "content": {"file_url": "https://example.com/annex.pdf"}},
        {"role": "user", "content": "plain text"},
    ]
    override = {
        "type": "completion", "model": "gpt-4o", "temperature": 0.2,
        "functions": [{"id": "lookup", "name": "lookup", "description": "d",
                       "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        "structured_output": {"enabled": True, "schema": {
            "type": "object", "title": "Answer", "description": "d", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
    }
    for extra in ({}, {"stream": True}, {"async": True}):
        response = post(tela_emulator, {"canvas_id": "canvas-echo", "variables": variables, "messages": messages,
                                        "override": override, **extra})
        assert response.status_code == 200, response.text
    stats = tela_emulator.stats()
    assert stats["runs_created"] == 3 and stats["spec_rejections"] == 0


def test_several_files_in_one_variable(tela_emulator: TelaEmulator) -> None:
    """tela-client's ``{"files": [...]}``: an extension of the spec, resolved file by file."""
    urls = []
    for data in (b"%PDF first", b"%PDF second"):
        slot = requests.post(tela_emulator.url + "/v2/file", headers=auth(tela_emulator), timeout=5).json()
        requests.put(slot["upload_url"], data=data, headers={"Content-Type": "application/pdf"}, timeout=5)
        urls.append(slot["download_url"])
    files = [{"file_url": urls[0], "options": {"parserType": "tela-pdf-parser"}}, {"file_url": urls[1]}]
    response = post(tela_emulator, {"canvas_id": "canvas-file", "variables": {"document": {"files": files}}, "async": True})
    assert response.status_code == 200, response.text
    echoed = post(tela_emulator, {"canvas_id": "canvas-file", "variables": {"document": {"files": files}}}).json()
    content = echoed["choices"][0]["message"]["content"]
    assert [f["sha256"] for f in content["variables"]["document"]["files"]] == [
        hashlib.sha256(b"%PDF first").hexdigest(), hashlib.sha256(b"%PDF second").hexdigest()]
    assert content["variables"]["document"]["files"][0]["options"] == {"parserType": "tela-pdf-parser"}
    assert "document (2 files)" in content["text"]
    run = requests.get(f"{tela_emulator.url}{COMPLETIONS}/{response.json()['id']}", headers=auth(tela_emulator),
                       timeout=5).json()
    assert [f["url"] for f in run["input_content"]["files"]] == urls
    missing = post(tela_emulator, {"canvas_id": "canvas-file", "variables": {"document": {"files": [
        {"file_url": urls[0]}, {"file_url": tela_emulator.url + "/_files/unknown"}]}}})
    assert missing.status_code == 400 and missing.json()["details"][0]["path"] == "variables.document"


def test_fields_beyond_the_spec_are_accepted_and_recorded(tela_emulator: TelaEmulator) -> None:
    """Tela's clients send top-level fields the spec does not name (long_response, ...)."""
    response = post(tela_emulator, echo(long_response=True, nightly_batch="2026-01-01"))
    assert response.status_code == 200
    [run] = tela_emulator.runs()
    assert run["extra_fields"] == {"long_response": True, "nightly_batch": "2026-01-01"}
    assert "long_response" not in run["raw_input"]


def test_semantic_rules_still_apply_after_the_spec(tela_emulator: TelaEmulator) -> None:
    """What the OpenAPI cannot say (one target, stream vs async) is still refused, with Tela's error body."""
    both = post(tela_emulator, {"canvas_id": "canvas-echo", "application_id": "app-echo", "variables": {"document": "d"}})
    neither = post(tela_emulator, {"variables": {"document": "d"}})
    for response, path in ((both, "application_id"), (neither, "canvas_id")):
        assert response.status_code == 400 and response.json()["details"] == [
            {"path": path, "message": response.json()["message"]}]
    assert tela_emulator.stats()["spec_rejections"] == 0


def test_faults_still_come_before_validation(tela_emulator: TelaEmulator) -> None:
    tela_emulator.add_fault("503", method="POST", path=COMPLETIONS, count=1)
    response = post(tela_emulator, echo(override={"model": "m"}))  # off-spec, but the fault answers first
    assert response.status_code == 503 and response.json()["code"] == "server_error"
    assert post(tela_emulator, echo(override={"model": "m"})).status_code == 400
    assert tela_emulator.stats()["faults_injected"] == {"503": 1}


# ----------------------------------------------------------------------------- unknown routes


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/v2/nope", 404),
    ("GET", "/v1/chat/completions/x", 404),
    ("POST", "/", 404),
    ("DELETE", COMPLETIONS + "/some-run", 405),
    ("GET", "/v2/file", 405),
])
def test_unknown_routes_answer_json(tela_emulator: TelaEmulator, method: str, path: str, status: int) -> None:
    response = requests.request(method, tela_emulator.url + path, headers=auth(tela_emulator), timeout=5)
    assert response.status_code == status and response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert set(error) >= ERROR_KEYS and error["status"] == status and path in error["message"]
    assert error["name"] == ("NotFoundError" if status == 404 else "MethodNotAllowedError")
    assert tela_emulator.stats()["unknown_routes"] == 1


def test_a_body_over_the_limit_answers_tela_s_json_error(tela_emulator: TelaEmulator) -> None:
    # aiohttp's own refusal is text/plain; a 2 MiB data: URI is a file a user may well inline
    from airflow_provider_tela.testing.server import MAX_REQUEST_BYTES

    big = "data:application/pdf;base64," + "A" * (2 * 2**20)
    assert post(tela_emulator, echo(variables={"document": {"file_url": big}})).status_code == 200
    response = post(tela_emulator, echo(variables={"document": "x" * (MAX_REQUEST_BYTES + 1)}))
    assert response.status_code == 413 and response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert set(error) >= ERROR_KEYS and error["code"] == "payload_too_large" and error["name"] == "PayloadTooLargeError"


def test_every_invented_error_code_is_listed_in_the_docs() -> None:
    """docs/testing.md's "Documented and invented" section names every ``code`` the emulator can answer."""
    from airflow_provider_tela.testing.api_errors import ERROR_CODES, error_body
    from airflow_provider_tela.testing.server import STREAM_ERROR

    assert STREAM_ERROR["code"] in ERROR_CODES
    with pytest.raises(ValueError, match="no error code"):
        error_body(400, "m", "an_unlisted_code")
    page = (Path(__file__).resolve().parents[2] / "docs" / "testing.md").read_text()
    section = page[page.index("## Documented and invented"):]
    assert sorted(code for code in ERROR_CODES if f"`{code}`" not in section) == []


def test_unknown_api_routes_still_need_the_key(tela_emulator: TelaEmulator) -> None:
    response = requests.get(tela_emulator.url + "/v2/nope", timeout=5)
    assert response.status_code == 401 and response.json()["name"] == "UnauthorizedError"


# ----------------------------------------------------------------------------- POST /v2/file spellings


@pytest.mark.parametrize(("style", "keys"), [
    ("snake", {"upload_url", "download_url"}),
    ("camel", {"uploadUrl", "downloadUrl"}),
    ("both", {"upload_url", "download_url", "uploadUrl", "downloadUrl"}),
])
def test_file_slot_spelling(tela_emulator: TelaEmulator, style: str, keys: set[str]) -> None:
    if style != "snake":
        tela_emulator.configure(file_url_style=style)
    slot = requests.post(tela_emulator.url + "/v2/file", headers=auth(tela_emulator), timeout=5).json()
    assert set(slot) == keys
    assert len(set(slot.values())) == 2  # the same two URLs, however spelled


def test_file_slot_spelling_is_checked_and_reset(tela_emulator: TelaEmulator) -> None:
    with pytest.raises(ValueError, match="file_url_style must be one of snake, camel, both"):
        tela_emulator.configure(file_url_style="kebab")
    tela_emulator.configure(file_url_style="camel")
    tela_emulator.reset()
    slot = requests.post(tela_emulator.url + "/v2/file", headers=auth(tela_emulator), timeout=5).json()
    assert set(slot) == {"upload_url", "download_url"}


# ----------------------------------------------------------------------------- knobs for the readers


def test_async_reply_with_the_id_only(tela_emulator: TelaEmulator) -> None:
    """The guide promises an id for ``async: true``, nothing more: the emulator can answer just that."""
    tela_emulator.configure(async_reply="id")
    for extra in ({"async": True}, {"webhook_url": "http://127.0.0.1:9/unused"}):
        reply = post(tela_emulator, echo(**extra)).json()
        assert set(reply) == {"id"}
        polled = requests.get(f"{tela_emulator.url}{COMPLETIONS}/{reply['id']}", headers=auth(tela_emulator), timeout=5)
        assert polled.json()["status"] in ("created", "running", "succeeded")
    with pytest.raises(ValueError, match="async_reply must be one of run, id"):
        tela_emulator.configure(async_reply="status")
    tela_emulator.reset()
    assert "status" in post(tela_emulator, echo(**{"async": True})).json()


@pytest.mark.parametrize(("kind", "frame"), [
    ("sse_error", 'data: {"error":'),
    ("sse_error_event", 'event: error\ndata: {"error":'),
])
def test_stream_error_frames(tela_emulator: TelaEmulator, kind: str, frame: str) -> None:
    """A stream that fails after its first chunk, reports the error, and still ends with [DONE]."""
    tela_emulator.add_fault(kind, method="POST", path=COMPLETIONS, count=1)
    text = requests.post(tela_emulator.url + COMPLETIONS, json=echo(stream=True), headers=auth(tela_emulator),
                         timeout=10).text
    blocks = [block for block in text.split("\n\n") if block]
    assert len(blocks) == 3 and blocks[0].startswith('data: {"id"') and blocks[2] == "data: [DONE]"
    assert blocks[1].startswith(frame) and '"code":"stream_error"' in blocks[1]
    assert tela_emulator.stats()["faults_injected"] == {kind: 1}
    whole = requests.post(tela_emulator.url + COMPLETIONS, json=echo(stream=True), headers=auth(tela_emulator),
                          timeout=10).text
    assert '"error"' not in whole  # count=1: the next stream is whole
