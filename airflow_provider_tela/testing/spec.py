"""Tela's own OpenAPI, read from its documentation page, judging every completion request body.

The page ``tela_docs/000_dad568216ea6a211.txt`` is a verbatim copy of Tela's "Retrieve Canvas Run"
documentation page; its OpenAPI block defines the request schemas ``Variables``, ``Messages`` and
``Override`` and the run's ``raw_input`` (the request's fields as Tela records them). Nothing here
retypes those schemas: they are parsed from the page when the emulator starts.

What the pages do not give is added on top, each addition named in ``EXTENSIONS`` and in README:
the ``stream`` / ``async`` flags (from the "Integrating via API" guide), the multi-file variable
``{"files": [...]}`` that Tela's ``tela-client`` sends, and ``label`` / ``tags`` that Tela's JS SDK 2.x
sends with a canvas execution. The bodies of Workstation's ``POST /task`` and ``PATCH /task/{id}``
(API reference "Create a Task" / "Update a Task", pages not shipped here) are judged by schemas built
from the same page's ``Variables``, ``Messages`` and ``Override``.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import jsonschema
import yaml
from jsonschema.exceptions import ValidationError

SPEC_PAGE = "000_dad568216ea6a211.txt"
_OPENAPI_BLOCK = re.compile(r"^````yaml[^\n]*\n(.*?)^````[ \t]*$", re.MULTILINE | re.DOTALL)

# What the emulator accepts beyond the OpenAPI, and where each comes from (README lists them too).
EXTENSIONS = {
    "stream": "boolean top-level flag, from the guide 'Integrating via API' (not in the OpenAPI)",
    "async": "boolean top-level flag, from the guide 'Integrating via API' (not in the OpenAPI)",
    "variables.{name}.files": "several files in one variable, {'files': [<file variable>, ...]}, as tela-client sends",
    "label": "string, the task's name, only with application_id (Tela's JS SDK 2.x: 'only applicable when "
             "applicationId is provided')",
    "tags": "list of strings (Tela's JS SDK 2.x canvas executions)",
}
# Most tasks one POST /task may create (API reference "Create tasks": "an array of up to 100 task objects").
MAX_TASKS_PER_POST = 100

_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_NULLABLE_OBJECT = {"type": "object", "nullable": True}
_NULLABLE_STRING = {"type": "string", "nullable": True}


@dataclass(frozen=True)
class Violation:
    path: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


def page_text() -> str:
    return resources.files(__package__).joinpath("tela_docs", SPEC_PAGE).read_text(encoding="utf-8")


def load_openapi(text: str) -> dict[str, Any]:
    """The OpenAPI document inside a documentation page (its ````yaml block)."""
    found = _OPENAPI_BLOCK.search(text)
    if found is None:
        raise ValueError(f"no ````yaml OpenAPI block in the Tela documentation page {SPEC_PAGE}")
    document = yaml.safe_load(found.group(1))
    if not isinstance(document, dict) or "components" not in document:
        raise ValueError(f"the OpenAPI block of {SPEC_PAGE} has no components")
    return document


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 schema objects as JSON Schema: ``nullable: true`` becomes ``anyOf [..., null]``."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def completion_body_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """The body of ``POST /v2/chat/completions``: the run's ``raw_input`` fields plus the extensions."""
    schemas = copy.deepcopy(openapi["components"]["schemas"])
    raw_input = schemas["ChatCompletionWebhookResponse"]["properties"]["raw_input"]
    properties = dict(raw_input["properties"])
    properties["stream"] = {"type": "boolean"}
    properties["async"] = {"type": "boolean"}
    properties["label"] = {"type": "string"}
    properties["tags"] = _STRING_LIST

    body = {"type": "object", "properties": properties}
    return to_json_schema({**body, "components": {"schemas": _with_file_lists(schemas)}})


def _with_file_lists(schemas: dict[str, Any]) -> dict[str, Any]:
    """``Variables`` also accepting tela-client's ``{"files": [<file variable>, ...]}``."""
    alternatives = schemas["Variables"]["additionalProperties"]["oneOf"]
    [file_variable] = [alt for alt in alternatives if "file_url" in alt.get("properties", {})]
    alternatives.append({
        "type": "object",
        "properties": {"files": {"type": "array", "minItems": 1, "items": copy.deepcopy(file_variable)}},
        "required": ["files"],
    })
    return schemas


def task_body_schema(openapi: dict[str, Any]) -> dict[str, Any]:
    """One task object of ``POST /task``: the fields of "Create a Task" (both its pages: variables in
    ``inputContent`` on the older one, in ``rawInput`` on the OpenAPI one), other fields allowed."""
    schemas = _with_file_lists(copy.deepcopy(openapi["components"]["schemas"]))
    content = {
        "variables": {"$ref": "#/components/schemas/Variables"},
        "messages": {"$ref": "#/components/schemas/Messages"},
    }
    body = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "promptApplicationId": {"type": "string"},
            "inputContent": {"type": "object", "properties": {**content, "files": {"type": "array"}}},
            "rawInput": {"type": "object", "properties": {
                **content, "webhook_url": {"type": "string"},
                "override": {"$ref": "#/components/schemas/Override"},
            }},
            "tags": _STRING_LIST,
            "metadata": _NULLABLE_OBJECT,
            "outputContent": _NULLABLE_OBJECT,
            "approvedAt": _NULLABLE_STRING,
            "completionRunId": _NULLABLE_STRING,
            "workflowRunId": _NULLABLE_STRING,
        },
        "required": ["promptApplicationId"],
    }
    return to_json_schema({**body, "components": {"schemas": schemas}})


def task_patch_schema() -> dict[str, Any]:
    """``PATCH /task/{id}`` ("Update a Task"): ``name``, ``outputContent``, ``tags``, ``status``."""
    return {"type": "object", "properties": {
        "name": {"type": "string"},
        "outputContent": {"type": "object"},
        "tags": _STRING_LIST,
        "status": {"type": "string"},
    }}


@lru_cache(maxsize=1)
def completion_body_validator() -> jsonschema.protocols.Validator:
    schema = completion_body_schema(load_openapi(page_text()))
    # OpenAPI 3.0's schema objects are a dialect of JSON Schema draft 4 ("draft wright-00").
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@lru_cache(maxsize=1)
def task_body_validator() -> jsonschema.protocols.Validator:
    schema = task_body_schema(load_openapi(page_text()))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@lru_cache(maxsize=1)
def task_patch_validator() -> jsonschema.protocols.Validator:
    return jsonschema.Draft4Validator(task_patch_schema())


def documented_fields() -> frozenset[str]:
    return frozenset(completion_body_validator().schema["properties"])


def check_completion_body(body: Any) -> list[Violation]:
    """Every way ``body`` breaks the spec, deepest path first within each field; empty when it fits."""
    return _violations(completion_body_validator(), body)


def check_task_body(body: Any) -> list[Violation]:
    """``POST /task``: one task object, or a list of 1 to 100 (each path then starts with its index)."""
    if not isinstance(body, list):
        if not isinstance(body, dict):
            return [Violation("(body)", f"{body!r} is not a task object or a list of task objects")]
        return _violations(task_body_validator(), body)
    if not 1 <= len(body) <= MAX_TASKS_PER_POST:
        return [Violation("(body)", f"a list of tasks holds 1 to {MAX_TASKS_PER_POST} task objects, not {len(body)}")]
    return [
        Violation(f"{index}.{violation.path}" if violation.path != "(body)" else str(index), violation.message)
        for index, item in enumerate(body)
        for violation in _violations(task_body_validator(), item)
    ]


def check_task_patch(body: Any) -> list[Violation]:
    return _violations(task_patch_validator(), body)


def _violations(validator: jsonschema.protocols.Validator, body: Any) -> list[Violation]:
    errors = sorted(validator.iter_errors(body), key=lambda error: list(map(str, error.absolute_path)))
    return [Violation(_path(error), _message(error)) for error in errors]


def _path(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "(body)"


def _message(error: ValidationError) -> str:
    message = error.message
    if error.context:  # a oneOf / anyOf: say why the closest alternative failed too
        # the alternative that got furthest into the value is the one the sender most likely meant
        closest = max(error.context, key=lambda sub: (len(sub.relative_path), sub.validator != "type"))
        where = ".".join(str(part) for part in closest.relative_path)
        message += f" (closest: {where + ': ' if where else ''}{closest.message})"
    return message
