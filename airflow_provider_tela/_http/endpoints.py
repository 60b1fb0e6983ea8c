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


def complete(request: CompletionRequest) -> Endpoint[ChatCompletion]:
    """A synchronous completion: the answer comes when the run ends."""
    call = calls.completion(request)
    return Endpoint(call, lambda body, secrets: _created(call, ChatCompletion, body, secrets))


def _same_run(run_id: str, run: Any) -> Any:
    """An answer about another run (a stale answer read off a reused connection) is no answer.
    (``run_id`` is plain already: ``calls`` refused any other before sending.)"""
    if run.id.strip() != run_id.strip():
        raise detached(TelaBadResponseError(
            f"Tela's answer to a status check of run {run_id} describes run {run.id!r}; it is ignored."
        ))
    return run


def get_run(run_id: str) -> Endpoint[CanvasRun]:
    call = calls.get_run(run_id)
    return Endpoint(
        call, lambda body, secrets: _same_run(run_id, decode_model(call, CanvasRun, body, secrets, f"run {run_id}"))
    )


def poll_run(run_id: str, *, cached: bool = True) -> Endpoint[CanvasRun | RunProgress]:
    """A status check: just id and status while the run is active, the whole run once it ended.

    Most polls find the run still active; validating the whole object each time (inputs, raw
    input, variables) would cost the triggerer more CPU than the request itself. ``cached=False``
    builds the request afresh: for a run checked about once (a batch's), a cache entry would only
    hold memory.
    """
    call = calls.get_run(run_id) if cached else calls.run_status(run_id)

    def parse(body: bytes, secrets: tuple[str, ...]) -> CanvasRun | RunProgress:
        progress = _same_run(run_id, decode_model(call, RunProgress, body, secrets, f"run {run_id}"))
        if not is_terminal(progress.status):
            return progress
        return decode_model(call, CanvasRun, body, secrets, f"run {run_id}")

    return Endpoint(call, parse)


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
