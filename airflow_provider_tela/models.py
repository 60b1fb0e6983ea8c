"""Pydantic models of the Tela API: what is sent (requests) and what comes back (runs, completions, chunks).

Attribute names mirror the API's JSON. Response models accept unknown fields, because the API grows;
request models reject unknown fields, because a typo in a DAG should fail before anything is sent.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticSerializationError

from airflow_provider_tela._types import target_problem
from airflow_provider_tela.errors import TelaConfigError


class _Response(BaseModel):
    """A model of something Tela answered: read tolerantly, because the run is already paid for.

    Unknown fields are kept (``model_extra``). A known field whose value has drifted from the
    documented type (a number where a string was documented, a string where an object was) is read
    as ``None`` and its raw value kept in ``unreadable``. A required field (a run's ``id`` and
    ``status``, a completion's ``choices``) or one that carries the output (``_essential``: a run's
    ``output_content``, tool calls and their arguments) that cannot be read fails the answer: the
    output is never silently lost.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    _essential: ClassVar[frozenset[str]] = frozenset()

    _unreadable: dict[str, Any] = PrivateAttr(default_factory=dict)
    _request_id: str | None = PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """Tela's ``x-request-id`` of the answer this was read from (set by the hook): what support asks for."""
        return self._request_id

    @property
    def unreadable(self) -> dict[str, Any]:
        """Documented fields whose values had another type than documented, as Tela sent them."""
        return self._unreadable

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate_drift(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        try:
            return handler(data)
        except ValidationError as exc:
            if not isinstance(data, dict):
                raise
            fields = cls.model_fields
            drifted = {str(e["loc"][0]) if e["loc"] else "" for e in exc.errors()}
            # an answer that is not an object, or a required field that cannot be read, fails it
            if not all(key in fields and key in data and not fields[key].is_required()
                       and key not in cls._essential for key in drifted):
                raise
            model = handler({key: value for key, value in data.items() if key not in drifted})
            model._unreadable = {key: data[key] for key in drifted}
            _warn_drift_once(cls.__name__, drifted)
            return model


_drift_seen: set[tuple[str, str]] = set()


def _warn_drift_once(model: str, fields: set[str]) -> None:
    """Say once per process and field that Tela's answers no longer match the documented types
    (names only: a value may be anything, a secret included)."""
    new = sorted(field for field in fields if (model, field) not in _drift_seen)
    if new:
        _drift_seen.update((model, field) for field in new)
        logging.getLogger("airflow_provider_tela").warning(
            "Tela answered %s with %s of another type than documented (or a figure that is not a finite, "
            "non-negative number): read as None (the raw value is in the model's .unreadable). If Tela changed "
            "its API, upgrade airflow-provider-tela.",
            model, ", ".join(new),
        )


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def describe_validation_error(exc: ValidationError) -> str:
    """Name every offending field with what was wrong, in one line per field."""
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


# --- requests ---------------------------------------------------------------------------------


class FileOptions(_Request):
    """Options of a file variable, sent as Tela's Python SDK spells them (``range``, ``parser_type``).

    ``parserType``, tela-client's spelling, is accepted and sent as ``parser_type``. Other options
    pass through unchanged (the API's ``options`` is a free-form object).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    range: list[int] | None = Field(default=None, description="Pages to parse, e.g. [0, 1].")
    parser_type: str | None = Field(default=None, description="Which parser provider to use.")

    @model_validator(mode="before")
    @classmethod
    def _sdk_spelling(cls, value: Any) -> Any:
        if isinstance(value, dict) and "parserType" in value:
            value = dict(value)
            camel = value.pop("parserType")
            if value.get("parser_type") not in (None, camel):
                raise ValueError(f"give parser_type or parserType, not both with different values "
                                 f"({value['parser_type']!r} vs {camel!r})")
            value["parser_type"] = camel
        return value


class FileVariable(_Request):
    """A file variable: a URL Tela can download (https, data: URI, or an uploaded file's URL)."""

    file_url: str = Field(min_length=1)
    options: FileOptions | None = None


class FileListVariable(_Request):
    """Several files in one variable, ``{"files": [<file variable>, ...]}``, as tela-client sends them.

    Not in Tela's OpenAPI (whose Variables are text or one ``{file_url}``); see README, Inputs.
    """

    files: list[FileVariable] = Field(min_length=1)


def _variable_shape(value: Any) -> str:
    # Picks the one union member to validate against, so an error names that shape's fields only.
    if isinstance(value, str):
        return "text"
    if isinstance(value, FileListVariable) or (isinstance(value, dict) and "files" in value):
        return "files"
    return "file"


VariableValue = Annotated[
    Annotated[str, Tag("text")] | Annotated[FileVariable, Tag("file")] | Annotated[FileListVariable, Tag("files")],
    Discriminator(_variable_shape),
]


class TextContent(_Request):
    type: Literal["text"] = "text"
    text: str


class ImageUrl(_Request):
    url: str = Field(min_length=1)
    detail: Literal["auto", "high", "low"] | None = None


class ImageUrlContent(_Request):
    type: Literal["image_url"] = "image_url"
    image_url: ImageUrl


class FileContent(_Request):
    """A file in a message (the API's ``FileMessage``)."""

    file_url: str = Field(min_length=1)


MessageContent = str | TextContent | ImageUrlContent | FileContent


Arguments = str | dict[str, Any]


def decode_arguments(arguments: Arguments | None) -> dict[str, Any] | None:
    """A function or tool call's arguments as a dict: Tela sends a JSON string or an object."""
    if arguments is None or isinstance(arguments, dict):
        return arguments
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


class FunctionCall(_Response):
    _essential = frozenset({"arguments"})

    name: str | None = None
    # A JSON string in the OpenAPI; an object too in Tela's SDK (``str | dict``): both are read.
    arguments: Arguments | None = None

    @property
    def parsed_arguments(self) -> dict[str, Any] | None:
        return decode_arguments(self.arguments)


CONTENT_SHAPES = (
    "a string, {'type': 'text', 'text': ...}, {'type': 'image_url', 'image_url': {'url': ..., 'detail': ...}}, "
    "or a file ({'file_url': ...} or TelaFile)"
)


class Message(_Request):
    # Tela's OpenAPI (the Messages schema) allows only these two roles; its SDK's types allow more.
    role: Literal["user", "assistant"]
    content: MessageContent
    function_call: FunctionCall | None = None

    @field_validator("role", mode="before")
    @classmethod
    def _documented_role(cls, value: Any) -> Any:
        if value == "system":
            raise ValueError(
                "role 'system' is not in Tela's API (its Messages schema allows 'user' and 'assistant'): "
                "put standing instructions in the canvas's prompt, or in a first 'user' message"
            )
        return value

    @field_validator("content", mode="before")
    @classmethod
    def _known_shape(cls, value: Any) -> Any:
        # Checked up front so that the error names the shapes instead of one line per union member.
        if isinstance(value, (str, BaseModel)):
            return value
        if isinstance(value, dict) and (value.get("type") in ("text", "image_url") or set(value) == {"file_url"}):
            return value
        raise ValueError(f"content must be {CONTENT_SHAPES}; got {value!r:.80}")


class FunctionParameters(_Request):
    """A function's parameters: a JSON schema. Other JSON-schema keys (``title``, ``$defs``,
    ``additionalProperties``, ... as ``model_json_schema()`` writes them) pass through."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["object"] = "object"
    properties: dict[str, Any] = Field(default_factory=dict)
    required: list[str] | None = None


class FunctionDefinition(_Request):
    """A function the model may call. ``id`` is required by Tela's SDK: it defaults to ``name``."""

    id: str | None = None
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: FunctionParameters | None = None

    @model_validator(mode="after")
    def _id_from_name(self) -> FunctionDefinition:
        if not self.id:
            self.id = self.name
        return self


DEFAULT_SCHEMA_TITLE = "output"
DEFAULT_SCHEMA_DESCRIPTION = "Structured output of the canvas run"


class StructuredOutputSchema(_Request):
    """The JSON schema of a structured output. Tela's SDK requires ``title`` and ``description``:
    when not given they are ``"output"`` and ``"Structured output of the canvas run"``."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: Literal["object"] = "object"
    properties: dict[str, Any] = Field(default_factory=dict)
    title: str = DEFAULT_SCHEMA_TITLE
    description: str = DEFAULT_SCHEMA_DESCRIPTION
    required: list[str] | None = None


class StructuredOutput(_Request):
    enabled: bool = True
    schema_: StructuredOutputSchema | None = Field(default=None, alias="schema")


DEFAULT_OVERRIDE_TYPE: Literal["chat", "completion"] = "chat"


class Override(_Request):
    """Per-request settings that replace the canvas's own.

    ``type`` is required by Tela's OpenAPI and SDK, so an override always carries one: ``"chat"``
    unless given. For a canvas that runs a completion model, pass ``type="completion"``.

    ``extra_body`` holds override fields the provider does not know yet, merged into the override
    as they are (unknown keys are refused otherwise, so that a typo fails before sending).
    """

    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=1)
    type: Literal["chat", "completion"] = DEFAULT_OVERRIDE_TYPE
    functions: list[FunctionDefinition] | None = None
    structured_output: StructuredOutput | None = None
    extra_body: dict[str, Any] | None = Field(default=None, exclude=True)

    @field_validator("type", mode="before")
    @classmethod
    def _default_type(cls, value: Any) -> Any:
        return DEFAULT_OVERRIDE_TYPE if value is None else value

    @field_validator("extra_body")
    @classmethod
    def _unmanaged_override_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        managed = frozenset(cls.model_fields) - {"extra_body"}
        return unmanaged_json(value, managed, "override.extra_body", " (give it as a key of override)")

    def to_payload(self) -> dict[str, Any]:
        return {**self.model_dump(by_alias=True, exclude_none=True, mode="json"), **(self.extra_body or {})}


def unmanaged_json(
    value: dict[str, Any] | None, managed: frozenset[str], name: str, hint: str = ""
) -> dict[str, Any] | None:
    """An ``extra_body``: plain JSON that sets no field the provider sends from its own parameters."""
    if not value:
        return value
    clash = sorted(set(value) & managed)
    if clash:
        raise ValueError(
            f"{name} may not set {', '.join(map(repr, clash))}: the provider sends "
            f"{'these' if len(clash) > 1 else 'it'} from its own parameter of the same name{hint}"
        )
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be plain JSON (str, number, bool, None, list, dict): {exc}") from None
    return value


VARIABLE_SHAPES = (
    "text (a string; an int or a bool is sent as text), a file (TelaFile(...), a Path, or {'file_url': ...}) "
    "or a list of files"
)


def _variable_value(name: str, item: Any) -> Any:
    """Bring one variable to a shape the API takes: ints and bools become text, a list of files ``{"files"}``."""
    if isinstance(item, bool):  # before int: bool is an int subclass
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, (str, dict, FileVariable, FileListVariable)):
        return item
    if isinstance(item, (list, tuple)):
        if not item:
            raise ValueError(f"variable {name!r} is an empty list: give at least one file, or leave the variable out")
        for index, member in enumerate(item):
            if not isinstance(member, (dict, FileVariable)):
                raise ValueError(
                    f"variable {name!r} is a list, so each item must be a file (TelaFile, Path or "
                    f"{{'file_url': ...}}); item {index} is {type(member).__name__}: join text into one string, "
                    "or wrap a URL in TelaFile(url)"
                )
        return {"files": list(item)}
    if item is None:
        hint = "leave the variable out, or pass ''"
    elif isinstance(item, float):
        hint = "convert it, e.g. f'{value:.2f}' (a float has no single text form)"
    else:
        hint = "convert it, e.g. str(value)"
    raise ValueError(f"variable {name!r} must be {VARIABLE_SHAPES}; got {type(item).__name__}: {hint}")


class CompletionRequest(_Request):
    """The body of ``POST /v2/chat/completions``.

    ``extra_body`` holds top-level fields the provider does not manage (e.g. ``long_response``, sent by
    Tela's other clients): merged into the payload as they are, so new API fields
    are usable without a release. It may not set a field the provider manages.
    """

    canvas_id: str | None = None
    application_id: str | None = None
    # A canvas version to run (Tela's SDK: canvasId, versionId or applicationId name what runs).
    version_id: str | None = None
    # A Workstation task's name (applications only, as in Tela's SDK), and tags for the run or task.
    label: str | None = Field(default=None, min_length=1)
    tags: list[Annotated[str, Field(min_length=1)]] | None = None
    variables: dict[str, VariableValue] = Field(default_factory=dict)
    messages: list[Message] | None = None
    override: Override | None = None
    stream: bool = False
    async_: bool = Field(default=False, alias="async")
    webhook_url: str | None = None
    extra_body: dict[str, Any] | None = Field(default=None, exclude=True)

    @field_validator("variables", mode="before")
    @classmethod
    def _text_or_file(cls, value: Any) -> Any:
        if isinstance(value, dict):
            blank = [name for name in value if isinstance(name, str) and not name.strip()]
            if blank:  # the one check of names, for the single-run operator and every batch record alike
                raise ValueError(f"variable names must not be empty (got {blank[0]!r}): name each variable as the "
                                 "canvas does, e.g. {'document': '...'}")
            return {name: _variable_value(name, item) for name, item in value.items()}
        return value

    @field_validator("extra_body")
    @classmethod
    def _unmanaged_json(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return unmanaged_json(
            value, MANAGED_FIELDS, "extra_body",
            " (canvas_id, application_id, version_id, label, tags, variables, messages, override or output_schema, "
            "stream, webhook_url; "
            "async follows the operator's mode; new override fields go in override={..., 'extra_body': {...}})",
        )

    @model_validator(mode="after")
    def _one_target(self) -> CompletionRequest:
        problem = target_problem(self.canvas_id, self.application_id, self.version_id, self.label, self.stream)
        if problem:
            raise ValueError(problem)
        if self.stream and (self.async_ or self.webhook_url):
            raise ValueError("stream=True cannot be combined with async or webhook_url")
        return self

    @classmethod
    def build(cls, **fields: Any) -> CompletionRequest:
        """Validate user input, raising TelaConfigError that names each bad field."""
        error: TelaConfigError | None = None
        try:
            request = cls.model_validate(fields)
            json.dumps(request.to_payload())  # an option that cannot be sent fails now, before any upload
            return request
        except ValidationError as exc:
            error = TelaConfigError(f"Invalid Tela completion request: {describe_validation_error(exc)}")
        except (PydanticSerializationError, TypeError, ValueError) as exc:
            error = TelaConfigError(
                f"Invalid Tela completion request: a value cannot be sent as JSON ({type(exc).__name__}: "
                f"{str(exc)[:200]}); pass strings, numbers, booleans, lists and dicts."
            )
        raise error

    def to_payload(self) -> dict[str, Any]:
        payload = self.model_dump(by_alias=True, exclude_none=True, mode="json")
        # false flags are the API's default; leaving them out keeps requests minimal
        for flag in ("stream", "async"):
            if not payload.get(flag):
                payload.pop(flag, None)
        if self.override is not None:
            payload["override"] = self.override.to_payload()
        payload.update(self.extra_body or {})
        return payload


# The JSON keys CompletionRequest sends from its own fields; extra_body may not set them.
MANAGED_FIELDS = frozenset(
    field.alias or name for name, field in CompletionRequest.model_fields.items() if name != "extra_body"
)


# --- responses --------------------------------------------------------------------------------


class RunStatus:
    """The run statuses Tela documents. Tela may add others (e.g. ``queued``): any status that is
    not ``succeeded`` or ``failed`` is read as "not finished yet"."""

    CREATED = "created"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KNOWN = frozenset({CREATED, RUNNING, SUCCEEDED, FAILED})
    TERMINAL = frozenset({SUCCEEDED, FAILED})


def is_terminal(status: str) -> bool:
    return status in RunStatus.TERMINAL


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):  # pydantic would read true as 1: a flag is no figure
        raise ValueError("a boolean is not a figure")
    return value


# A figure Tela reports (a cost, a duration, a count of tokens): finite and not negative, or it is
# unreadable (read as None, the raw value kept in ``.unreadable``): NaN, Infinity (Python's and
# pydantic's JSON readers both accept them), -0.003 or true never reach a sum or a budget.
Figure = Annotated[float, BeforeValidator(_not_a_bool), Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=0)]


class Information(_Response):
    duration: Figure | None = None
    cost: Figure | None = None
    input_tokens: Count | None = None
    output_tokens: Count | None = None


class ToolCall(_Response):
    _essential = frozenset({"arguments"})

    name: str | None = None
    # A JSON string in the OpenAPI; an object too in Tela's SDK (``str | dict``): both are read.
    arguments: Arguments | None = None

    @property
    def parsed_arguments(self) -> dict[str, Any] | None:
        return decode_arguments(self.arguments)


class OutputContent(_Response):
    _essential = frozenset({"tool_calls"})

    role: str | None = None
    content: Any = None
    tool_calls: list[ToolCall] | None = None
    information: Information | None = None
    has_structured_output: bool | None = None
    input_messages: str | None = None


class InputFile(_Response):
    name: str | None = None
    used_at: str | None = None
    parsed_content: str | None = None
    url: str | None = None
    type: str | None = None


class InputContent(_Response):
    variables: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    files: list[InputFile] | None = None


class RawInput(_Response):
    version_id: str | None = None
    canvas_id: str | None = None
    application_id: str | None = None
    webhook_url: str | None = None
    variables: dict[str, Any] | None = None
    messages: list[dict[str, Any]] | None = None
    override: dict[str, Any] | None = None


class RunProgress(BaseModel):
    """Just the id and status of a run: what a poll of an active run needs, validated cheaply."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)


class CanvasRun(_Response):
    """A canvas run, as ``GET /v2/chat/completions/{id}`` and async submissions answer it."""

    _essential = frozenset({"output_content"})

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    input_content: InputContent | None = None
    output_content: OutputContent | None = None
    raw_input: RawInput | None = None
    raw_output: dict[str, Any] | None = None
    compatibility_date: str | None = None
    prompt_version_id: str | None = None
    prompt_application_id: str | None = None
    workspace_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def content(self) -> Any:
        return self.output_content.content if self.output_content else None

    @property
    def usage(self) -> dict[str, Any]:
        """Tokens, cost and duration as a plain dict (what goes to XCom key ``usage``)."""
        if self.output_content and self.output_content.information:
            return self.output_content.information.model_dump(mode="json")
        return {}

    def failure_reason(self) -> str:
        """What the API said about a failed run, wherever it put it."""
        extra = self.model_extra or {}
        candidates = [extra.get("error"), (self.raw_output or {}).get("error")]
        if self.output_content is not None and isinstance(self.output_content.content, dict):
            candidates.append(self.output_content.content.get("error"))
        for found in candidates:
            if isinstance(found, dict) and found.get("message"):
                return str(found["message"])
            if isinstance(found, str) and found:
                return found
        return "Tela gave no reason; open the run in Tela to see its log"


class TaskStatus:
    """The statuses of a Workstation task, as Tela's docs list them. ``validating``: the task's run
    ended and its output awaits a reviewer ("ready for review"); ``completed``: approved, or done in an
    app without review; an approval revoked returns the task to ``validating``. Others Tela may add are
    read as "not finished yet"."""

    CREATED = "created"
    RUNNING = "running"
    VALIDATING = "validating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    KNOWN = frozenset({CREATED, RUNNING, VALIDATING, COMPLETED, FAILED, CANCELLED})


class Task(_Response):
    """A Workstation task, as ``GET /task/{id}`` answers it (camelCase, as Tela sends it)."""

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    name: str | None = None
    promptApplicationId: str | None = None
    promptVersionId: str | None = None
    inputContent: dict[str, Any] | None = None
    outputContent: Any = None  # an object or null; Tela's example nests the result under "content"
    rawInput: dict[str, Any] | None = None
    rawOutput: Any = None
    tags: list[Any] | None = None
    metadata: dict[str, Any] | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    approvedAt: str | None = None
    approvedBy: str | None = None
    completionRunId: str | None = None
    workflowRunId: str | None = None

    @property
    def content(self) -> Any:
        """The task's output, as a reviewer left it: ``outputContent.content`` when it nests one."""
        output = self.outputContent
        if isinstance(output, dict) and "content" in output:
            return output["content"]
        return output

    @property
    def usage(self) -> dict[str, Any]:
        """Tokens, cost and duration, when the task's output carries them (checked as a run's are)."""
        output = self.outputContent
        found = output.get("information") if isinstance(output, dict) else None
        if not isinstance(found, dict):
            return {}
        return Information.model_validate(found).model_dump(mode="json")

    @property
    def review(self) -> dict[str, Any]:
        """What a DAG may want to know of the task's review (XCom ``tela_task``)."""
        edited = (self.metadata or {}).get("editedFields")
        return {"id": self.id, "status": self.status, "name": self.name, "approved_at": self.approvedAt,
                "approved_by": self.approvedBy, "completion_run_id": self.completionRunId,
                "tags": self.tags, "edited": bool(edited)}

    def failure_reason(self) -> str:
        extra = self.model_extra or {}
        for found in (extra.get("error"), (self.rawOutput or {}).get("error") if isinstance(self.rawOutput, dict)
                      else None):
            if isinstance(found, dict) and found.get("message"):
                return str(found["message"])
            if isinstance(found, str) and found:
                return found
        if self.status == TaskStatus.CANCELLED:
            return "the task was cancelled in Tela"
        return "Tela gave no reason; open the task in Tela's Workstation to see its log"


class TaskProgress(BaseModel):
    """Just the id and status of a task: what a poll of an active task needs, validated cheaply."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)


class CompletionMessage(_Response):
    _essential = frozenset({"tool_calls"})

    role: str | None = None
    content: Any = None
    tool_calls: list[ToolCall] | None = None
    structured_content: Any = None


class CompletionChoice(_Response):
    message: CompletionMessage
    finish_reason: str | None = None


class Usage(_Response):
    prompt_tokens: Count | None = None
    completion_tokens: Count | None = None
    total_tokens: Count | None = None


class ChatCompletion(_Response):
    """The answer of a synchronous ``POST /v2/chat/completions``."""

    id: str | None = None
    object: str | None = None
    created: int | None = None
    choices: Annotated[list[CompletionChoice], Field(min_length=1)]
    usage: Usage | None = None

    @property
    def content(self) -> Any:
        return self.choices[0].message.content


class ChunkDelta(_Response):
    _essential = frozenset({"function_call"})

    role: str | None = None
    content: Any = None
    function_call: FunctionCall | None = None


class ChunkChoice(_Response):
    _essential = frozenset({"delta", "message"})

    delta: ChunkDelta | None = None
    message: CompletionMessage | None = None
    finish_reason: str | None = None


class CompletionChunk(_Response):
    """One Server-Sent Event of a streamed completion."""

    _essential = frozenset({"choices", "message"})

    id: str | None = None
    object: str | None = None
    created: int | None = None
    model: str | None = None
    choices: list[ChunkChoice] = Field(default_factory=list)
    # the documented final chunk carries the complete message beside its choices
    message: CompletionMessage | None = None

    @property
    def text(self) -> str:
        """The piece of text this chunk adds (empty when it adds none)."""
        if self.choices and self.choices[0].delta and isinstance(self.choices[0].delta.content, str):
            return self.choices[0].delta.content
        return ""

    @property
    def finished(self) -> bool:
        return bool(self.choices and self.choices[0].finish_reason)

    @property
    def final_message(self) -> CompletionMessage | None:
        """The complete message, on the last chunk (top level, or inside the choice)."""
        if self.message is not None:
            return self.message
        return self.choices[0].message if self.choices else None


class FileUploadTarget(_Response):
    """``POST /v2/file``: where to PUT the bytes and the URL to give the canvas afterwards.

    Documented as ``upload_url`` / ``download_url``; Tela's Python SDK reads ``uploadUrl`` /
    ``downloadUrl``, so either spelling is accepted.
    """

    upload_url: str = Field(min_length=1, validation_alias=AliasChoices("upload_url", "uploadUrl"))
    download_url: str = Field(min_length=1, validation_alias=AliasChoices("download_url", "downloadUrl"))


class CanvasVariable(_Response):
    name: str
    type: str = "text"
    required: bool = False
    description: str | None = None
    processingOptions: dict[str, Any] | None = None


class PromotedVersion(_Response):
    """``GET /prompt/{canvas_id}/promoted-version``: the canvas version that runs, with its variables."""

    id: str | None = None
    variables: list[CanvasVariable] = Field(default_factory=list)
