"""The vocabulary the parts share, as types (what a task does with an ambiguous submission, what it
waits for, what a durable record names), and the rule of what a submission may target. Light on
purpose: operators check their arguments against it when a DAG file is parsed, and the request model
when it is built."""

from __future__ import annotations

from typing import Any, Literal, get_args

# What a task does when a request that creates a run got no usable answer (every operator alike).
OnAmbiguous = Literal["fail", "resubmit"]
ON_AMBIGUOUS: tuple[OnAmbiguous, ...] = get_args(OnAmbiguous)

# What a submission to a Workstation app waits for: the task's output, or a reviewer's approval of it.
WaitFor = Literal["output", "approval"]
WAIT_FOR: tuple[WaitFor, ...] = get_args(WaitFor)

# What a wait (and a durable record) follows: a canvas run, or a Workstation task.
Kind = Literal["run", "task"]

# How a durable record's id was learnt: "async" (a run submitted and polled), "stream" (from a stream:
# a 404 for it proves nothing), "task" (a Workstation task), "batch" (a batch's state folder).
Mode = Literal["async", "stream", "task", "batch"]


def target_problem(canvas_id: Any, application_id: Any, version_id: Any = None, label: Any = None,
                   stream: bool = False) -> str | None:
    """What is wrong with a completion's target, as Tela's docs and SDK define it; None when nothing.

    A canvas run names ``canvas_id``, ``version_id`` (a version of it) or both; a Workstation app's task
    names ``application_id`` alone (it runs the app's deployed version). ``label`` (the task's name)
    is for applications only, and a task is never streamed.
    """
    if bool(application_id) == bool(canvas_id or version_id):
        return ("give exactly one of canvas_id (a canvas's id; with version_id, or version_id alone, a version of "
                "it) or application_id (a Workstation app's id: it runs the app's deployed version)")
    if label and not application_id:
        return "label names a Workstation task: it needs application_id (Tela ignores or refuses it for a canvas)"
    if stream and application_id:
        return "stream=True is for canvases: a Workstation app's task is always asynchronous (use application_id " \
               "without stream)"
    return None
