"""Each Tela endpoint as a call to send and the one parser of its answer, shared by both hooks.

A hook method is then one line in the sync hook and one in the async hook:
``endpoint.parse(transport.request(endpoint.call))``. Parsers take the raw body and the secrets to
scrub from any error text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from airflow_provider_tela._http import calls
from airflow_provider_tela._http.responses import (
    decode_json,
    decode_model,
    describe_validation_error,
    load_json,
    may_exist,
    readable_run_id,
    validate,
)
from airflow_provider_tela.errors import TelaBadResponseError, TelaRunMayExistError, detached, scrub
from airflow_provider_tela.models import (
    CanvasRun,
    ChatCompletion,
    CompletionRequest,
    FileUploadTarget,
    PromotedVersion,
    RunProgress,
    Task,
    TaskProgress,
    TaskStatus,
    is_terminal,
)

T = TypeVar("T")
Parser = Callable[[bytes, tuple[str, ...]], T]


@dataclass(frozen=True)
class Endpoint(Generic[T]):
    call: calls.ApiCall
    parse: Parser[T]


def _created(call: calls.ApiCall, model: type[Any], body: bytes, secrets: tuple[str, ...]) -> Any:
    """The answer to a run-creating request. Anything unusable means the run may exist: never a
    plain bad-response error, which a retry would answer with a second paid run."""
    error: TelaRunMayExistError | None = None
    try:
        data = load_json(body)
    except ValueError:
        excerpt = scrub(body[:200].decode("utf-8", errors="replace"), secrets)
        error = may_exist(call, f"the answer is not JSON: {excerpt!r}")
    else:
        run_id = readable_run_id(data)
        if model is CanvasRun and run_id and data.get("status") in (None, ""):
            data = {**data, "status": "created"}  # the docs: an async request "returns an id"
        if model is CanvasRun and run_id is None:
            # no id a retry could re-attach to: none, blank, absurd, or an echoed secret (now "***")
            error = may_exist(call, "the answer names no readable run id")
        else:
            try:
                return model.model_validate(data)
            except (ValidationError, RecursionError) as exc:
                detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else "nested too deeply"
                error = may_exist(
                    call, f"the answer does not match the documented {model.__name__}: {scrub(detail, secrets)}",
                    run_id=run_id,
                )
    raise detached(error)


def submit(request: CompletionRequest) -> Endpoint[CanvasRun]:
    """``POST /v2/chat/completions`` with ``async`` or ``webhook_url``: the run, at once."""
    call = calls.completion(request)
    return Endpoint(call, lambda body, secrets: _created(call, CanvasRun, body, secrets))


@dataclass(frozen=True)
class TaskRef:
    """What a submission to a Workstation app answered: the task's id, and the run behind it, as far
    as the answer names them. Tela documents neither way: read tolerantly (a task object, a list of
    tasks, a completion run naming its task, or a completion run alone)."""

    task_id: str | None
    run_id: str | None


_TASK_KEYS = frozenset({"promptApplicationId", "inputContent", "outputContent", "approvedAt", "completionRunId"})


def read_task_ref(data: Any) -> TaskRef | None:
    """The task (and run) a submission's answer names; None when it names nothing readable."""
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if isinstance(data, list):
        data = data[0] if len(data) == 1 else None  # one task was asked for: anything else is unreadable
    if not isinstance(data, dict):
        return None
    nested: dict[str, Any] = data["task"] if isinstance(data.get("task"), dict) else {}
    named = readable_run_id({"id": data.get("task_id") or data.get("taskId") or nested.get("id")})
    own = readable_run_id(data)
    looks_like_task = bool(_TASK_KEYS & set(data)) or data.get("status") in ("validating", "completed", "cancelled")
    if named is not None:
        return TaskRef(named, own or readable_run_id({"id": data.get("completionRunId")}))
    if own is not None and looks_like_task:
        return TaskRef(own, readable_run_id({"id": data.get("completionRunId")}))
    return TaskRef(None, own) if own is not None else None


def submit_task(request: CompletionRequest) -> Endpoint[TaskRef]:
    """``POST /v2/chat/completions`` with ``application_id``: "all tasks are created as if they were async
    completions". Anything unusable means the task may exist, as for a run."""
    call = calls.completion(request)

    def parse(body: bytes, secrets: tuple[str, ...]) -> TaskRef:
        error: TelaRunMayExistError | None = None
        try:
            ref = read_task_ref(load_json(body))
        except ValueError:
            ref = None
        if ref is None:
            error = may_exist(call, "the answer names no readable task or run id")
            raise detached(error)
        return ref

    return Endpoint(call, parse)


def list_tasks(params: dict[str, str]) -> Endpoint[list[Task]]:
    """``GET /task``: ``{"data": [...]}`` (or a bare list) of tasks."""
    call = calls.list_tasks(params)

    def parse(body: bytes, secrets: tuple[str, ...]) -> list[Task]:
        data = decode_json(call, body, secrets)
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise detached(TelaBadResponseError(f"Tela's answer to {call.label} holds no list of tasks"))
        return [validate(Task, item, "a task list", secrets) for item in items]

    return Endpoint(call, parse)


def update_task(task_id: str, body: dict[str, Any]) -> Endpoint[Task]:
    call = calls.update_task(task_id, body)
    return Endpoint(call, lambda raw, secrets: validate(Task, decode_json(call, raw, secrets), f"task {task_id}",
                                                        secrets))


def complete(request: CompletionRequest) -> Endpoint[ChatCompletion]:
    """A synchronous completion: the answer comes when the run ends."""
    call = calls.completion(request)
    return Endpoint(call, lambda body, secrets: _created(call, ChatCompletion, body, secrets))


@dataclass(frozen=True)
class _Resource:
    """What is polled: a canvas run or a Workstation task. One status check, two resources."""

    what: str
    model: type[Any]  # the whole object, read once it may have ended
    progress: type[Any]  # just id and status: what a check of an active one needs
    may_be_over: Callable[[str], bool]  # statuses for which the whole object is read
    cached_call: Callable[[str], calls.ApiCall]
    fresh_call: Callable[[str], calls.ApiCall]


_RUN = _Resource("run", CanvasRun, RunProgress, is_terminal, calls.get_run, calls.run_status)
# (a task in review, or in a status Tela adds later, may be what a wait ends at: read it whole)
_TASK = _Resource("task", Task, TaskProgress, lambda status: status not in (TaskStatus.CREATED, TaskStatus.RUNNING),
                  calls.get_task, calls.task_status)


def _same(resource: _Resource, job_id: str, found: Any) -> Any:
    """An answer about another run or task (a stale answer read off a reused connection) is no answer.
    (``job_id`` is plain already: ``calls`` refused any other before sending.)"""
    if found.id.strip() != job_id.strip():
        raise detached(TelaBadResponseError(
            f"Tela's answer to a status check of {resource.what} {job_id} describes {resource.what} {found.id!r}; "
            "it is ignored."
        ))
    return found


def _get(resource: _Resource, job_id: str) -> Endpoint[Any]:
    call = resource.cached_call(job_id)
    what = f"{resource.what} {job_id}"
    return Endpoint(call, lambda body, secrets: _same(resource, job_id,
                                                      decode_model(call, resource.model, body, secrets, what)))


def _status_check(resource: _Resource, job_id: str, cached: bool) -> Endpoint[Any]:
    """Just id and status while it is active, the whole object once it may have ended.

    Most checks find it still active; validating the whole object each time (inputs, raw input,
    variables) would cost the triggerer more CPU than the request itself. ``cached=False`` builds the
    request afresh: for one checked about once (a batch's), a cache entry would only hold memory.
    """
    call = resource.cached_call(job_id) if cached else resource.fresh_call(job_id)
    what = f"{resource.what} {job_id}"

    def parse(body: bytes, secrets: tuple[str, ...]) -> Any:
        progress = _same(resource, job_id, decode_model(call, resource.progress, body, secrets, what))
        if not resource.may_be_over(progress.status):
            return progress
        return decode_model(call, resource.model, body, secrets, what)

    return Endpoint(call, parse)


def get_run(run_id: str) -> Endpoint[CanvasRun]:
    return _get(_RUN, run_id)


def poll_run(run_id: str, *, cached: bool = True) -> Endpoint[CanvasRun | RunProgress]:
    """A run's status check (see ``_status_check``)."""
    return _status_check(_RUN, run_id, cached)


def get_task(task_id: str) -> Endpoint[Task]:
    return _get(_TASK, task_id)


def poll_task(task_id: str, *, cached: bool = True) -> Endpoint[Task | TaskProgress]:
    """A task's status check (see ``_status_check``)."""
    return _status_check(_TASK, task_id, cached)


def create_file() -> Endpoint[FileUploadTarget]:
    call = calls.create_file()
    return Endpoint(call, lambda body, secrets: validate(
        FileUploadTarget, decode_json(call, body, secrets), "a file upload request", secrets
    ))


def promoted_version(canvas_id: str) -> Endpoint[PromotedVersion]:
    call = calls.promoted_version(canvas_id)
    return Endpoint(call, lambda body, secrets: validate(
        PromotedVersion, decode_json(call, body, secrets), f"canvas {canvas_id}", secrets
    ))


def list_projects() -> Endpoint[Any]:
    call = calls.list_projects()
    return Endpoint(call, lambda body, secrets: decode_json(call, body, secrets))
