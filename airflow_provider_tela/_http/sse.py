"""Server-Sent Events decoding for streamed completions, fed line by line by either client."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from airflow_provider_tela.errors import TelaBadResponseError, scrub
from airflow_provider_tela.models import CompletionChunk, parse_model

DONE = "[DONE]"


@dataclass
class SSEDecoder:
    """Collects ``data:`` lines into events and turns each event into a CompletionChunk."""

    secrets: tuple[str, ...] = ()
    _data: list[str] = field(default_factory=list)
    done: bool = False
    saw_finish: bool = False

    def feed(self, raw_line: bytes | str) -> CompletionChunk | None:
        """Take one line (without or with its line ending); return a chunk when an event completes."""
        line = raw_line.decode("utf-8") if isinstance(raw_line, bytes) else raw_line
        line = line.rstrip("\r\n")
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment, e.g. a keep-alive
        name, _, value = line.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def _dispatch(self) -> CompletionChunk | None:
        if not self._data:
            return None
        payload, self._data = "\n".join(self._data), []
        if payload.strip() == DONE:
            self.done = True
            return None
        try:
            data = json.loads(payload)
        except ValueError:
            raise TelaBadResponseError(
                f"Tela's completion stream sent an event that is not JSON: {scrub(payload, self.secrets)!r}"
            ) from None
        chunk: CompletionChunk = parse_model(CompletionChunk, data, "a streamed completion event")
        self.saw_finish = self.saw_finish or chunk.finished
        return chunk

    def close(self) -> None:
        """Call at end of stream: fail if the stream was cut short.

        An event not ended by a blank line is incomplete, and is dropped as the SSE spec says.
        """
        if not (self.done or self.saw_finish):
            raise TelaBadResponseError(
                "Tela's completion stream ended before its final event ([DONE] or a finish_reason): "
                "the connection was cut or the stream is malformed. The run may have completed in Tela."
            )
