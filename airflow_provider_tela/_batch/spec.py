"""What every record of a batch is asked: the canvas (or application), the operator-level variables,
messages, override and extra body. A record adds its own variables (a record's value wins over the
operator's for the same name).

The spec is plain JSON: the worker writes it into the batch's state folder, and a trigger (or a
retry) reads it back. Requests are built by ``hooks.tela.build_request``, the one place a completion
request is validated, for the single-run operator and the batch alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from airflow_provider_tela._inputs import files_in
from airflow_provider_tela.errors import TelaConfigError


@dataclass(frozen=True)
class BatchSpec:
    canvas_id: str | None = None
    application_id: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    messages: list[Any] | None = None
    override: dict[str, Any] | None = None
    extra_body: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if files_in(self.variables, self.messages):
            raise TelaConfigError(
                "TelaBatchOperator does not upload files: give each record a file URL as a variable "
                "({'file_url': 'https://...'}), or use TelaCompletionOperator for uploads."
            )

    def merged(self, record: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.variables, **record}

    def request_for(self, record: Mapping[str, Any]) -> Any:
        """The validated async request for one record (a TelaConfigError names what is wrong)."""
        from airflow_provider_tela.hooks.tela import build_request

        flags: dict[str, Any] = {"async": True}
        if self.extra_body:
            flags["extra_body"] = self.extra_body
        return build_request(self.canvas_id, self.application_id, self.merged(record), self.messages,
                             self.override, **flags)

    @staticmethod
    def key_for(conn_id: str, request: Any) -> str:
        """The record's *request key*: a digest of the connection (the account billed) and the whole
        request sent for it (canvas or application, merged variables, messages, override, extra body).
        A later try in the same epoch reuses a run whose key equals its record's (``batch.carry``).
        (Text holding a lone surrogate is hashed as its surrogatepass bytes: a digest, never an error.)"""
        text = json.dumps({"conn_id": conn_id, "request": request.to_payload()}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def identity(self) -> dict[str, Any]:
        """What the fingerprint binds: the request every record shares (records are hashed apart)."""
        return {"template": self.request_for({}).to_payload()}

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BatchSpec:
        fields: dict[str, Any] = {name: data.get(name) for name in cls.__dataclass_fields__ if name in data}
        return cls(**fields)
