"""The bad-input table: every row of docs/hook-and-errors.md's "Bad input, answered clearly" has a case here.

Each case checks that the error names the problem and the fix, never contains the API key, and
leaves no submitted run unaccounted for (none created, or the error names the run / says it may exist).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_tela import TelaFile
from airflow_provider_tela.errors import (
    TelaAuthenticationError,
    TelaBadResponseError,
    TelaConfigError,
    TelaConnectionError,
    TelaNotFoundError,
    TelaPermissionError,
    TelaRunMayExistError,
    TelaTimeoutError,
)
from airflow_provider_tela.hooks.tela import TelaHook
from airflow_provider_tela.operators.tela import TelaCompletionOperator

ERRORS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "hook-and-errors.md"
KEY = "tela-bad-input-secret-key-0123456789"


@dataclass
class Ctx:
    emulator: Any
    tmp: Path
    monkeypatch: Any

    def connect(self, **conn: Any) -> TelaHook:
        base = {"conn_type": "tela", "host": self.emulator.url, "password": KEY, "extra": {"max_retries": 1, "timeout": 5}}
        base.update(conn)
        self.monkeypatch.setenv("AIRFLOW_CONN_TELA_DEFAULT", json.dumps(base))
        return TelaHook()

    @property
    def hook(self) -> TelaHook:
        return self.connect()

    def run(self, canvas_id: str = "canvas-echo") -> str:
        return self.hook.submit_run(canvas_id=canvas_id, variables={"document": "d"}).id


@dataclass
class Case:
    row: str
    act: Callable[[Ctx], Any]
    error: type[Exception]
    says: tuple[str, ...]
    runs_created: int = 0
    setup: Callable[[Ctx], Any] = field(default=lambda ctx: None)


def op(**kwargs: Any) -> TelaCompletionOperator:
    return TelaCompletionOperator(task_id="t", **kwargs)


def validate(**kwargs: Any) -> None:
    op(**kwargs).validate_inputs()


def fault(kind: str, method: str = "GET", **extra: Any) -> Callable[[Ctx], Any]:
    return lambda ctx: ctx.emulator.add_fault(kind=kind, method=method, path="/v2/chat/completions", count=1, **extra)


CASES = [
    Case("missing canvas_id and application_id", lambda c: op(variables={}), TelaConfigError, ("exactly one of canvas_id", "application_id")),
    Case("both canvas_id and application_id", lambda c: op(canvas_id="a", application_id="b"), TelaConfigError, ("exactly one",)),
    Case("variables not a mapping", lambda c: op(canvas_id="c", variables=["a"]), TelaConfigError, ("variables must be a mapping", "e.g.")),
    Case("variable of the wrong type", lambda c: validate(canvas_id="c", variables={"n": 3.5}), TelaConfigError, ("variable 'n' must be text", "f'{value:.2f}'")),
    Case("list variable holding text", lambda c: validate(canvas_id="c", variables={"docs": ["a", "b"]}), TelaConfigError, ("item 0 is str", "TelaFile(url)")),
    Case("empty list of files", lambda c: validate(canvas_id="c", variables={"docs": []}), TelaConfigError, ("'docs' is an empty list", "at least one file")),
    Case("bad message role", lambda c: validate(canvas_id="c", messages=[{"role": "bot", "content": "x"}]), TelaConfigError, ("messages.0.role", "'user' or 'assistant'")),
    Case("system message", lambda c: validate(canvas_id="c", messages=[{"role": "system", "content": "x"}]), TelaConfigError, ("role 'system' is not in Tela's API", "canvas's prompt")),
    Case("parser_type and parserType disagree", lambda c: validate(canvas_id="c", variables={"d": TelaFile("https://x/a.pdf", {"parser_type": "a", "parserType": "b"})}), TelaConfigError, ("parser_type or parserType",)),
    Case("extra_body setting a managed field", lambda c: c.hook.prepare_request(canvas_id="canvas-echo", extra_body={"override": {"model": "m"}}), TelaConfigError, ("extra_body may not set 'override'", "output_schema")),
    Case("override.extra_body setting a known override field", lambda c: c.hook.prepare_request(canvas_id="canvas-echo", override={"extra_body": {"temperature": 2}}), TelaConfigError, ("override.extra_body may not set 'temperature'", "give it as a key of override")),
    Case("bad message content shape", lambda c: validate(canvas_id="c", messages=[{"role": "user", "content": {"type": "video"}}]), TelaConfigError, ("messages.0.content", "content must be a string, {'type': 'text'")),
    Case("message without content", lambda c: validate(canvas_id="c", messages=[{"role": "user"}]), TelaConfigError, ("messages.0.content", "Field required")),
    Case("missing file", lambda c: validate(canvas_id="c", variables={"d": TelaFile(c.tmp / "nope.pdf")}), TelaConfigError, ("does not exist",)),
    Case("empty file", lambda c: validate(canvas_id="c", variables={"d": TelaFile(b"")}), TelaConfigError, ("is empty",)),
    Case("bad base64 data URI", lambda c: validate(canvas_id="c", variables={"d": TelaFile("data:application/pdf;base64,!!")}), TelaConfigError, ("base64",)),
    Case("unreadable object storage path", lambda c: validate(canvas_id="c", variables={"d": TelaFile("nosuchfs://b/k.pdf")}), TelaConfigError, ("cannot be read", "storage connection")),
    Case("invalid override value", lambda c: validate(canvas_id="c", override={"temperature": 3}), TelaConfigError, ("override.temperature", "less than or equal to 1")),
    Case("unknown override field", lambda c: validate(canvas_id="c", override={"modle": "x"}), TelaConfigError, ("override.modle", "Extra inputs")),
    Case("output_schema not an object", lambda c: validate(canvas_id="c", output_schema={"type": "array"}), TelaConfigError, ("describe an object",)),
    Case("stream with deferrable", lambda c: op(canvas_id="c", stream=True, deferrable=True), TelaConfigError, ("deferrable=False",)),
    Case("TelaFile of an unsupported type", lambda c: TelaFile(3.5), TelaConfigError, ("must be a path, URL",)),
    Case("canvas variables that do not fit", lambda c: c.hook.check_canvas_variables("canvas-file", {"document": "text"}), TelaConfigError, ("is a file in the canvas", "TelaFile")),
    Case("unknown canvas", lambda c: c.hook.submit_run(canvas_id="no-such-canvas"), TelaNotFoundError, ("404", "not found", "check the id")),
    Case("unknown run id", lambda c: c.hook.get_run("no-such-run"), TelaNotFoundError, ("404", "no-such-run", "check the id")),
    Case("empty run id", lambda c: c.hook.get_run(" "), TelaConfigError, ("run_id must be a Tela id",)),
    Case("a run id that is a path", lambda c: c.hook.get_run(".."), TelaConfigError, ("run_id must be a Tela id", "'..'")),
    Case("wrong API key", lambda c: c.connect(password="not-the-key-987654").get_run("x"), TelaAuthenticationError, ("401", "API Key field")),
    Case("key without permission (403)", lambda c: c.hook.submit_run(canvas_id="canvas-echo"), TelaPermissionError, ("403", "permissions"),
         setup=lambda c: c.emulator.configure(forbidden_keys=[KEY])),
    Case("no API key in the connection", lambda c: c.connect(password="").get_run("x"), TelaConfigError, ("no API key", "API Key field")),
    Case("plain http to a remote host", lambda c: c.connect(host="http://tela.example.com").get_run("x"), TelaConfigError, ("plain http", "allow_insecure_http")),
    Case("host that is not http(s)", lambda c: c.connect(host="ftp://tela.example.com").get_run("x"), TelaConfigError, ("not an http(s) URL",)),
    Case("bad connection extra", lambda c: c.connect(extra={"timeout": "soon"}).get_run("x"), TelaConfigError, ("'timeout'", "must be a number")),
    Case("non-JSON answer", lambda c: c.hook.get_run("x"), TelaBadResponseError, ("not JSON", "Tela API"), setup=fault("garbage")),
    Case("run object missing fields", lambda c: c.hook.get_run(c.run()), TelaBadResponseError, ("does not match", "upgrade"), runs_created=1, setup=fault("malformed")),
    Case("unknown status value, for ever", lambda c: c.hook.wait_for_run(c.run(), poll_interval=0.1, timeout=3), TelaTimeoutError, ("last status: queued",), runs_created=1,
         setup=lambda c: c.emulator.add_fault(kind="bad_status", method="GET", path="/v2/chat/completions")),
    Case("malformed SSE stream", lambda c: list(c.hook.stream_completion(canvas_id="canvas-echo", variables={"document": "d"})), TelaRunMayExistError, ("stream of run", "ended before", "not resubmitted"), runs_created=1, setup=fault("truncated_sse", "POST")),
    Case("timeout", lambda c: c.hook.wait_for_run(c.run(), poll_interval=0.1, timeout=0.3), TelaTimeoutError, ("did not finish within", "TelaRunSensor"), runs_created=1,
         setup=lambda c: c.emulator.configure(run_latency=30)),
    Case("answer lost after the run was accepted", lambda c: c.hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"}), TelaRunMayExistError, ("may have been created", "before retrying"), runs_created=1, setup=fault("drop_after", "POST")),
    Case("Tela unreachable", lambda c: c.connect(host="http://127.0.0.1:9").get_run("x"), TelaConnectionError, ("Could not reach Tela", "host")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.row for c in CASES])
def test_bad_input_is_answered_clearly(case: Case, tela_emulator, tmp_path, monkeypatch):
    tela_emulator.configure(api_key=KEY)
    ctx = Ctx(tela_emulator, tmp_path, monkeypatch)
    case.setup(ctx)
    with pytest.raises(case.error) as info:
        case.act(ctx)
    message = str(info.value)
    for fragment in case.says:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert KEY not in message and KEY not in repr(info.value.args)
    assert tela_emulator.stats()["runs_created"] == case.runs_created


def test_huge_output_is_kept_out_of_the_trigger_event_and_still_returned(tela_emulator, tmp_path, monkeypatch):
    """The table's "huge output" row: 1 MB of output never enters the metadata database via the event."""
    import asyncio

    from airflow_provider_tela._results import event_result
    from airflow_provider_tela.triggers.tela import TelaRunTrigger

    tela_emulator.configure(api_key=KEY)
    ctx = Ctx(tela_emulator, tmp_path, monkeypatch)
    tela_emulator.add_canvas("canvas-huge", content={"text": "y" * 1_000_000})
    run_id = ctx.run("canvas-huge")

    async def wait() -> dict:
        events = [e.payload async for e in TelaRunTrigger(run_id, poll_interval=0.2, end_time=time.time() + 10).run()]
        return events[0]

    event = asyncio.run(wait())
    assert len(json.dumps(event)) < 10_000 and event["content_inline"] is False

    _, _, content, _ = event_result(event, TelaHook, 60)
    assert len(content["text"]) == 1_000_000


def test_every_row_is_in_the_docs_table():
    table = ERRORS_PAGE.read_text()
    section = table[table.index("## Bad input, answered clearly"):]
    rows = set(re.findall(r"^\| ([^|]+?) \|", section, flags=re.M))
    missing = [case.row for case in CASES if case.row not in rows]
    assert not missing, f"rows missing from docs/hook-and-errors.md: {missing}"
    assert len(CASES) >= 25
