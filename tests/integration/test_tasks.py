"""Workstation tasks through the hook, over HTTP to the emulator: created, learnt, followed, reviewed.

Tela documents the task resource (GET /task/{id}, PATCH, GET /task) but not what a submission to an app
answers: each reading the emulator can give (the task itself, a completion run naming its task, a run
alone) must lead to the same task. Errors after Tela answered name its x-request-id.
"""

from __future__ import annotations

import pytest

from airflow_provider_tela.errors import TelaConfigError, TelaNotFoundError, TelaRunFailedError, TelaTimeoutError


@pytest.mark.parametrize("reply", ["task", "run", "run_with_task_id"])
def test_every_reading_of_the_submission_leads_to_the_task(hook, tela_env, reply):
    tela_env.configure(task_reply=reply, run_latency=0.1)
    ref = hook.create_task("app-echo", variables={"document": "d"}, label="invoice 7", tags=["nightly"])
    [task] = tela_env.tasks()
    assert ref.task_id == task["id"]
    if reply != "task":
        assert ref.run_id == task["completionRunId"]
    done = hook.wait_for_task(ref.task_id, poll_interval=0.2, timeout=20)
    assert done.status == "completed" and done.content["variables"] == {"document": "d"}
    assert (done.name, done.tags) == ("invoice 7", ["nightly"])
    assert done.usage["output_tokens"] > 0
    assert tela_env.stats()["tasks_created"] == 1


def test_a_reviewed_task_is_ready_in_review_and_done_once_approved_with_the_reviewer_s_edit(hook, tela_env):
    tela_env.configure(run_latency=0.1)
    ref = hook.create_task("app-review", variables={"document": "draft"})
    ready = hook.wait_for_task(ref.task_id, "output", poll_interval=0.2, timeout=20)
    assert ready.status == "validating" and ready.approvedAt is None
    tela_env.approve_task(ref.task_id, output={"verdict": "fine"})
    approved = hook.wait_for_task(ref.task_id, "approval", poll_interval=0.2, timeout=20)
    assert approved.status == "completed" and approved.approvedAt and approved.content["verdict"] == "fine"
    assert approved.review["approved_at"] == approved.approvedAt and approved.review["edited"]


def test_an_approval_revoked_before_the_check_is_no_approval(hook, tela_env, tela_reviewer):
    tela_env.configure(run_latency=0.1)
    tela_reviewer.script("app-review", [
        {"after": 0.0, "action": "approve", "output": {"first": True}},
        {"after": 0.05, "action": "revoke"},
        {"after": 1.5, "action": "approve", "output": {"second": True}},
    ])
    ref = hook.create_task("app-review", variables={"document": "d"})
    approved = hook.wait_for_task(ref.task_id, "approval", poll_interval=0.2, timeout=20, first_poll_in=0.5)
    assert approved.content["second"] is True


def test_a_task_that_fails_or_is_cancelled_ends_the_wait_with_its_reason(hook, tela_env):
    tela_env.configure(run_latency=0.1)
    failing = hook.create_task("app-fail", variables={"document": "d"})
    with pytest.raises(TelaRunFailedError, match=r"Tela task .* failed: .*refused"):
        hook.wait_for_task(failing.task_id, poll_interval=0.2, timeout=20)
    rejected = hook.create_task("app-review", variables={"document": "d"})
    hook.wait_for_task(rejected.task_id, poll_interval=0.2, timeout=20)
    tela_env.cancel_task(rejected.task_id)
    with pytest.raises(TelaRunFailedError, match=r"task .* failed: the task was cancelled"):
        hook.wait_for_task(rejected.task_id, "approval", poll_interval=0.2, timeout=20)
    with pytest.raises(TelaTimeoutError, match="TelaTaskSensor"):
        pending = hook.create_task("app-review", variables={"document": "d"})
        hook.wait_for_task(pending.task_id, "approval", poll_interval=0.2, timeout=1)


def test_the_task_api_reads_lists_edits_and_approves(hook, tela_env):
    tela_env.configure(run_latency=0)
    ref = hook.create_task("app-review", variables={"document": "d"}, tags=["a"])
    hook.wait_for_task(ref.task_id, poll_interval=0.1, timeout=20)
    assert [task.id for task in hook.list_tasks(promptApplicationId="app-review", status=["validating"])] == [
        ref.task_id]
    renamed = hook.update_task(ref.task_id, name="checked", tags=["a", "b"])
    assert (renamed.name, renamed.tags) == ("checked", ["a", "b"])
    assert hook.approve_task(ref.task_id).status == "completed"
    assert hook.get_task(ref.task_id).approvedAt is not None
    with pytest.raises(TelaConfigError, match="at least one"):
        hook.update_task(ref.task_id)


def test_bad_combinations_fail_before_anything_is_sent(hook, tela_env):
    cases = [
        (lambda: hook.create_completion(application_id="app-echo", variables={"document": "d"}), "create_task"),
        (lambda: hook.prepare_request(canvas_id="canvas-echo", label="x"), "label names a Workstation task"),
        (lambda: hook.submit_run(canvas_id="canvas-echo", application_id="app-echo"), "exactly one of canvas_id"),
        (lambda: hook.submit_run(version_id="v", application_id="app-echo"), "exactly one of canvas_id"),
        (lambda: list(hook.stream_completion(application_id="app-echo")), "always asynchronous"),
        (lambda: hook.create_task("app-echo", tags=[""]), "tags.0"),
        (lambda: hook.get_task("../x"), "tela_task_id must be a Tela id"),
    ]
    for call, says in cases:
        with pytest.raises(TelaConfigError, match=says):
            call()
    assert tela_env.stats()["requests"] == 0


def test_a_canvas_version_and_tags_reach_tela(hook, tela_env):
    tela_env.configure(run_latency=0)
    [version] = [v["id"] for v in [hook.get_promoted_version("canvas-echo").model_dump()]]
    run = hook.submit_run(version_id=version, variables={"document": "v"}, tags=["pinned"])
    assert hook.wait_for_run(run.id, poll_interval=0.1, timeout=10).content["variables"] == {"document": "v"}
    [seen] = tela_env.runs()
    assert seen["raw_input"]["version_id"] == version and seen["tags"] == ["pinned"]


async def test_the_request_id_crosses_the_trigger_boundary(tela_env):
    import time

    from airflow_provider_tela.errors import error_from_event
    from airflow_provider_tela.triggers.tela import TelaRunTrigger

    events = [event async for event in TelaRunTrigger("no-such-run", poll_interval=0.2,
                                                       end_time=time.time() + 10).run()]
    payload = events[0].payload
    answered = {r["request_id"] for r in tela_env.requests() if r["path"].endswith("/no-such-run")}
    assert payload["status"] == "error" and payload["request_id"] in answered
    error = error_from_event(payload)  # what the task raises in execute_complete
    assert isinstance(error, TelaNotFoundError) and error.request_id == payload["request_id"]
    assert f"Tela request id: {payload['request_id']}" in str(error)


def test_errors_after_tela_answered_name_its_request_id(hook, tela_env):
    with pytest.raises(TelaNotFoundError) as missing:
        hook.get_task("no-such-task")
    answered = {r["request_id"] for r in tela_env.requests() if r["path"] == "/task/no-such-task"}
    assert missing.value.request_id in answered
    assert f"Tela request id: {missing.value.request_id}" in str(missing.value)
    tela_env.add_fault("garbage", method="GET", path="/project", count=1)
    from airflow_provider_tela.errors import TelaBadResponseError

    with pytest.raises(TelaBadResponseError) as garbage:
        hook.list_projects()
    assert garbage.value.request_id and garbage.value.request_id in str(garbage.value)
    run = hook.submit_run(canvas_id="canvas-echo", variables={"document": "d"})
    assert run.request_id in {r["request_id"] for r in tela_env.requests() if r["method"] == "POST"}
