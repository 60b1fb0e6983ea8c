"""Client settings read from an Airflow connection of type ``tela``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_tela.errors import TelaConfigError

DEFAULT_BASE_URL = "https://api.tela.com"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """Turn the connection's host field into a base URL.

    Accepts a full URL (``https://api.tela.com``, ``http://127.0.0.1:8765``) or a bare host name
    (https assumed); empty means Tela's public API.
    """
    host = (host or "").strip().rstrip("/")
    if not host:
        return DEFAULT_BASE_URL
    if "://" not in host:
        scheme = schema if schema in ("http", "https") else "https"
        host = f"{scheme}://{host}"
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TelaConfigError(
            f"Tela connection host {host!r} is not an http(s) URL; use e.g. https://api.tela.com"
        )
    if port and not parts.port:
        host = f"{parts.scheme}://{parts.netloc}:{port}{parts.path}"
    return host


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    raise TelaConfigError(f"Tela connection extra {name!r} must be true or false, got {value!r}")


def _as_number(value: Any, name: str, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TelaConfigError(f"Tela connection extra {name!r} must be a number, got {value!r}") from None
    if number < minimum:
        raise TelaConfigError(f"Tela connection extra {name!r} must be at least {minimum}, got {number}")
    return number


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to talk to Tela; the api_key is kept out of repr."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        if not self.api_key:
            raise TelaConfigError(
                "The Tela connection has no API key: put it in the connection's password field "
                "(API Key in the UI)."
            )
        parts = urlsplit(self.base_url)
        if parts.scheme == "http" and not _is_loopback(parts.hostname or "") and not self.allow_insecure_http:
            raise TelaConfigError(
                f"Refusing to send the Tela API key over plain http to {parts.hostname}: use https, "
                'or set the connection extra {"allow_insecure_http": true} if this network is trusted.'
            )

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.api_key,)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @classmethod
    def from_connection(cls, conn: Any) -> ClientSettings:
        """Build settings from an Airflow Connection (sync or async lookup alike)."""
        extra = conn.extra_dejson or {}
        verify: bool | str = _as_bool(extra.get("verify", True), "verify")
        if extra.get("ca_bundle"):
            verify = str(extra["ca_bundle"])
        return cls(
            base_url=normalize_base_url(conn.host, conn.port, conn.schema),
            api_key=conn.password or "",
            connect_timeout=_as_number(extra.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT), "connect_timeout", 0.1),
            read_timeout=_as_number(extra.get("timeout", DEFAULT_READ_TIMEOUT), "timeout", 0.1),
            max_retries=int(_as_number(extra.get("max_retries", DEFAULT_MAX_RETRIES), "max_retries", 0)),
            verify=verify,
            allow_insecure_http=_as_bool(extra.get("allow_insecure_http", False), "allow_insecure_http"),
        )
