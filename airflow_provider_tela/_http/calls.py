"""What each Tela endpoint sends: one function per endpoint, used by both clients."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import IO, Any
from urllib.parse import quote, urlsplit

from airflow_provider_tela._ids import plain_id
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
    # A presigned URL outside the API (file uploads): sent as is, and never with the API key.
    absolute_url: str | None = None
    # Opens the request body afresh for every attempt, so that a retry re-reads a streamed file.
    body: Callable[[], AbstractContextManager[IO[bytes]]] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.method} {self.path}"

    def url(self, base_url: str) -> str:
        return self.absolute_url or base_url + self.path


def _path_segment(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TelaConfigError(f"{name} must be a non-empty string, got {value!r}")
    return quote(value.strip(), safe="")


def _id_segment(value: str, name: str) -> str:
    return quote(plain_id(value, name), safe="")


def completion(request: CompletionRequest) -> ApiCall:
    return ApiCall("POST", COMPLETIONS_PATH, json=request.to_payload(), creates_run=True, stream=request.stream)


def run_status(run_id: str) -> ApiCall:
    return ApiCall("GET", f"{COMPLETIONS_PATH}/{_id_segment(run_id, 'run_id')}")


@lru_cache(maxsize=65536)
def get_run(run_id: str) -> ApiCall:
    # Cached: a trigger polls the same run for hours; the call never changes. Sized above the
    # number of runs one triggerer waits for, since polls come round robin and LRU would thrash.
    return run_status(run_id)


TASKS_PATH = "/task"


def task_status(task_id: str) -> ApiCall:
    return ApiCall("GET", f"{TASKS_PATH}/{_id_segment(task_id, 'tela_task_id')}")


@lru_cache(maxsize=65536)
def get_task(task_id: str) -> ApiCall:
    return task_status(task_id)  # cached for the same reason as get_run


def list_tasks(params: dict[str, str]) -> ApiCall:
    return ApiCall("GET", TASKS_PATH, params=params)


def update_task(task_id: str, body: dict[str, Any]) -> ApiCall:
    # Not a run-creating request: a PATCH sent twice sets the same fields twice.
    return ApiCall("PATCH", f"{TASKS_PATH}/{_id_segment(task_id, 'tela_task_id')}", json=body)


def create_file() -> ApiCall:
    # An unused upload slot costs nothing, so this POST may be retried like a GET.
    return ApiCall("POST", "/v2/file")


def upload(upload_url: str, open_body: Callable[[], AbstractContextManager[IO[bytes]]], content_type: str,
           size: int | None) -> ApiCall:
    """PUT a file's bytes to the upload URL Tela handed out (a presigned URL: no API key)."""
    parts = urlsplit(upload_url)
    headers = {"Content-Type": content_type}
    if size is not None:
        headers["Content-Length"] = str(size)
    return ApiCall("PUT", f"{parts.scheme}://{parts.netloc}{parts.path}", absolute_url=upload_url,
                   body=open_body, headers=headers)


def promoted_version(canvas_id: str) -> ApiCall:
    return ApiCall("GET", f"/prompt/{_path_segment(canvas_id, 'canvas_id')}/promoted-version")


def list_projects() -> ApiCall:
    return ApiCall("GET", "/project")


def list_canvases(project_id: str) -> ApiCall:
    return ApiCall("GET", "/prompt", params={"projectId": _path_segment(project_id, "project_id")})
