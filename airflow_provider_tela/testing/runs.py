"""Completion requests, canvas runs and the JSON documents the API returns for them."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .canvases import DEFAULT_FAILURE_REASON, Canvas, RunFailed, RunInput

Mode = Literal["sync", "async", "webhook", "stream"]

RUNNING_FRACTION = 0.1  # share of the latency a run spends in "created"
COST_PER_TOKEN = 0.000002
EMULATOR_MODEL = "tela-emulator"
WORKSPACE_ID = "workspace-emulator"
COMPATIBILITY_DATE = "2024-10-01T00:00:00.000Z"
STREAM_PIECES = 4


class BadRequest(Exception):
    """A refusal (400 unless ``status`` says 404); ``param`` names the offending request field."""

    def __init__(self, message: str, param: str | None = None, *, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status


@dataclass(frozen=True)
class CompletionRequest:
    canvas_id: str | None
    application_id: str | None
    variables: dict[str, Any]
    messages: list[Any]
    override: dict[str, Any] | None
    stream: bool
    is_async: bool
    webhook_url: str | None
    # top-level fields the spec does not name (e.g. long_response): accepted and recorded
    extra: dict[str, Any] = field(default_factory=dict)
    # Tela's JS SDK 2.x: a canvas version to run, the task's name (applications only), tags
    version_id: str | None = None
    label: str | None = None
    tags: tuple[str, ...] = ()

    @property
    def mode(self) -> Mode:
        if self.stream:
            return "stream"
        if self.webhook_url:
            return "webhook"
        return "async" if self.is_async else "sync"

    def raw_input(self, version_id: str) -> dict[str, Any]:
        return {
            "version_id": version_id,
            "canvas_id": self.canvas_id,
            "application_id": self.application_id,
            "webhook_url": self.webhook_url,
            "variables": self.variables,
            "messages": self.messages,
            "override": self.override,
        }


def parse_completion_request(
    body: Any, documented: Collection[str] = (), *, label_needs_application: bool = True
) -> CompletionRequest:
    """The rules the OpenAPI cannot express (the body already fits the spec's schemas)."""
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    canvas_id, application_id = body.get("canvas_id"), body.get("application_id")
    version_id, label = body.get("version_id"), body.get("label")
    if canvas_id is None and application_id is None and version_id is None:
        raise BadRequest("one of canvas_id, application_id or version_id is required", "canvas_id")
    if canvas_id is not None and application_id is not None:
        raise BadRequest("give only one of canvas_id or application_id, not both", "application_id")
    for name, value in (("canvas_id", canvas_id), ("application_id", application_id), ("version_id", version_id),
                        ("label", label)):
        if value is not None and (not isinstance(value, str) or not value):
            raise BadRequest(f"{name} must be a non-empty string", name)
    if label is not None and application_id is None and label_needs_application:
        # Tela's JS SDK: label is "only applicable when applicationId is provided" (it names the task)
        raise BadRequest("label is only applicable with application_id (it becomes the task's name); "
                         "remove it or target an application", "label")
    variables = body.get("variables", {}) or {}
    messages = body.get("messages", []) or []
    override = body.get("override")
    stream, is_async = bool(body.get("stream", False)), bool(body.get("async", False))
    webhook_url = body.get("webhook_url")
    if webhook_url is not None and not (isinstance(webhook_url, str) and webhook_url.startswith(("http://", "https://"))):
        raise BadRequest("webhook_url must be an http(s) URL", "webhook_url")
    if stream and (is_async or webhook_url):
        raise BadRequest("stream cannot be combined with async or webhook_url", "stream")
    extra = {key: value for key, value in body.items() if key not in documented} if documented else {}
    return CompletionRequest(canvas_id, application_id, variables, messages, override, stream, is_async, webhook_url,
                             extra, version_id=version_id, label=label, tags=tuple(body.get("tags") or ()))


def check_required_variables(canvas: Canvas, variables: Mapping[str, Any]) -> None:
    for declared in canvas.variables:
        if declared.required and variables.get(declared.name) in (None, ""):
            raise BadRequest(f"missing required variable {declared.name!r}", f"variables.{declared.name}")


@dataclass
class Run:
    id: str
    canvas: Canvas
    request: CompletionRequest
    latency: float
    created_wall: float
    created_mono: float
    content: Any = None
    structured: bool = False
    failure: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    task_id: str | None = None  # the Workstation task this run executes, if any
    priced: bool = False  # its canvas set the cost (``fixed_cost``), instead of the tokens
    fixed_cost: Any = None
    # Terminal run objects never change, so they are serialised once for cheap polling.
    terminal_body: bytes | None = field(default=None, repr=False)

    @property
    def terminal_status(self) -> str:
        return "failed" if self.failure else "succeeded"

    def status_at(self, now_mono: float) -> str:
        elapsed = now_mono - self.created_mono
        if elapsed >= self.latency:
            return self.terminal_status
        return "running" if elapsed >= self.latency * RUNNING_FRACTION else "created"

    @property
    def cost(self) -> Any:
        if self.priced:
            return self.fixed_cost
        return round((self.input_tokens + self.output_tokens) * COST_PER_TOKEN, 8)

    @property
    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.input_tokens + self.output_tokens,
        }

    @property
    def ends_mono(self) -> float:
        return self.created_mono + self.latency

    @property
    def starts_running_mono(self) -> float:
        return self.created_mono + self.latency * RUNNING_FRACTION

    def summary(self, now_mono: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "canvas_id": self.canvas.id,
            "mode": self.request.mode,
            "status": self.status_at(now_mono),
            "latency": self.latency,
            "created_at": iso(self.created_wall),
            "raw_input": self.request.raw_input(self.canvas.version_id),
            "extra_fields": dict(self.request.extra),
            "label": self.request.label,
            "tags": list(self.request.tags),
            "task_id": self.task_id,
        }


def execute(run_id: str, canvas: Canvas, request: CompletionRequest, resolved: Mapping[str, Any],
            latency: float, created_wall: float, created_mono: float) -> Run:
    """Compute the run's outcome up front; status then only depends on the clock."""
    run = Run(run_id, canvas, request, latency, created_wall, created_mono)
    run.input_tokens = _tokens([request.variables, request.messages])
    if canvas.failure:
        run.failure = canvas.failure
        return run
    run_input = RunInput(canvas.id, resolved, request.messages, request.override)
    try:
        run.content, run.structured = canvas.render(run_input)
    except RunFailed as exc:
        run.failure = str(exc) or DEFAULT_FAILURE_REASON
        return run
    run.output_tokens = _tokens(run.content)
    if canvas.cost is not None:
        run.priced = True
        run.fixed_cost = canvas.cost(run_input) if callable(canvas.cost) else canvas.cost
    return run


def completion_body(run: Run) -> dict[str, Any]:
    """The synchronous ``chat.completion`` answer."""
    return {
        "id": run.id,
        "object": "chat.completion",
        "created": int(run.created_wall),
        "choices": [{"message": _message(run)}],
        "usage": run.usage,
    }


def webhook_payload(run: Run) -> dict[str, Any]:
    created = int(run.created_wall + run.latency)
    if run.failure:
        return {"object": "chat.completion", "created": created, "choices": [], "error": {"message": run.failure}}
    return {
        "usage": run.usage,
        "object": "chat.completion",
        "choices": [{"message": {"role": "assistant", "content": run.content}}],
        "created": created,
    }


def run_object(run: Run, status: str) -> dict[str, Any]:
    """The run as ``GET /v2/chat/completions/{id}`` documents it."""
    terminal = status in ("succeeded", "failed")
    if status == "created":
        updated = run.created_wall
    elif status == "running":
        updated = run.created_wall + run.latency * RUNNING_FRACTION
    else:
        updated = run.created_wall + run.latency
    request = run.request
    body: dict[str, Any] = {
        "id": run.id,
        "status": status,
        "input_content": {
            "variables": request.variables,
            "messages": request.messages,
            "files": _input_files(request.variables),
        },
        "output_content": output_content(run) if terminal and not run.failure else None,
        "raw_input": request.raw_input(run.canvas.version_id),
        "raw_output": raw_output(run) if terminal else None,
        "compatibility_date": COMPATIBILITY_DATE,
        "prompt_version_id": run.canvas.version_id,
        "prompt_application_id": request.application_id,
        "workspace_id": WORKSPACE_ID,
        "created_at": iso(run.created_wall),
        "updated_at": iso(updated),
    }
    if terminal and run.failure:
        body["error"] = {"message": run.failure}
    return body


def stream_chunks(run: Run) -> list[dict[str, Any]]:
    """SSE chunks: the text split into deltas, then a final chunk with the full message."""
    model = str((run.request.override or {}).get("model") or EMULATOR_MODEL)
    head = {"id": run.id, "object": "chat.completion.chunk", "created": int(run.created_wall), "model": model}
    chunks = []
    for index, piece in enumerate(_split_text(_text_of(run.content), STREAM_PIECES)):
        delta = {"role": "assistant", "content": piece} if index == 0 else {"content": piece}
        chunks.append({**head, "choices": [{"delta": delta, "finish_reason": None}]})
    chunks.append({
        **head,
        "choices": [{"delta": {}, "finish_reason": "stop"}],
        "message": _message(run),
        "usage": run.usage,
    })
    return chunks


def _message(run: Run) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": run.content,
        "tool_calls": [],
        "structured_content": run.content if run.structured else None,
    }


def raw_output(run: Run) -> dict[str, Any]:
    """A finished run's ``raw_output``: the webhook payload, or the failure."""
    return webhook_payload(run) if not run.failure else {"error": {"message": run.failure}}


def output_content(run: Run) -> dict[str, Any]:
    """A succeeded run's ``output_content`` (a Workstation task's ``outputContent`` starts as this too)."""
    return {
        "role": "assistant",
        "content": run.content,
        "tool_calls": [],
        "information": {
            "duration": run.latency,
            "cost": run.cost,
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
        },
        "has_structured_output": run.structured,
    }


def _input_files(variables: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "used_at": "variables", "url": file["file_url"], "type": "file", "parsed_content": ""}
        for name, value in variables.items()
        for file in file_variables(value)
    ]


def file_variables(value: Any) -> list[Mapping[str, Any]]:
    """The files a variable holds: none (text), one ``{"file_url"}``, or several ``{"files": [...]}``."""
    if not isinstance(value, Mapping):
        return []
    if "files" in value:
        return list(value["files"])
    return [value]


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, dict) and isinstance(content.get("text"), str):
        return content["text"]
    return json.dumps(content)


def _split_text(text: str, pieces: int) -> list[str]:
    words = re.findall(r"\s*\S+\s*", text) or [text]
    size = max(1, -(-len(words) // pieces))  # ceiling division
    return ["".join(words[i:i + size]) for i in range(0, len(words), size)]


def _tokens(value: Any) -> int:
    # Roughly four characters per token, like the usual LLM rule of thumb.
    return max(1, len(json.dumps(value, default=str)) // 4)


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
