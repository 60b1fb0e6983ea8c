"""``tela-client`` (Tela's other Python client) against the emulator: the shapes it sends, over real HTTP.

It sends multi-file variables (``{"files": [...]}``), the file option ``parserType`` and the
top-level ``long_response``; it reads POST /v2/file in snake_case, where the official SDK reads
camelCase. Its import needs PyPDF2, which it does not declare (the test extra installs it).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
import tela_client

from airflow_provider_tela.testing import TelaEmulator

PDF = b"%PDF-1.4 tela-client " + bytes(range(64))


@pytest.fixture
def client(tela_emulator: TelaEmulator, tmp_path: Path) -> tela_client.TelaClient:
    return tela_client.TelaClient(tela_emulator.api_key, api_url=tela_emulator.url, cache_dir=str(tmp_path / "cache"),
                                  max_attempts=1)


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "contract.pdf"
    path.write_bytes(PDF)
    return path


def test_its_file_helpers_spell_options_as_parser_type_camel_case(pdf):
    assert tela_client.file("https://example.com/a.pdf") == {
        "file_url": "https://example.com/a.pdf", "options": {"parserType": "tela-pdf-parser"}}
    local = tela_client.file(str(pdf), range=[0, 1])
    assert local["file_url"] == "data:application/pdf;base64," + base64.b64encode(PDF).decode()
    assert local["options"] == {"parserType": "tela-pdf-parser", "range": [0, 1]}
    assert set(tela_client.files([str(pdf), "https://example.com/a.pdf"])) == {"files"}


def test_a_canvas_run_with_several_files_in_one_variable(client, tela_emulator, pdf):
    canvas = client.new_canvas("canvas-file", expected_input=["document"])
    content = canvas.run(use_cache=False, document=tela_client.files([str(pdf), "https://example.com/b.pdf"]))
    files = content["variables"]["document"]["files"]
    assert files[0]["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert files[1] == {"file_url": "https://example.com/b.pdf", "options": {"parserType": "tela-pdf-parser"}}
    stats = tela_emulator.stats()
    assert (stats["spec_rejections"], stats["runs_created"]) == (0, 1)
    [run] = tela_emulator.runs()
    assert run["extra_fields"] == {"long_response": True}


def test_an_override_passes_through(client, tela_emulator):
    override = {"type": "chat", "structured_output": {"enabled": True, "schema": {
        "type": "object", "title": "T", "description": "D", "properties": {"n": {"type": "integer"}}}}}
    content = client.new_canvas("canvas-structured").run(use_cache=False, override=override, text="x")
    assert content == {"n": 1} and tela_emulator.runs()[0]["raw_input"]["override"] == override


def test_its_upload_reads_snake_case(client, tela_emulator, pdf):
    download_url = client.upload_file(str(pdf))
    [stored] = tela_emulator.files()
    assert download_url == stored["download_url"] and stored["sha256"] == hashlib.sha256(PDF).hexdigest()


def test_pinned_its_upload_fails_on_camel_case_answers(client, tela_emulator, pdf):
    """tela-client reads upload_url; tela 0.2.2 reads uploadUrl: Tela's two clients disagree, which is
    why the provider accepts both spellings."""
    tela_emulator.configure(file_url_style="camel")
    with pytest.raises(KeyError, match="upload_url"):
        client.upload_file(str(pdf))
