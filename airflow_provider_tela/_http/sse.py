"""Server-Sent Events decoding for streamed completions, fed line by line by either client."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from airflow_provider_tela._http.responses import load_json, validate
from airflow_provider_tela.errors import TelaBadResponseError, TelaRunFailedError, detached, scrub, scrub_body
from airflow_provider_tela.models import CompletionChunk

DONE = "[DONE]"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class LineBuffer:
    """Splits a byte stream into lines at CR, LF or CRLF (the SSE spec's line ends), as bytes arrive.

    Linear in the bytes fed; a CRLF split between two chunks is one line end, not two.
    """

    def __init__(self) -> None:
        self._pending = bytearray()
        self._after_cr = False

    def feed(self, chunk: bytes) -> list[bytes]:
        start = 1 if self._after_cr and chunk.startswith(b"\n") else 0
        self._after_cr = False
        lines = []
        for match in _LINE_BREAK.finditer(chunk, start):
            self._pending += chunk[start:match.start()]
            lines.append(bytes(self._pending))
            self._pending.clear()
            start = match.end()
            self._after_cr = start == len(chunk) and match.group() == b"\r"
        self._pending += chunk[start:]
        return lines

    def end(self) -> list[bytes]:
        """The last line, when the stream did not end with a line end."""
        last, self._pending = bytes(self._pending), bytearray()
        return [last] if last else []


def _error_message(error: object) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or error.get("error") or error)
    return str(error)


@dataclass
class SSEDecoder:
    """Collects ``data:`` lines into events and turns each event into a CompletionChunk.

    An error event (``event: error``, or data carrying a top-level ``error``) raises
    TelaRunFailedError: the run was created and ended badly, whatever follows it (even ``[DONE]``).
    """

    secrets: tuple[str, ...] = ()
    run_id: str = ""
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    done: bool = False
    saw_finish: bool = False

    def feed(self, raw_line: bytes | str) -> CompletionChunk | None:
        """Take one line (without or with its line ending); return a chunk when an event completes."""
        if isinstance(raw_line, str):
            raw_line = raw_line.encode("utf-8")
        if self.secrets:  # an echoed key must not reach the streamed text, the run id or an error
            raw_line = scrub_body(raw_line, self.secrets)
        try:
            line = raw_line.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise detached(TelaBadResponseError("Tela's completion stream sent bytes that are not UTF-8")) from None
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value.strip()
        return None

    def _dispatch(self) -> CompletionChunk | None:
        event, self._event = self._event, ""
        if not self._data:
            return None
        payload, self._data = "\n".join(self._data), []
        if payload.strip() == DONE:
            self.done = True
            return None
        try:
            data = load_json(payload.encode())
        except ValueError:
            if event == "error":
                self._failed(payload)
            raise detached(TelaBadResponseError(
                f"Tela's completion stream sent an event that is not JSON: {scrub(payload, self.secrets)!r}"
            )) from None
        if event == "error" or (isinstance(data, dict) and data.get("error")):
            self._failed(_error_message(data.get("error", data) if isinstance(data, dict) else data))
        chunk = validate(CompletionChunk, data, "a streamed completion event", self.secrets)
        self.run_id = self.run_id or (chunk.id or "")
        self.saw_finish = self.saw_finish or chunk.finished or chunk.final_message is not None
        return chunk

    def _failed(self, message: str) -> None:
        raise detached(TelaRunFailedError(self.run_id or "(streamed, id unknown)", scrub(message, self.secrets)))

    def close(self) -> None:
        """Call at end of stream: fail if the stream was cut short.

        An event not ended by a blank line is incomplete, and is dropped as the SSE spec says. A
        stream that ends with a final message but no ``[DONE]`` is complete (Tela's SDK accepts it).
        """
        if not (self.done or self.saw_finish):
            raise detached(TelaBadResponseError(
                "Tela's completion stream ended before its final event ([DONE] or a final message): "
                "the connection was cut or the stream is malformed."
            ))
