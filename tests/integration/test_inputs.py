"""Every documented input kind, sent through the hook to the emulator: the bytes that arrive match."""

from __future__ import annotations

import base64
import hashlib
import tracemalloc
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import ObjectStoragePath
from pydantic import BaseModel

from airflow_provider_tela import TelaFile
from airflow_provider_tela.errors import TelaConfigError

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def pdf(tmp_path) -> Path:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(PDF)
    return path


def echoed(hook, variables, canvas_id="canvas-echo", **kwargs):
    return hook.create_completion(canvas_id=canvas_id, variables=variables, **kwargs).content


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda p: TelaFile(str(p)), id="path-str"),
        pytest.param(TelaFile, id="telafile-path"),
        pytest.param(lambda p: p, id="bare-pathlib"),
        pytest.param(lambda p: TelaFile(p.read_bytes(), name="invoice.pdf"), id="bytes"),
        pytest.param(lambda p: TelaFile(f"file://{p}"), id="object-storage-url"),
        pytest.param(lambda p: ObjectStoragePath(f"file://{p}"), id="bare-object-storage-path"),
        pytest.param(lambda p: TelaFile(ObjectStoragePath(f"file://{p}")), id="telafile-object-storage-path"),
    ],
)
def test_uploaded_bytes_match_the_source(hook, tela_env, pdf, make):
    content = echoed(hook, {"document": make(pdf)})
    arrived = content["variables"]["document"]
    assert arrived["size"] == len(PDF) and arrived["sha256"] == sha(PDF)
    assert arrived["content_type"] == "application/pdf"
    stats = tela_env.stats()
    assert stats["files_created"] == 1 and stats["uploads"] == 1
    [stored] = tela_env.files()
    assert stored["sha256"] == sha(PDF) and arrived["file_url"] == stored["download_url"]


def test_options_travel_with_the_file(hook, pdf, tela_env):
    content = echoed(hook, {"document": TelaFile(pdf, {"range": [0, 1], "parser_type": "fast"})})
    assert content["variables"]["document"]["options"] == {"range": [0, 1], "parser_type": "fast"}
    assert tela_env.runs()[0]["raw_input"]["variables"]["document"]["options"] == {"range": [0, 1], "parser_type": "fast"}


def test_urls_and_data_uris_are_not_uploaded(hook, tela_env):
    data_uri = "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    content = echoed(hook, {"document": TelaFile("https://example.com/a.pdf"), "language": TelaFile(data_uri)})
    raw = tela_env.runs()[0]["raw_input"]["variables"]
    assert raw["document"] == {"file_url": "https://example.com/a.pdf"}
    assert raw["language"] == {"file_url": data_uri}
    assert content["variables"]["language"]["sha256"] == sha(PDF)
    assert tela_env.stats()["uploads"] == 0


def test_plain_strings_stay_text(hook, tela_env, pdf):
    echoed(hook, {"document": str(pdf)})
    assert tela_env.runs()[0]["raw_input"]["variables"]["document"] == str(pdf)
    assert tela_env.stats()["uploads"] == 0


def test_a_file_in_a_message(hook, tela_env, pdf):
    content = echoed(hook, {"document": "see the attachment"}, messages=[{"role": "user", "content": TelaFile(pdf)}])
    raw_message = tela_env.runs()[0]["raw_input"]["messages"][0]
    assert raw_message["role"] == "user" and set(raw_message["content"]) == {"file_url"}
    assert tela_env.files()[0]["sha256"] == sha(PDF)
    assert content["messages"]


def test_image_and_text_message_contents(hook, tela_env):
    messages = [  # roles are 'user' and 'assistant' only: the spec's Messages schema has no 'system'
        {"role": "user", "content": "Be brief."},
        {"role": "assistant", "content": {"type": "text", "text": "How can I help?"}},
        {"role": "user", "content": {"type": "image_url", "image_url": {"url": "https://x/i.png", "detail": "low"}}},
    ]
    echoed(hook, {"document": "d"}, messages=messages)
    assert tela_env.runs()[0]["raw_input"]["messages"] == messages


@pytest.mark.parametrize(
    "value, match",
    [
        (lambda tmp: TelaFile(tmp / "missing.pdf"), "does not exist"),
        (lambda tmp: (tmp / "empty.pdf").write_bytes(b"") or TelaFile(tmp / "empty.pdf"), "is empty"),
        (lambda tmp: TelaFile(b""), "is empty"),
        (lambda tmp: TelaFile("data:application/pdf;base64,@@@"), "valid base64"),
        (lambda tmp: TelaFile("data:text/plain,hello"), "base64"),
        (lambda tmp: TelaFile("nosuchfs://bucket/doc.pdf"), "cannot be read"),
        (lambda tmp: TelaFile(f"file://{tmp}/nope.pdf"), "does not exist in object storage"),
    ],
)
def test_bad_files_fail_before_anything_is_sent(hook, tela_env, tmp_path, value, match):
    with pytest.raises(TelaConfigError, match=match):
        hook.submit_run(canvas_id="canvas-echo", variables={"document": value(tmp_path)})
    assert tela_env.stats()["requests"] == 0


def test_bad_request_uploads_nothing(hook, tela_env, pdf):
    with pytest.raises(TelaConfigError, match=r"messages\.0\.role"):
        hook.submit_run(canvas_id="canvas-echo", variables={"document": TelaFile(pdf)}, messages=[{"role": "bot", "content": "x"}])
    assert tela_env.stats()["requests"] == 0


def test_telafile_rejects_what_it_cannot_read():
    with pytest.raises(TelaConfigError, match="must be a path"):
        TelaFile(42)
    with pytest.raises(TelaConfigError, match="options must be a dict"):
        TelaFile("a.pdf", options=[0, 1])


def test_telafile_round_trips_through_airflow_serde(pdf):
    from airflow.sdk.serde import deserialize, serialize

    for original in (TelaFile(pdf, {"range": [1]}), TelaFile(b"raw", name="r.bin"), TelaFile("s3://b/k.pdf", conn_id="aws")):
        assert deserialize(serialize(original)) == original


def test_large_upload_streams_with_bounded_memory(hook, tela_env, tmp_path):
    big = tmp_path / "big.bin"
    block = hashlib.sha256(b"seed").digest() * 32768  # 1 MiB
    digest = hashlib.sha256()
    with big.open("wb") as out:
        for _ in range(64):
            out.write(block)
            digest.update(block)
    tracemalloc.start()
    try:
        variable = hook.upload_file(TelaFile(big))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    [stored] = tela_env.files()
    assert stored["size"] == 64 * 2**20 and stored["sha256"] == digest.hexdigest()
    assert variable["file_url"] == stored["download_url"]
    # a 64 MiB file went through with a peak of traced allocations far below its size
    assert peak < 8 * 2**20, peak


class Review(BaseModel):
    title: str
    score: float


def test_output_schema_from_a_pydantic_model(hook, tela_env):
    from airflow_provider_tela._inputs import output_schema_override

    override = output_schema_override(Review, {"model": "m"})
    content = hook.create_completion(canvas_id="canvas-structured", variables={"text": "t"}, override=override).content
    assert Review.model_validate(content).title == "example title"
    sent = tela_env.runs()[0]["raw_input"]["override"]
    assert sent["model"] == "m" and sent["structured_output"]["enabled"] is True
    assert set(sent["structured_output"]["schema"]["properties"]) == {"title", "score"}


def test_output_schema_rejects_non_objects():
    from airflow_provider_tela._inputs import output_schema_override

    with pytest.raises(TelaConfigError, match="describe an object"):
        output_schema_override({"type": "array"}, None)
    with pytest.raises(TelaConfigError, match="not both"):
        output_schema_override({"properties": {}}, {"structured_output": {"enabled": True}})


def test_canvas_variables_are_checked_against_the_promoted_version(hook, tela_env):
    with pytest.raises(TelaConfigError) as info:
        hook.check_canvas_variables("canvas-file", {"document": "just text", "colour": "red"})
    message = str(info.value)
    assert "'document' is a file in the canvas but got text" in message
    assert "unknown variable 'colour'" in message
    with pytest.raises(TelaConfigError, match="missing required variable 'document'"):
        hook.check_canvas_variables("canvas-echo", {"language": "en"})
    hook.check_canvas_variables("canvas-echo", {"document": "ok"})
    assert tela_env.stats()["runs_created"] == 0
