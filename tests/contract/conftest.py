"""Contract tests: Tela's own Python clients (``tela``, the official SDK, and ``tela-client``) run
against the emulator over 127.0.0.1. They judge the emulator from the outside: what Tela's clients
send must be accepted, what they read must be there. Where a client is itself buggy, the test pins
the bug (asserts it) so that a fixed release makes the test fail and gets noticed."""

from __future__ import annotations

import http.server
import json
import queue
import threading
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, Any]]:
    """A local HTTP server that records every POST it gets (headers, JSON body)."""
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
