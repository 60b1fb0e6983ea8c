"""The sync transport: a pooled ``requests.Session`` driven by the shared retry rules."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_tela._http.calls import ApiCall
from airflow_provider_tela._http.retry import Failure, Outcome, RetryPolicy
from airflow_provider_tela._http.settings import ClientSettings
from airflow_provider_tela.errors import TelaConnectionError

USER_AGENT = "airflow-provider-tela"


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """True when urllib3 failed before a byte of the request left (refused, DNS, connect timeout)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


class SyncTransport:
    def __init__(self, settings: ClientSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=8, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update({"User-Agent": USER_AGENT, **settings.auth_headers})

    def close(self) -> None:
        self.session.close()

    def request(self, call: ApiCall, *, read_timeout: float | None = None) -> tuple[requests.Response, Any]:
        """Send ``call`` with retries; return the response and its decoded JSON (None for a stream)."""
        attempts = self.policy.attempts(call, self.settings.secrets)
        timeout = (self.settings.connect_timeout, read_timeout or self.settings.read_timeout)
        while True:
            response = None
            try:
                with ExitStack() as stack:
                    data = stack.enter_context(call.body()) if call.body else None
                    response = self.session.request(
                        call.method, call.url(self.settings.base_url), json=call.json, params=call.params,
                        data=data, headers=self._headers(call), timeout=timeout, stream=call.stream,
                        # per request: a session-level verify loses to REQUESTS_CA_BUNDLE from the environment
                        verify=self.settings.verify,
                    )
                    stream_ok = call.stream and response.status_code < 400
                    outcome = attempts.answered(
                        response.status_code, response.headers, None if stream_ok else response.content
                    )
            except requests.exceptions.SSLError as exc:
                raise TelaConnectionError(
                    f"TLS handshake with {self.settings.base_url} failed ({type(exc).__name__}). Check the "
                    'certificate, or give a CA bundle in the connection extra {"ca_bundle": "/path/ca.pem"}.'
                ) from None
            except requests.exceptions.ConnectTimeout:
                outcome = attempts.failed(Failure.NOT_SENT, f"connect timeout after {timeout[0]} s")
            except requests.exceptions.ReadTimeout:
                outcome = attempts.failed(Failure.NO_ANSWER, f"no answer within {timeout[1]} s")
            except requests.exceptions.ConnectionError as exc:
                kind = Failure.NOT_SENT if _never_sent(exc) else Failure.NO_ANSWER
                outcome = attempts.failed(kind, f"{kind.value}: {type(exc).__name__}")
            if outcome.error is None and outcome.retry_in is None:
                return response, outcome.data  # type: ignore[return-value]
            if response is not None:
                response.close()
            self._settle(outcome)

    @staticmethod
    def _headers(call: ApiCall) -> dict[str, Any]:
        if call.absolute_url:
            return {**call.headers, "Authorization": None}  # None drops the session's key header
        return call.headers

    @staticmethod
    def _settle(outcome: Outcome) -> None:
        if outcome.error is not None:
            raise outcome.error
        time.sleep(outcome.retry_in or 0)
