"""The emulator's Workstation over real HTTP on 127.0.0.1: apps, tasks, review, filters, request ids.

Status transitions are driven by a clock the test moves (the emulator's view of ``time.monotonic``), so
each answer is decided by the test, not by how fast a loaded machine delivers the request.
"""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from airflow_provider_tela.testing import TelaEmulator, TelaReviewer

COMPLETIONS = "/v2/chat/completions"
DOC = {"document": "an invoice"}
ERROR_KEYS = {"code", "message", "status", "name"}
TASK_KEYS = {
    "id", "name", "status", "promptApplicationId", "promptVersionId", "inputContent", "outputContent", "rawInput",
    "rawOutput", "tags", "metadata", "createdAt", "updatedAt", "approvedAt", "completionRunId", "workflowRunId",
}


def auth(emulator: TelaEmulator) -> dict[str, str]:
    return {"Authorization": f"Bearer {emulator.api_key}"}


def call(emulator: TelaEmulator, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, emulator.url + path, headers=auth(emulator), timeout=10, **kwargs)


def submit(emulator: TelaEmulator, app: str = "app-review", **fields: Any) -> requests.Response:
    return call(emulator, "POST", COMPLETIONS, json={"application_id": app, "variables": DOC, **fields})


def get_task(emulator: TelaEmulator, task_id: str, **params: Any) -> dict[str, Any]:
    response = call(emulator, "GET", f"/task/{task_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def patch(emulator: TelaEmulator, task_id: str, body: Any) -> requests.Response:
    return call(emulator, "PATCH", f"/task/{task_id}", json=body)


def list_tasks(emulator: TelaEmulator, params: Any = None) -> dict[str, Any]:
    response = call(emulator, "GET", "/task", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def refusal(response: requests.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    error = response.json()
    assert set(error) >= ERROR_KEYS and error["status"] == status
    return error


def instant(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def refused_path(response: requests.Response) -> str:
    return refusal(response)["details"][0]["path"]


class Clock:
    """The monotonic clock runs and tasks are timed by, moved only by the test (wall time stays real)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    from airflow_provider_tela.testing import server as server_module
    from airflow_provider_tela.testing import state as state_module

    fake = Clock()
    monkeypatch.setattr(state_module, "time", fake)
    monkeypatch.setattr(server_module, "time", fake)
    return fake


@pytest.fixture
def emu(tela_emulator: TelaEmulator) -> TelaEmulator:
    """The emulator with runs that end at once (tests that need time use ``clock``)."""
    tela_emulator.configure(run_latency=0)
    return tela_emulator


# ----------------------------------------------------------------------------- apps


def test_builtin_and_added_apps(tela_emulator: TelaEmulator) -> None:
    apps = {app["id"]: app for app in requests.get(tela_emulator.url + "/_emulator/applications", timeout=5).json()}
    assert apps["app-echo"] == {"id": "app-echo", "canvas_id": "canvas-echo", "review": False, "title": "Echo"}
    assert apps["app-review"]["review"] and apps["app-review"]["canvas_id"] == "canvas-echo"
    assert apps["app-review-structured"]["canvas_id"] == "canvas-structured" and apps["app-fail"]["review"]

    tela_emulator.add_canvas("shout", content=lambda run: {"text": run.variables["word"].upper()}, latency=0)
    tela_emulator.add_application("app-shout", canvas="shout", review=False, title="Shout")
    task = submit(tela_emulator, "app-shout", variables={"word": "hey"}).json()
    assert get_task(tela_emulator, task["id"])["outputContent"]["content"] == {"text": "HEY"}
    with pytest.raises(ValueError, match="there is no canvas 'nope'"):
        tela_emulator.add_application("app-x", canvas="nope")
    created = requests.post(tela_emulator.url + "/_emulator/applications", timeout=5,
                            json={"app_id": "app-admin", "canvas": "shout", "review": True})
    assert created.json() == {"id": "app-admin", "canvas_id": "shout", "review": True, "title": "app-admin"}
    assert requests.post(tela_emulator.url + "/_emulator/applications", json={"app_id": "a", "canvas": "nope"},
                         timeout=5).status_code == 400
    tela_emulator.reset()
    assert refusal(submit(tela_emulator, "app-shout"), 404)["message"] == "application 'app-shout' not found"


# ----------------------------------------------------------------------------- creating by completion


def test_a_completion_naming_an_app_creates_a_task(emu: TelaEmulator) -> None:
    response = submit(emu, label="invoice 7", tags=["batch", "2026"])  # no async: tasks are async anyway
    assert response.status_code == 200
    task = response.json()
    assert set(task) >= TASK_KEYS
    assert (task["status"], task["name"], task["tags"], task["promptApplicationId"]) == (
        "running", "invoice 7", ["batch", "2026"], "app-review")
    assert task["approvedAt"] is None and task["outputContent"] is None and task["workflowRunId"] is None
    assert task["inputContent"] == {"variables": DOC, "messages": [], "files": []}
    assert task["rawInput"]["application_id"] == "app-review" and task["rawInput"]["variables"] == DOC

    # the canvas run behind it is a normal run
    run = call(emu, "GET", f"{COMPLETIONS}/{task['completionRunId']}").json()
    assert run["status"] == "succeeded" and run["prompt_application_id"] == "app-review"
    assert run["raw_input"]["application_id"] == "app-review" and run["prompt_version_id"] == task["promptVersionId"]
    read = get_task(emu, task["id"])
    assert read["status"] == "validating" and read["outputContent"]["content"] == run["output_content"]["content"]
    assert read["rawOutput"] == run["raw_output"] and read["originalOutputContent"] == read["outputContent"]
    [summary] = emu.runs()
    assert summary["task_id"] == task["id"] and summary["label"] == "invoice 7" and summary["tags"] == ["batch", "2026"]
    stats = emu.stats()
    assert (stats["tasks_created"], stats["runs_created"], stats["tasks_by_route"]) == (1, 1, {"completions": 1})
    assert stats["runs_by_mode"] == {"async": 1} and stats["task_gets_by_task"] == {task["id"]: 1}


@pytest.mark.parametrize("reply", ["task", "run", "run_with_task_id"])
def test_what_the_completion_answers(emu: TelaEmulator, reply: str) -> None:
    emu.configure(task_reply=reply)
    answer = submit(emu).json()
    [task] = emu.tasks()
    if reply == "task":
        assert answer["id"] == task["id"] and "completionRunId" in answer
        return
    assert answer["id"] == task["completionRunId"] != task["id"]
    assert answer["status"] == "created" and answer["prompt_application_id"] == "app-review"
    assert answer.get("task_id") == (task["id"] if reply == "run_with_task_id" else None)
    assert "completionRunId" not in answer


def test_an_app_submission_cannot_stream_and_application_mode_run_keeps_the_old_reading(emu: TelaEmulator) -> None:
    assert refused_path(submit(emu, stream=True)) == "stream"
    assert emu.stats()["tasks_created"] == emu.stats()["runs_created"] == 0
    emu.configure(application_mode="run")  # an app submission as a plain canvas run, no task
    answer = submit(emu, "app-echo").json()
    assert answer["object"] == "chat.completion" and emu.tasks() == []
    assert emu.runs()[0]["raw_input"]["application_id"] == "app-echo"


def test_unknown_app_and_missing_variables(emu: TelaEmulator) -> None:
    assert refusal(submit(emu, "app-nope"), 404)["message"] == "application 'app-nope' not found"
    assert refused_path(call(emu, "POST", COMPLETIONS, json={"application_id": "app-review"})) == "variables.document"
    assert emu.stats()["tasks_created"] == 0


# ----------------------------------------------------------------------------- statuses


def test_a_reviewed_task_from_run_to_approval_revoked_and_approved_again(
        tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0)
    task_id = submit(tela_emulator).json()["id"]
    start = clock.now
    seen = []
    for elapsed in (0.0, 0.05, 0.5, 0.99, 1.0, 5.0):
        clock.now = start + elapsed
        seen.append(get_task(tela_emulator, task_id)["status"])
    assert seen == ["running"] * 4 + ["validating"] * 2
    assert refusal(patch(tela_emulator, task_id, {"status": "validating"}))["details"][0]["path"] == "status"

    clock.now = start + 6.0
    approved = patch(tela_emulator, task_id, {"status": "completed"}).json()
    assert approved["status"] == "completed" and approved["approvedBy"] == "api@emulator.tela"
    assert approved["approvedAt"] is not None and approved["updatedAt"] == approved["approvedAt"]

    revoked = tela_emulator.revoke_approval(task_id)
    assert revoked["status"] == "validating" and revoked["approvedAt"] is None and revoked["approvedBy"] is None
    assert get_task(tela_emulator, task_id)["status"] == "validating"
    with pytest.raises(ValueError, match="no approval to revoke"):
        tela_emulator.revoke_approval(task_id)

    again = tela_emulator.approve_task(task_id, output={"text": "checked"}, by="ana@example.com")
    assert again["status"] == "completed" and again["approvedBy"] == "ana@example.com"
    assert again["outputContent"]["content"]["text"] == "checked"
    events = [event["event"] for event in again["_emulator"]["events"]]
    assert events == ["task created", "task run finished", "task approved", "approval revoked", "output edited",
                      "task approved"]
    stats = tela_emulator.stats()
    assert (stats["tasks_approved"], stats["approvals_revoked"]) == (2, 1)
    assert stats["review_actions"] == {"approve": 2, "revoke": 1, "edit": 1}


def test_task_start_status_created(tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0, task_start_status="created")
    task = submit(tela_emulator).json()
    assert task["status"] == "created"
    start = clock.now
    seen = []
    for elapsed in (0.0, 0.09, 0.1, 0.5, 1.0):
        clock.now = start + elapsed
        seen.append(get_task(tela_emulator, task["id"])["status"])
    assert seen == ["created", "created", "running", "running", "validating"]


def test_an_app_without_review_completes_when_its_run_ends(emu: TelaEmulator) -> None:
    task = get_task(emu, submit(emu, "app-echo").json()["id"])
    assert task["status"] == "completed" and task["approvedAt"] is None and task["outputContent"] is not None
    emu.configure(unreviewed_status="validating")  # or every app awaits a reviewer
    assert get_task(emu, submit(emu, "app-echo").json()["id"])["status"] == "validating"


def test_a_failing_canvas_fails_its_task(emu: TelaEmulator) -> None:
    task = get_task(emu, submit(emu, "app-fail").json()["id"])
    reason = "The model refused the document (emulated failure)"
    assert task["status"] == "failed" and task["outputContent"] is None
    assert task["rawOutput"] == {"error": {"message": reason}} and task["error"] == {"message": reason}
    assert "is failed: only a task in validating" in refusal(patch(emu, task["id"], {"status": "completed"}))["message"]
    assert refused_path(patch(emu, task["id"], {"outputContent": {"text": "x"}})) == "outputContent"


def test_fail_and_cancel_by_a_reviewer(emu: TelaEmulator) -> None:
    first, second = (submit(emu).json()["id"] for _ in range(2))
    failed = emu.fail_task(first, "wrong document")
    assert failed["status"] == "failed" and failed["error"] == {"message": "wrong document"}
    assert emu.cancel_task(second)["status"] == "cancelled"
    for task_id in (first, second):
        with pytest.raises(ValueError, match="only a task not yet completed"):
            emu.cancel_task(task_id)
        with pytest.raises(ValueError, match="only a task in validating"):
            emu.approve_task(task_id)
    assert [get_task(emu, t)["status"] for t in (first, second)] == ["failed", "cancelled"]


def test_a_task_cancelled_while_running_stays_cancelled(tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0)
    task_id = submit(tela_emulator).json()["id"]
    assert tela_emulator.cancel_task(task_id)["status"] == "cancelled"
    clock.now += 5
    task = get_task(tela_emulator, task_id)
    assert task["status"] == "cancelled" and task["outputContent"] is None and task["rawOutput"] is None


# ----------------------------------------------------------------------------- PATCH


def test_patch_refused_while_running(tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0)
    task_id = submit(tela_emulator).json()["id"]
    for body in ({"status": "completed"}, {"name": "n"}, {"outputContent": {"text": "x"}}):
        error = refusal(patch(tela_emulator, task_id, body))
        assert "UPDATE_FAILED" in error["message"] and error["code"] == "invalid_request"
    assert patch(tela_emulator, task_id, {}).json()["status"] == "running"  # nothing asked, nothing refused
    assert get_task(tela_emulator, task_id)["name"] != "n"


@pytest.mark.parametrize(("body", "path"), [
    ({"status": "approved"}, "status"),
    ({"status": "failed"}, "status"),
    ({"status": 3}, "status"),
    ({"tags": "x"}, "tags"),
    ({"tags": ["a", 1]}, "tags.1"),
    ({"name": 7}, "name"),
    ({"outputContent": "text"}, "outputContent"),
    (["completed"], "(body)"),
])
def test_patch_refusals_name_the_field(emu: TelaEmulator, body: Any, path: str) -> None:
    task_id = submit(emu).json()["id"]
    assert refused_path(patch(emu, task_id, body)) == path
    task = get_task(emu, task_id)
    assert task["status"] == "validating" and task["approvedAt"] is None  # nothing applied


def test_patch_unknown_task_and_bad_json(emu: TelaEmulator) -> None:
    assert refusal(patch(emu, "no-such-task", {"name": "x"}), 404)["code"] == "not_found"
    assert refusal(call(emu, "GET", "/task/no-such-task"), 404)["message"] == "task 'no-such-task' not found"
    task_id = submit(emu).json()["id"]
    assert refusal(call(emu, "PATCH", f"/task/{task_id}", data=b"{nope"))["message"] == "request body is not valid JSON"


def test_deep_json_is_refused_not_crashed(emu: TelaEmulator) -> None:
    task_id = submit(emu).json()["id"]
    deep = b'{"outputContent": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001
    assert refusal(call(emu, "PATCH", f"/task/{task_id}", data=deep))["code"] == "invalid_request"
    nested: Any = 1
    for _ in range(900):  # parses, but deeper than the merge and the schema can follow with the server's stack
        nested = {"a": nested}
    answer = call(emu, "PATCH", f"/task/{task_id}", data=json.dumps({"outputContent": nested}))
    assert answer.status_code in (200, 400) and answer.headers["Content-Type"].startswith("application/json")
    assert refusal(call(emu, "POST", "/task", data=b"[" * 100_000 + b"]" * 100_000))["code"] == "invalid_request"
    override = b'{"canvas_id": "canvas-echo", "variables": {"document": "x"}, "override": '
    error = refusal(call(emu, "POST", COMPLETIONS, data=override + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001))
    assert error["message"] == "request body is nested too deeply to be read"


def test_patch_name_tags_and_output_merge(emu: TelaEmulator) -> None:
    emu.add_canvas("invoice", latency=0, content={"customer": "Acme Corp", "total": 10, "lines": [
        {"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}], "notes": None})
    emu.add_application("app-invoice", canvas="invoice")
    task_id = submit(emu, "app-invoice").json()["id"]
    updated = patch(emu, task_id, {"name": "Invoice 7", "tags": ["checked"], "outputContent": {
        "customer": "Acme Corporation", "lines": [{"qty": 3}, {}], "extra": True}}).json()
    assert (updated["name"], updated["tags"], updated["status"]) == ("Invoice 7", ["checked"], "validating")
    assert updated["outputContent"]["content"] == {
        "customer": "Acme Corporation", "total": 10, "lines": [{"sku": "a", "qty": 3}, {"sku": "b", "qty": 2}],
        "notes": None, "extra": True}
    assert updated["originalOutputContent"]["content"]["customer"] == "Acme Corp"
    edited = updated["metadata"]["editedFields"]
    assert [(e["path"], e["previousValue"], e["author"]) for e in edited] == [
        ("customer", "Acme Corp", "api@emulator.tela"), ("lines.0.qty", 1, "api@emulator.tela"),
        ("extra", None, "api@emulator.tela")]
    # a list of another length replaces the list; a whole outputContent ({"content": ...}) merges its content
    replaced = patch(emu, task_id, {"outputContent": {"content": {"lines": [{"sku": "c"}]}, "role": "x"}}).json()
    assert replaced["outputContent"]["content"]["lines"] == [{"sku": "c"}]
    assert replaced["outputContent"]["role"] == "assistant"
    assert emu.stats()["task_patches"] == 2 and emu.stats()["review_actions"] == {"edit": 2}


# ----------------------------------------------------------------------------- POST /task


def task_body(app: str = "app-review", **fields: Any) -> dict[str, Any]:
    return {"promptApplicationId": app, "name": "Invoice-2025-001.pdf", "rawInput": {"variables": DOC},
            "tags": ["priority"], **fields}


def test_post_task_one_object(emu: TelaEmulator) -> None:
    response = call(emu, "POST", "/task", json=task_body(metadata={"source": "s3"}))
    assert response.status_code == 200
    [task] = response.json()  # as the API reference's example: a list, even for one object
    assert (task["name"], task["status"], task["tags"], task["metadata"]) == (
        "Invoice-2025-001.pdf", "running", ["priority"], {"source": "s3"})
    assert task["completionRunId"] and task["sourceType"] == "prompt" and task["createdBy"] == "api@emulator.tela"
    assert get_task(emu, task["id"])["status"] == "validating"
    emu.configure(create_task_reply="mirror")
    assert call(emu, "POST", "/task", json=task_body()).json()["name"] == "Invoice-2025-001.pdf"
    stats = emu.stats()
    assert (stats["task_posts"], stats["tasks_created"], stats["tasks_by_route"]) == (2, 2, {"task": 2})


def test_post_task_a_list_and_the_older_input_content_form(emu: TelaEmulator) -> None:
    older = {"promptApplicationId": "app-review", "name": "older form", "inputContent": {"variables": DOC}}
    tasks = call(emu, "POST", "/task", json=[task_body(), older]).json()
    assert [task["name"] for task in tasks] == ["Invoice-2025-001.pdf", "older form"]
    assert tasks[0]["reference"] + 1 == tasks[1]["reference"]
    assert all(get_task(emu, task["id"])["inputContent"]["variables"] == DOC for task in tasks)


def test_post_task_with_output_is_stored_in_validating_without_a_run(emu: TelaEmulator) -> None:
    [task] = call(emu, "POST", "/task", json=task_body(outputContent={"content": {"total": 1}})).json()
    assert task["status"] == "validating" and task["completionRunId"] is None
    assert emu.stats()["runs_created"] == 0
    assert emu.approve_task(task["id"])["outputContent"] == {"content": {"total": 1}}


@pytest.mark.parametrize(("body", "status", "path"), [
    (task_body(rawInput={}), 400, "rawInput.variables.document"),
    ([task_body(), task_body(rawInput={"variables": {"language": "pt"}})], 400, "1.rawInput.variables.document"),
    ([task_body(), task_body("app-echo")], 400, "1.promptApplicationId"),
    ({"name": "no app"}, 400, "(body)"),  # "'promptApplicationId' is a required property"
    (task_body(tags="x"), 400, "tags"),
    (task_body(rawInput={"variables": {"document": 3}}), 400, "rawInput.variables.document"),
    (task_body(rawInput={"variables": DOC, "webhook_url": "ftp://x"}), 400, "rawInput.webhook_url"),
    ([], 400, "(body)"),
    ([task_body()] * 101, 400, "(body)"),
    ("a task", 400, "(body)"),
    (task_body("app-nope"), 404, None),
])
def test_post_task_refusals_create_nothing(emu: TelaEmulator, body: Any, status: int, path: str | None) -> None:
    error = refusal(call(emu, "POST", "/task", json=body), status)
    if path is not None:
        assert error["details"][0]["path"] == path
    stats = emu.stats()
    assert stats["tasks_created"] == stats["runs_created"] == 0


# ----------------------------------------------------------------------------- reading


def test_include_analytics_and_bad_status_fault(emu: TelaEmulator) -> None:
    task_id = submit(emu).json()["id"]
    assert "analytics" not in get_task(emu, task_id)
    assert get_task(emu, task_id, includeAnalytics="true")["analytics"] is None
    emu.add_fault("bad_status", method="GET", path="/task/", count=1)
    assert get_task(emu, task_id)["status"] == "queued"
    assert get_task(emu, task_id)["status"] == "validating"


@pytest.fixture
def many(emu: TelaEmulator) -> dict[str, str]:
    """Five tasks: validating, approved (with tags), failed, cancelled, and one of app-echo (completed)."""
    ids = {name: submit(emu, app, label=name).json()["id"] for name, app in [
        ("waiting", "app-review"), ("approved", "app-review"), ("broken", "app-fail"), ("dropped", "app-review"),
        ("plain", "app-echo")]}
    patch(emu, ids["approved"], {"status": "completed", "tags": ["paid", "2026"]})
    emu.cancel_task(ids["dropped"])
    return ids


def names(answer: dict[str, Any]) -> list[str]:
    return [task["name"] for task in answer["data"]]


def test_list_filters(emu: TelaEmulator, many: dict[str, str]) -> None:
    assert names(list_tasks(emu)) == ["plain", "dropped", "broken", "approved", "waiting"]  # newest first
    assert names(list_tasks(emu, {"order": "asc"})) == ["waiting", "approved", "broken", "dropped", "plain"]
    assert names(list_tasks(emu, {"orderBy": "name", "order": "asc"}))[0] == "approved"
    assert names(list_tasks(emu, {"status": "validating"})) == ["waiting"]
    assert names(list_tasks(emu, [("status[]", "failed"), ("status[]", "cancelled")])) == ["dropped", "broken"]
    assert names(list_tasks(emu, {"status": "failed,completed"})) == ["plain", "broken", "approved"]
    assert names(list_tasks(emu, {"promptApplicationId": "app-echo"})) == ["plain"]
    assert names(list_tasks(emu, [("ids[]", many["waiting"]), ("ids[]", many["plain"])])) == ["plain", "waiting"]
    assert names(list_tasks(emu, {"ids": f"{many['broken']},{many['dropped']}"})) == ["dropped", "broken"]
    assert names(list_tasks(emu, {"approvedBy": "api@emulator.tela"})) == ["approved"]
    assert names(list_tasks(emu, {"tags": "paid"})) == ["approved"]
    assert names(list_tasks(emu, {"taskName": "PLA"})) == ["plain"]
    assert names(list_tasks(emu, {"since": "2000-01-01T00:00:00Z"})) == ["approved"]  # since: approvedAt
    assert names(list_tasks(emu, {"until": str(time.time() - 3600)})) == []
    assert len(list_tasks(emu, {"createdAtSince": str(int((time.time() - 3600) * 1000))})["data"]) == 5
    assert list_tasks(emu, {"createdAtUntil": "2000-01-01"})["data"] == []
    [version] = {task["promptVersionId"] for task in list_tasks(emu, {"promptApplicationId": "app-review"})["data"]}
    assert len(list_tasks(emu, {"promptVersionId": version})["data"]) == 4  # app-echo runs canvas-echo too
    run_id = emu.task(many["waiting"])["completionRunId"]
    assert names(list_tasks(emu, {"completionRunId": run_id})) == ["waiting"]
    assert names(list_tasks(emu, {"revisionProcess": "anything", "objectLinks": "true"})) == names(list_tasks(emu))
    light = list_tasks(emu, {"excludeInputOutputColumns": "true"})["data"][0]
    assert "outputContent" not in light and "inputContent" not in light and light["status"] == "completed"
    assert emu.stats()["task_lists"] == 22


def test_list_pages(emu: TelaEmulator, many: dict[str, str]) -> None:
    first = list_tasks(emu, {"limit": 2})
    assert first["metadata"] == {"total": 5, "limit": 2, "offset": 0, "currentPage": 1, "totalPages": 3}
    third = list_tasks(emu, {"limit": 2, "offset": 4})
    assert names(third) == ["waiting"] and third["metadata"]["currentPage"] == 3
    assert list_tasks(emu, {"offset": 10})["data"] == []
    assert len(list_tasks(emu)["data"]) == 5 and list_tasks(emu)["metadata"]["limit"] == 10
    emu.configure(task_list_reply="array")
    assert [task["name"] for task in list_tasks(emu, {"limit": 1})] == ["plain"]  # type: ignore[index]


@pytest.mark.parametrize(("params", "path"), [
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "ten"}, "limit"), ({"offset": -1}, "offset"),
    ({"status": "approved"}, "status"), ({"orderBy": "cost"}, "orderBy"), ({"order": "up"}, "order"),
    ({"since": "yesterday"}, "since"), ({"createdAtUntil": "nan"}, "createdAtUntil"),
])
def test_list_refusals(emu: TelaEmulator, params: dict[str, Any], path: str) -> None:
    assert refused_path(call(emu, "GET", "/task", params=params)) == path


def test_progress(emu: TelaEmulator, many: dict[str, str]) -> None:
    answer = call(emu, "GET", "/task/progress", params={"promptApplicationId": "app-review"}).json()
    entries = {entry["taskId"]: entry for entry in answer["data"]}
    assert set(entries) == {many["waiting"], many["approved"], many["dropped"]}
    assert answer["metadata"]["total"] == 3
    waiting = entries[many["waiting"]]
    assert waiting["status"] == "validating" and waiting["promptApplicationId"] == "app-review"
    assert waiting["progress"] == {"currentStep": 2, "percentage": 66, "totalSteps": 3}
    assert entries[many["approved"]]["progress"]["percentage"] == 100
    paged = call(emu, "GET", "/task/progress", params={"promptApplicationId": "app-review", "limit": 1}).json()
    assert len(paged["data"]) == 1 and paged["metadata"]["total"] == 3
    assert refused_path(call(emu, "GET", "/task/progress")) == "promptApplicationId"
    assert refusal(call(emu, "GET", "/task/progress", params={"promptApplicationId": "app-nope"}), 404)
    assert emu.stats()["task_progress_gets"] == 4


def test_progress_while_running(tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0)
    submit(tela_emulator)
    clock.now += 0.5
    [entry] = call(tela_emulator, "GET", "/task/progress", params={"promptApplicationId": "app-review"}).json()["data"]
    assert entry["status"] == "running" and entry["progress"]["currentStep"] == 1
    assert entry["progress"]["percentage"] == 49


def test_task_routes_need_the_key(emu: TelaEmulator) -> None:
    for method, path in (("GET", "/task"), ("POST", "/task"), ("GET", "/task/x"), ("PATCH", "/task/x"),
                         ("GET", "/task/progress")):
        assert requests.request(method, emu.url + path, timeout=5).status_code == 401


# ----------------------------------------------------------------------------- reviewer


def test_auto_review_approves_at_a_known_time(tela_emulator: TelaEmulator, clock: Clock) -> None:
    tela_emulator.configure(run_latency=1.0, auto_review={
        "app-review": {"after": 0.5, "action": "approve", "output": {"text": "approved text"}}})
    task_id = submit(tela_emulator).json()["id"]
    start = clock.now
    clock.now = start + 1.2
    assert get_task(tela_emulator, task_id)["status"] == "validating"
    clock.now = start + 9
    task = get_task(tela_emulator, task_id)
    assert task["status"] == "completed" and task["approvedBy"] == "reviewer@emulator.tela"
    assert task["outputContent"]["content"]["text"] == "approved text"
    # approved at the rule's time (run end + 0.5), not when it was read
    assert round((instant(task["approvedAt"]) - instant(task["createdAt"])) * 1000) == 1500
    assert tela_emulator.stats()["tasks_approved"] == 1
    # other apps' tasks are untouched; a rule given no steps is removed
    assert get_task(tela_emulator, submit(tela_emulator, "app-review-structured",
                                          variables={"text": "t"}).json()["id"])["status"] == "running"
    tela_emulator.configure(auto_review={"app-review": []})
    assert tela_emulator.configure()["auto_review"] == {}


def test_a_scripted_review_revokes_then_approves(tela_emulator: TelaEmulator, clock: Clock) -> None:
    reviewer = TelaReviewer(tela_emulator)
    tela_emulator.configure(run_latency=1.0)
    reviewer.script("*", [{"after": 0.0, "action": "approve"}, {"after": 0.3, "action": "revoke"},
                          {"after": 0.6, "action": "approve", "output": {"total": 42}, "by": "ana@example.com"}])
    task_id = submit(tela_emulator).json()["id"]
    start = clock.now
    seen = []
    for elapsed in (1.0, 1.2, 1.3, 1.5, 1.6):
        clock.now = start + elapsed
        task = get_task(tela_emulator, task_id)
        seen.append((task["status"], task["approvedBy"]))
    assert seen == [("completed", "reviewer@emulator.tela")] * 2 + [("validating", None)] * 2 + [
        ("completed", "ana@example.com")]
    assert task["outputContent"]["content"]["total"] == 42


def test_a_decision_callback_and_skipped_steps(emu: TelaEmulator) -> None:
    def decide(task: dict[str, Any]) -> Any:
        if task["name"] == "keep":
            return None
        if task["name"] == "bad":
            return {"action": "fail", "reason": "illegible"}
        return {"action": "approve", "output": lambda t: {"text": t["name"].upper()}}

    TelaReviewer(emu).decide("app-review", decide)
    ids = {name: submit(emu, label=name).json()["id"] for name in ("keep", "bad", "good")}
    statuses = {name: get_task(emu, task_id) for name, task_id in ids.items()}
    assert statuses["keep"]["status"] == "validating"
    assert statuses["bad"]["status"] == "failed" and statuses["bad"]["error"] == {"message": "illegible"}
    assert statuses["good"]["status"] == "completed" and statuses["good"]["outputContent"]["content"]["text"] == "GOOD"
    # a step the task's status refuses is skipped and recorded
    emu.configure(auto_review={"app-review": {"action": "revoke"}})  # nothing approved to revoke
    task = emu.task(submit(emu).json()["id"])
    assert task["status"] == "validating" and task["_emulator"]["events"][-1]["event"] == "review step skipped"


def test_a_decision_that_raises_leaves_the_task_and_says_so(emu: TelaEmulator) -> None:
    def decide(task: dict[str, Any]) -> Any:
        raise KeyError("reviewer bug")

    TelaReviewer(emu).decide("app-review", decide)
    task = emu.task(submit(emu).json()["id"])
    assert task["status"] == "validating"
    assert task["_emulator"]["events"][-1] == {**task["_emulator"]["events"][-1], "event": "review step failed",
                                               "error": "KeyError: 'reviewer bug'"}
    assert emu.stats()["review_step_errors"] == [f"{task['id']}: KeyError: 'reviewer bug'"]


@pytest.mark.parametrize("rule", [
    {"app-review": {"after": -1}}, {"app-review": {"after": float("nan")}}, {"app-review": {"after": True}}, {"app-review": {"action": "bless"}}, {"app-review": {"action": "edit"}},
    {"app-review": {"after": 0, "colour": "red"}}, {"app-review": "approve"}, ["approve"],
])
def test_bad_review_rules_are_refused(tela_emulator: TelaEmulator, rule: Any) -> None:
    with pytest.raises(ValueError):
        tela_emulator.configure(auto_review=rule)
    body = json.dumps({"auto_review": rule})  # NaN written as Python's json writes it
    answer = requests.post(tela_emulator.url + "/_emulator/config", data=body, timeout=5)
    assert answer.status_code == 400
    assert tela_emulator.configure()["auto_review"] == {}


def test_the_reviewer_fixture_acts_while_a_client_waits(
        tela_emulator: TelaEmulator, tela_reviewer: TelaReviewer) -> None:
    """The shape of a DAG test: the test's thread waits on the task (as dag.test() would) while another
    thread plays the reviewer."""
    tela_emulator.configure(run_latency=0.05)
    task_id = submit(tela_emulator).json()["id"]

    def review() -> None:
        [task] = tela_reviewer.wait_for("validating", timeout=10)
        tela_reviewer.edit({"text": "edited"})
        tela_reviewer.approve(task["id"])

    reviewer = threading.Thread(target=review)
    reviewer.start()
    deadline = time.monotonic() + 10
    while (task := get_task(tela_emulator, task_id))["status"] != "completed" and time.monotonic() < deadline:
        time.sleep(0.01)
    reviewer.join(10)
    assert task["status"] == "completed" and task["outputContent"]["content"]["text"] == "edited"
    assert tela_reviewer.revoke()["status"] == "validating"
    assert [t["id"] for t in tela_reviewer.pending()] == [task_id]
    assert tela_reviewer.fail(reason="no")["status"] == "failed"
    with pytest.raises(ValueError, match="expected exactly one task in validating, found 0"):
        tela_reviewer.approve()
    with pytest.raises(TimeoutError, match="tasks seen"):
        tela_reviewer.wait_for("completed", timeout=0.05)


def test_the_reviewer_fixture_decides_before_the_run(emu: TelaEmulator, tela_reviewer: TelaReviewer) -> None:
    tela_reviewer.approve_when_ready("app-review", output={"text": "ok"})
    tela_reviewer.fail_when_ready("app-review-structured", reason="wrong")
    tela_reviewer.cancel_when_ready("app-echo")  # completed at once: cancelling it is skipped
    done = get_task(emu, submit(emu).json()["id"])
    assert done["status"] == "completed" and done["outputContent"]["content"]["text"] == "ok"
    assert get_task(emu, submit(emu, "app-review-structured", variables={"text": "t"}).json()["id"])["status"] == "failed"
    assert get_task(emu, submit(emu, "app-echo").json()["id"])["status"] == "completed"
    tela_reviewer.stop("app-review")
    assert get_task(emu, submit(emu).json()["id"])["status"] == "validating"


def test_admin_review_routes(emu: TelaEmulator) -> None:
    admin = emu.url + "/_emulator/tasks"
    task_id = submit(emu).json()["id"]
    assert requests.get(admin, timeout=5).json()[0]["id"] == task_id
    assert requests.get(f"{admin}/{task_id}", timeout=5).json()["status"] == "validating"
    edited = requests.post(f"{admin}/{task_id}/edit", json={"output": {"text": "x"}, "by": "bo@example.com"},
                           timeout=5).json()
    assert edited["metadata"]["editedFields"][0]["author"] == "bo@example.com"
    assert requests.post(f"{admin}/{task_id}/approve", timeout=5).json()["status"] == "completed"
    assert requests.post(f"{admin}/{task_id}/revoke", json={}, timeout=5).json()["approvedAt"] is None
    assert requests.post(f"{admin}/{task_id}/fail", json={"reason": "r"}, timeout=5).json()["error"] == {"message": "r"}
    for path, body, status in ((f"{admin}/{task_id}/cancel", {}, 400), (f"{admin}/{task_id}/bless", {}, 400),
                               (f"{admin}/{task_id}/approve", {"colour": "red"}, 400),
                               (f"{admin}/{task_id}/edit", {}, 400), (f"{admin}/nope/approve", {}, 404)):
        answer = requests.post(path, json=body, timeout=5)
        assert answer.status_code == status and set(answer.json()) >= ERROR_KEYS
    assert requests.get(f"{admin}/nope", timeout=5).status_code == 404


# ----------------------------------------------------------------------------- completion fields


def test_version_id_with_or_without_canvas(emu: TelaEmulator) -> None:
    version = call(emu, "GET", "/prompt/canvas-echo/promoted-version").json()["id"]
    alone = call(emu, "POST", COMPLETIONS, json={"version_id": version, "variables": DOC})
    assert alone.status_code == 200 and emu.runs()[-1]["canvas_id"] == "canvas-echo"
    assert call(emu, "POST", COMPLETIONS, json={"canvas_id": "canvas-echo", "version_id": version,
                                                "variables": DOC}).status_code == 200
    assert submit(emu, version_id=version).json()["promptVersionId"] == version  # the app's own version
    for body in ({"version_id": "v-nope", "variables": DOC}, {"canvas_id": "canvas-file", "version_id": version},
                 {"application_id": "app-review-structured", "version_id": version, "variables": {"text": "t"}}):
        assert "not found" in refusal(call(emu, "POST", COMPLETIONS, json=body), 404)["message"]
    assert refused_path(call(emu, "POST", COMPLETIONS, json={"version_id": "", "variables": DOC})) == "version_id"
    assert refused_path(call(emu, "POST", COMPLETIONS, json={"variables": DOC})) == "canvas_id"


def test_label_and_tags(emu: TelaEmulator) -> None:
    canvas = {"canvas_id": "canvas-echo", "variables": DOC}
    error = refusal(call(emu, "POST", COMPLETIONS, json={**canvas, "label": "nightly"}))
    assert error["details"][0]["path"] == "label" and "application_id" in error["message"]
    assert refused_path(call(emu, "POST", COMPLETIONS, json={**canvas, "tags": ["a", 2]})) == "tags.1"
    assert refused_path(call(emu, "POST", COMPLETIONS, json={**canvas, "label": 3})) == "label"
    assert emu.stats()["spec_rejections"] == 2 and emu.stats()["runs_created"] == 0
    assert call(emu, "POST", COMPLETIONS, json={**canvas, "tags": ["a", "b"]}).status_code == 200
    assert emu.runs()[-1]["tags"] == ["a", "b"]
    emu.configure(label_with_canvas="record")
    assert call(emu, "POST", COMPLETIONS, json={**canvas, "label": "nightly"}).status_code == 200
    assert emu.runs()[-1]["label"] == "nightly"
    task = submit(emu, label="Invoice 7", tags=["x"]).json()
    assert (task["name"], task["tags"]) == ("Invoice 7", ["x"])


# ----------------------------------------------------------------------------- webhooks


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], Any]]]]:
    received: queue.Queue[tuple[dict[str, str], Any]] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.put((dict(self.headers), json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_a_task_s_webhook_carries_its_run(emu: TelaEmulator, receiver: tuple[str, queue.Queue]) -> None:
    url, received = receiver
    task = submit(emu, webhook_url=url).json()
    headers, payload = received.get(timeout=10)
    assert headers["x-completion-run-id"] == task["completionRunId"]
    assert payload["id"] == task["completionRunId"] and payload["status"] == "succeeded"
    assert payload["output_content"]["content"]["variables"] == DOC and payload["raw_input"]["webhook_url"] == url
    [created] = call(emu, "POST", "/task", json=task_body(rawInput={"variables": DOC, "webhook_url": url})).json()
    assert received.get(timeout=10)[0]["x-completion-run-id"] == created["completionRunId"]


# ----------------------------------------------------------------------------- x-request-id


def test_every_answer_has_its_own_request_id(emu: TelaEmulator) -> None:
    emu.add_fault("429", method="GET", path="/project", count=1)
    emu.add_fault("502", method="GET", path="/prompt", count=1)
    emu.add_fault("garbage", method="GET", path="/task/progress", count=1)
    slot = call(emu, "POST", "/v2/file").json()
    answers = [
        call(emu, "GET", "/project"),  # 429 fault
        call(emu, "GET", "/prompt"),  # 502 fault (HTML)
        call(emu, "GET", "/task/progress"),  # garbage fault
        call(emu, "GET", "/project"),
        requests.get(emu.url + "/project", timeout=5),  # 401
        call(emu, "GET", "/v2/nope"),  # unknown route
        call(emu, "DELETE", "/task"),  # 405
        call(emu, "POST", COMPLETIONS, json={"canvas_id": "canvas-echo"}),  # 400
        call(emu, "POST", COMPLETIONS, json={"canvas_id": "canvas-echo", "variables": DOC, "stream": True}),
        submit(emu),
        call(emu, "GET", "/task"),
        requests.put(slot["upload_url"], data=b"%PDF", timeout=5),
        requests.get(slot["download_url"], timeout=5),
        requests.get(emu.url + "/_emulator/stats", timeout=5),
        requests.post(emu.url + "/_emulator/config", json={"bogus": 1}, timeout=5),  # admin 400
    ]
    assert [a.status_code for a in answers] == [429, 502, 200, 200, 401, 404, 405, 400, 200, 200, 200, 200, 200, 200,
                                                400]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids) and all(len(request_id) == 36 for request_id in ids)
    log = emu.requests()
    assert log[0]["path"] == "/v2/file"
    assert [entry["request_id"] for entry in log[1:]] == ids
    assert [(entry["method"], entry["status"]) for entry in log[1:3]] == [("GET", 429), ("GET", 502)]
    assert log[-1] == {"request_id": ids[-1], "method": "POST", "path": "/_emulator/config", "status": 400,
                       "admin": True}
    assert requests.get(emu.url + "/_emulator/requests", timeout=5).json() == log  # before its own answer


def test_a_dropped_connection_answers_nothing_and_logs_nothing(emu: TelaEmulator) -> None:
    emu.add_fault("drop_after", method="POST", path="/task", count=1)
    with pytest.raises(requests.ConnectionError):
        call(emu, "POST", "/task", json=task_body())
    assert emu.stats()["tasks_created"] == 1  # it acted before the cut, like a 502 after the fact
    assert emu.requests() == []


def test_reset_forgets_tasks_requests_and_rules(emu: TelaEmulator) -> None:
    emu.configure(auto_review={"*": {"action": "approve"}}, task_reply="run")
    submit(emu)
    emu.reset()
    assert emu.tasks() == [] and emu.requests() == []
    config = emu.configure()
    assert config["auto_review"] == {} and config["task_reply"] == "task" and config["application_mode"] == "task"
    assert emu.stats()["tasks_created"] == 0
