"""Canvases known to the emulator: declared variables and deterministic content."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

VariableType = Literal["text", "file"]

DEFAULT_FAILURE_REASON = "The model refused the document (emulated failure)"
# Fixed namespace so a canvas id always maps to the same promoted version id.
_VERSION_NAMESPACE = uuid.UUID("6f1d7f5e-3c1a-4f4e-9a53-7e1a2c0b9d11")


@dataclass(frozen=True)
class CanvasVariable:
    """A variable declared by a canvas's promoted version."""

    name: str
    type: VariableType = "text"
    required: bool = False
    description: str = ""
    allow_multimodal: bool = False

    @classmethod
    def parse(cls, spec: CanvasVariable | Mapping[str, Any]) -> CanvasVariable:
        """Accept an instance or the dict shape used by the admin API / promoted-version."""
        if isinstance(spec, CanvasVariable):
            return spec
        if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
            raise ValueError(f"a canvas variable needs a string 'name': {spec!r}")
        var_type = spec.get("type", "text")
        if var_type not in ("text", "file"):
            raise ValueError(f"variable type must be 'text' or 'file', got {var_type!r}")
        options = spec.get("processingOptions") or {}
        return cls(
            name=spec["name"],
            type=var_type,
            required=bool(spec.get("required", False)),
            description=str(spec.get("description", "")),
            allow_multimodal=bool(spec.get("allow_multimodal", options.get("allowMultimodal", False))),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "required": self.required,
            "description": self.description,
            "processingOptions": {"allowMultimodal": self.allow_multimodal},
        }


class RunFailed(Exception):
    """Raised by a canvas's content function: that run ends ``failed``, the message being its reason
    (a canvas that fails for some inputs only, e.g. one record of a batch)."""


@dataclass(frozen=True)
class RunInput:
    """What a canvas sees: variables with files already resolved (size, sha256, ...)."""

    canvas_id: str
    variables: Mapping[str, Any]
    messages: Sequence[Any]
    override: Mapping[str, Any] | None


ContentFn = Callable[[RunInput], Any]
CostFn = Callable[[RunInput], Any]


@dataclass
class Canvas:
    id: str
    variables: tuple[CanvasVariable, ...] = ()
    # A callable computing content from the input, or a static value returned as is.
    content: ContentFn | Any = None
    application_id: str | None = None
    # None: the run succeeds; a string: the run fails with that reason.
    failure: str | None = None
    structured: bool = False
    latency: float | None = None
    title: str = ""
    # What each run costs (information.cost): a figure, or f(RunInput) -> figure (any value, NaN or None
    # included: what Tela would send); None: derived from the run's tokens.
    cost: CostFn | Any = None
    version_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.version_id = str(uuid.uuid5(_VERSION_NAMESPACE, self.id))
        if not self.title:
            self.title = self.id

    def render(self, run_input: RunInput) -> tuple[Any, bool]:
        """Return ``(content, has_structured_output)`` for a successful run."""
        schema = _structured_schema(run_input.override)
        if schema is not None:
            return fill_schema(schema), True
        content = self.content(run_input) if callable(self.content) else self.content
        return content, self.structured

    def to_promoted_version(self) -> dict[str, Any]:
        return {
            "id": self.version_id,
            "promptId": self.id,
            "title": self.title,
            "promoted": True,
            "variables": [variable.to_api() for variable in self.variables],
            "configuration": {"model": "tela-emulator", "structuredOutput": {"enabled": self.structured}},
        }


def make_canvas(
    canvas_id: str,
    *,
    variables: Sequence[CanvasVariable | Mapping[str, Any]] = (),
    content: ContentFn | Any = None,
    fail: bool | str = False,
    application_id: str | None = None,
    structured: bool = False,
    latency: float | None = None,
    title: str = "",
    cost: CostFn | Any = None,
) -> Canvas:
    """Build a user canvas; without ``content`` it echoes its input like ``canvas-echo``; without
    ``cost`` a run costs its tokens times ``COST_PER_TOKEN``."""
    if not isinstance(canvas_id, str) or not canvas_id:
        raise ValueError("canvas_id must be a non-empty string")
    if latency is not None and latency < 0:
        raise ValueError("latency must be >= 0")
    failure = fail if isinstance(fail, str) and fail else (DEFAULT_FAILURE_REASON if fail else None)
    return Canvas(
        id=canvas_id,
        variables=tuple(CanvasVariable.parse(spec) for spec in variables),
        content=echo_content if content is None else content,
        application_id=application_id,
        failure=failure,
        structured=structured,
        latency=latency,
        title=title,
        cost=cost,
    )


def builtin_canvases() -> list[Canvas]:
    return [
        make_canvas(
            "canvas-echo",
            application_id="app-echo",
            title="Echo",
            variables=[
                CanvasVariable("document", "text", required=True, description="Text to echo"),
                CanvasVariable("language", "text", description="Optional language hint"),
            ],
        ),
        make_canvas(
            "canvas-structured",
            title="Structured summary",
            structured=True,
            content=structured_content,
            variables=[CanvasVariable("text", "text", required=True, description="Text to summarise")],
        ),
        make_canvas(
            "canvas-fail",
            title="Always fails",
            fail=True,
            variables=[CanvasVariable("document", "text", description="Ignored")],
        ),
        make_canvas(
            "canvas-file",
            title="File echo",
            variables=[
                CanvasVariable(
                    "document", "file", required=True, description="Document to read", allow_multimodal=True
                ),
                CanvasVariable("pages", "text", description="Optional page range"),
            ],
        ),
    ]


def echo_content(run_input: RunInput) -> dict[str, Any]:
    return {
        "text": _summary(run_input),
        "variables": dict(run_input.variables),
        "messages": list(run_input.messages),
    }


def structured_content(run_input: RunInput) -> dict[str, Any]:
    text = run_input.variables.get("text")
    if not isinstance(text, str):
        text = next((value for value in run_input.variables.values() if isinstance(value, str)), "")
    words = text.split()
    return {
        "title": " ".join(words[:6]) or "Untitled",
        "summary": f"{len(words)} words: {text[:120]}",
        "sentiment": "positive",
        "score": 0.9,
    }


_SCHEMA_DEFAULTS: dict[str, Callable[[str], Any]] = {
    "string": lambda name: f"example {name}",
    "number": lambda name: 1,
    "integer": lambda name: 1,
    "boolean": lambda name: True,
    "array": lambda name: [],
    "object": lambda name: {},
}


def fill_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Produce a deterministic object with one value per property of a JSON schema."""
    properties = schema.get("properties") or {}
    result: dict[str, Any] = {}
    for name, prop in properties.items():
        prop_type = prop.get("type") if isinstance(prop, Mapping) else None
        if isinstance(prop_type, list):  # e.g. ["string", "null"]
            prop_type = next((t for t in prop_type if t != "null"), None)
        make = _SCHEMA_DEFAULTS.get(prop_type) if isinstance(prop_type, str) else None
        result[name] = make(name) if make else None
    return result


def _structured_schema(override: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not isinstance(override, Mapping):
        return None
    structured = override.get("structured_output")
    if not isinstance(structured, Mapping) or not structured.get("enabled"):
        return None
    schema = structured.get("schema")
    return schema if isinstance(schema, Mapping) else None


def _summary(run_input: RunInput) -> str:
    parts = [_describe(name, value) for name, value in run_input.variables.items()]
    described = ", ".join(parts) if parts else "no variables"
    return f"Canvas {run_input.canvas_id} received {described} and {len(run_input.messages)} message(s)."


def _describe(name: str, value: Any) -> str:
    if isinstance(value, str):
        return f"{name} ({len(value)} chars)"
    if isinstance(value, Mapping) and "files" in value:
        return f"{name} ({len(value['files'])} files)"
    if isinstance(value, Mapping) and "size" in value:
        return f"{name} (file, {value['size']} bytes)"
    return f"{name} (file url)"
