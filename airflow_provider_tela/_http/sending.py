"""Whether a request stopped midway may have reached Tela.

A caller that may stop a run-creating request before it ends (the batch engine, when its task is
cancelled) must know which of two things it stopped: a request that never began (nothing can exist,
the record may be sent again) or one that may have left (a run may exist: ambiguous). It watches the
request with a ``SendMark`` set in the task that sends it; both transports raise the mark when they
begin the request's first attempt, before any connection is looked for. The mark errs one way only:
raised early means "ambiguous", never "not sent" for a request that left.
"""

from __future__ import annotations

from contextvars import ContextVar


class SendMark:
    __slots__ = ("began",)

    def __init__(self) -> None:
        self.began = False


_mark: ContextVar[SendMark | None] = ContextVar("tela_send_mark", default=None)


def watch(mark: SendMark) -> None:
    """Requests made from now on in the calling task (and only there) raise ``mark``."""
    _mark.set(mark)


def beginning() -> None:
    """A transport begins a request: the watching caller, if any, learns it may leave from now on."""
    mark = _mark.get()
    if mark is not None:
        mark.began = True
