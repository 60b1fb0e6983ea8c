"""What each Tela endpoint sends: one function per endpoint, used by both clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from airflow_provider_tela.errors import TelaConfigError
from airflow_provider_tela.models import CompletionRequest

COMPLETIONS_PATH = "/v2/chat/completions"


@dataclass(frozen=True)
class ApiCall:
    method: str
    path: str
    json: dict[str, Any] | None = None
    # A call whose repetition would start a second paid run; never retried when its fate is unknown.
    creates_run: bool = False
    stream: bool = False
    params: dict[str, str] | None = None

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"


def _path_segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TelaConfigError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value.strip(), safe="")


def completion(request: CompletionRequest) -> ApiCall:
    return ApiCall("POST", COMPLETIONS_PATH, json=request.to_payload(), creates_run=True, stream=request.stream)


def get_run(run_id: str) -> ApiCall:
    return ApiCall("GET", f"{COMPLETIONS_PATH}/{_path_segment(run_id, 'run_id')}")


def create_file() -> ApiCall:
    # An unused upload slot costs nothing, so this POST may be retried like a GET.
    return ApiCall("POST", "/v2/file")


def promoted_version(canvas_id: str) -> ApiCall:
    return ApiCall("GET", f"/prompt/{_path_segment(canvas_id, 'canvas_id')}/promoted-version")


def list_projects() -> ApiCall:
    return ApiCall("GET", "/project")


def list_canvases(project_id: str) -> ApiCall:
    return ApiCall("GET", "/prompt", params={"projectId": _path_segment(project_id, "project_id")})
