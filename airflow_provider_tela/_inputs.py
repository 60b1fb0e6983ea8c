"""Turning the variables and messages a DAG gives into what the API takes, files included.

A request is built once per try, each file standing in it as a slot (``FileSlots``), so that the
whole request is validated before a byte is uploaded; right before sending, the slots are filled
with the uploads. A variable may hold one file or a list of them; the request model turns a list
into ``{"files": [...]}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_tela._files import TelaFile, as_tela_file, is_file_value
from airflow_provider_tela.errors import TelaConfigError

# Takes a file value as the DAG gave it (TelaFile, Path, ObjectStoragePath); returns the file variable.
FileResolver = Callable[[Any], dict[str, Any]]
SLOT_PREFIX = "tela-file:"


class FileSlots:
    """The files of one request. While the request is built and validated (once per try), each file
    stands in it as ``tela-file:<digest>``: a name for the file, never its content, which is what the
    request's fingerprint binds (a retry must recognise its earlier submission even when a local file
    is gone by then). ``upload`` checks every file, then uploads each and puts the URL Tela downloads
    it from in its place.
    """

    def __init__(self) -> None:
        self.files: dict[str, TelaFile] = {}

    def __call__(self, value: Any) -> dict[str, Any]:
        import hashlib
        import json

        tela_file = as_tela_file(value)
        described = tela_file.serialize()
        if isinstance(tela_file.source, bytes):
            described["source"] = {"sha256": hashlib.sha256(tela_file.source).hexdigest()}
        described["conn_id"] = described.get("conn_id") or getattr(value, "conn_id", None)
        slot = SLOT_PREFIX + hashlib.sha256(json.dumps(described, sort_keys=True, default=str).encode()).hexdigest()
        self.files[slot] = tela_file
        return tela_file.to_variable(slot)

    def upload(self, request: Any, upload: Callable[[TelaFile, int | None], dict[str, Any]]) -> Any:
        """Fill ``request``'s file slots (in place): every file is checked (missing, empty, unreadable)
        before the first is uploaded, so that nothing is uploaded when one is wrong."""
        from airflow_provider_tela.models import FileContent, FileListVariable, FileVariable

        sizes = {slot: tela_file.size() for slot, tela_file in self.files.items()}
        urls = {slot: upload(tela_file, sizes[slot])["file_url"] for slot, tela_file in self.files.items()}
        found: list[Any] = []
        for value in request.variables.values():
            found += value.files if isinstance(value, FileListVariable) else [value]
        found += [message.content for message in request.messages or []]
        for item in found:
            if isinstance(item, (FileVariable, FileContent)) and item.file_url in urls:
                item.file_url = urls[item.file_url]
        return request


def _members(value: Any) -> list[Any]:
    """The values a variable holds: its items when it is a list (several files), else itself."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def files_in(variables: Mapping[str, Any] | None, messages: list[Any] | None) -> list[Any]:
    """Every file value a request carries, in variables (one or a list each) and in message contents."""
    found = [member for v in (variables or {}).values() for member in _members(v) if is_file_value(member)]
    for message in messages or []:
        if isinstance(message, Mapping) and is_file_value(message.get("content")):
            found.append(message["content"])
    return found


def resolve_variables(variables: Mapping[str, Any] | None, resolve: FileResolver) -> dict[str, Any]:
    if variables is None:
        return {}
    if not isinstance(variables, Mapping):
        raise TelaConfigError(
            f"variables must be a mapping of variable name to value, got {type(variables).__name__}"
        )
    return {name: _resolve_value(v, resolve) for name, v in variables.items()}


def _resolve_value(value: Any, resolve: FileResolver) -> Any:
    if isinstance(value, str):  # text, always (the common case: no file checks)
        return value
    if is_file_value(value):
        return resolve(value)
    if isinstance(value, (list, tuple)):
        return [resolve(item) if is_file_value(item) else item for item in value]
    return value


def resolve_messages(messages: list[Any] | None, resolve: FileResolver) -> list[Any] | None:
    if messages is None:
        return None
    if not isinstance(messages, (list, tuple)):
        raise TelaConfigError(
            f"messages must be a list of {{'role': ..., 'content': ...}}, got {type(messages).__name__}"
        )
    resolved = []
    for message in messages:
        if isinstance(message, Mapping) and is_file_value(message.get("content")):
            resolved.append({**message, "content": {"file_url": resolve(message["content"])["file_url"]}})
        else:
            resolved.append(message)
    return resolved


def output_schema_override(output_schema: Any, override: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Turn ``output_schema`` (a pydantic model class or a JSON schema) into structured-output settings."""
    if output_schema is None:
        return dict(override) if override is not None else None
    if isinstance(output_schema, type) and hasattr(output_schema, "model_json_schema"):
        schema = output_schema.model_json_schema()
    elif isinstance(output_schema, Mapping):
        schema = dict(output_schema)
    else:
        raise TelaConfigError(
            f"output_schema must be a pydantic model class or a JSON schema dict, got {type(output_schema).__name__}"
        )
    if schema.get("type", "object") != "object":
        raise TelaConfigError(f"output_schema must describe an object (type 'object'), got type {schema.get('type')!r}")
    merged = dict(override or {})
    if "structured_output" in merged:
        raise TelaConfigError("give output_schema or override['structured_output'], not both")
    merged["structured_output"] = {"enabled": True, "schema": {"type": "object", **schema}}
    return merged


def variable_kind(value: Any) -> str:
    """``file`` or ``text``, as a canvas declares its variables. A list holds files."""
    if isinstance(value, (list, tuple)) or (isinstance(value, Mapping) and ("file_url" in value or "files" in value)):
        return "file"
    return "file" if is_file_value(value) else "text"
