"""Tela's own OpenAPI, read from its documentation page, judging every completion request body.

The page ``tela_docs/000_dad568216ea6a211.txt`` is a verbatim copy of Tela's "Retrieve Canvas Run"
documentation page; its OpenAPI block defines the request schemas ``Variables``, ``Messages`` and
``Override`` and the run's ``raw_input`` (the request's fields as Tela records them). Nothing here
retypes those schemas: they are parsed from the page when the emulator starts.

What the pages do not give is added on top, each addition named in ``EXTENSIONS`` and in README:
the ``stream`` / ``async`` flags (from the "Integrating via API" guide) and the multi-file variable
``{"files": [...]}`` that Tela's ``tela-client`` sends.
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
}


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

    alternatives = schemas["Variables"]["additionalProperties"]["oneOf"]
    [file_variable] = [alt for alt in alternatives if "file_url" in alt.get("properties", {})]
    alternatives.append({
        "type": "object",
        "properties": {"files": {"type": "array", "minItems": 1, "items": copy.deepcopy(file_variable)}},
        "required": ["files"],
    })
    body = {"type": "object", "properties": properties}
    return to_json_schema({**body, "components": {"schemas": schemas}})


@lru_cache(maxsize=1)
def completion_body_validator() -> jsonschema.protocols.Validator:
    schema = completion_body_schema(load_openapi(page_text()))
    # OpenAPI 3.0's schema objects are a dialect of JSON Schema draft 4 ("draft wright-00").
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def documented_fields() -> frozenset[str]:
    return frozenset(completion_body_validator().schema["properties"])


def check_completion_body(body: Any) -> list[Violation]:
    """Every way ``body`` breaks the spec, deepest path first within each field; empty when it fits."""
    errors = sorted(
        completion_body_validator().iter_errors(body), key=lambda error: list(map(str, error.absolute_path))
    )
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
