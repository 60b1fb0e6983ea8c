"""Client settings read from an Airflow connection of type ``tela``.

Everything both HTTP stacks need to agree on is decided here, once: the base URL (parsed strictly,
so that requests and aiohttp connect to the same host), the key, the proxy, which CA bundle to
trust, and how much of an answer to read.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit

from airflow_provider_tela.errors import TelaConfigError

DEFAULT_BASE_URL = "https://api.tela.com"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3
# Run objects carry their inputs (parsed documents included): generous, but an endless body stops here.
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# Where the TLS layer of each stack looks when nothing else is configured, in requests' order.
CA_BUNDLE_ENV = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")

_HOST_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$")
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\\@]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Where the key goes, as the connection form names it (and as AIRFLOW_CONN_* JSON and the CLI do).
KEY_FIELD = "the connection's API Key field (`password` in AIRFLOW_CONN_* JSON and the CLI)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_base_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """Turn the connection's host field into a canonical base URL.

    Accepts a full URL (``https://api.tela.com``, ``http://127.0.0.1:8765``, with an optional path
    prefix) or a bare host name (https assumed); empty means Tela's public API. Anything two URL
    parsers could read differently is refused: user info (``user:key@host``), backslashes, spaces,
    control characters, a query or a fragment.
    """
    text = (host or "").strip().rstrip("/")
    if not text:
        return DEFAULT_BASE_URL
    if "://" not in text:
        scheme = schema if schema in ("http", "https") else "https"
        text = f"{scheme}://{text}"
    if _UNSAFE_IN_URL.search(text):
        # The value is not echoed: it may hold a key typed into the wrong field.
        raise TelaConfigError(
            "The Tela connection's host must be a plain URL such as https://api.tela.com: user info "
            "(user:password@), backslashes, spaces and control characters are refused, because HTTP "
            f"clients disagree on where such a host points. Put the API key in {KEY_FIELD}."
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise TelaConfigError(f"Tela connection host {text!r} is not an http(s) URL; use e.g. https://api.tela.com")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        # named without the query or fragment: that is where a key pasted into a URL would be
        shown = text.split("?", 1)[0].split("#", 1)[0]
        raise TelaConfigError(
            f"Tela connection host {shown!r} must not have a query or fragment (not shown here: put the API "
            f"key in {KEY_FIELD})"
        )
    hostname = parts.hostname or ""
    try:
        bracketed = f"[{ipaddress.IPv6Address(hostname)}]"
    except ValueError:
        if not _HOST_NAME.match(hostname):
            raise TelaConfigError(
                f"Tela connection host {text!r} has no valid host name; use e.g. https://api.tela.com"
            ) from None
        bracketed = hostname.lower()
    try:
        url_port = parts.port
    except ValueError:
        raise TelaConfigError(f"Tela connection host {text!r} has an invalid port") from None
    url_port = url_port or port or None
    if url_port is not None and not 0 < int(url_port) < 65536:
        raise TelaConfigError(f"Tela connection port {url_port} is not between 1 and 65535")
    netloc = f"{bracketed}:{url_port}" if url_port else bracketed
    return f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"


def clean_api_key(raw: Any) -> str:
    """The key with surrounding whitespace removed (as read from a secrets file); refuses control characters.

    A newline inside a header makes HTTP clients raise errors that quote the header, key included.
    """
    key = str(raw or "").strip()
    if not key:
        raise TelaConfigError(
            f"The Tela connection has no API key: put it in {KEY_FIELD}."
        )
    if _CONTROL.search(key) or not key.isascii():
        raise TelaConfigError(
            "The Tela API key in the connection contains a control character or a non-ASCII character "
            f"(a line break pasted with it?). Copy the key again into {KEY_FIELD}; it is not shown here."
        )
    return key


_BOOLEAN_WORDS = ("true", "1", "yes", "false", "0", "no")


def _as_bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
        return value.strip().lower() in ("true", "1", "yes")
    raise TelaConfigError(f"Tela connection extra {name!r} must be true or false, got {value!r}")


def _as_number(value: Any, name: str, minimum: float) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TelaConfigError(f"Tela connection extra {name!r} must be a number, got {value!r}") from None
    if not number >= minimum or number == float("inf"):
        raise TelaConfigError(
            f"Tela connection extra {name!r} must be a finite number of at least {minimum}, got {number}"
        )
    return number


def _as_whole(value: Any, name: str, minimum: int) -> int:
    number = _as_number(value, name, minimum)
    if number != int(number):
        raise TelaConfigError(f"Tela connection extra {name!r} must be a whole number, got {value!r}")
    return int(number)


def _readable_file(path: str, what: str) -> str:
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise TelaConfigError(f"{what} {path!r} does not exist or is not a readable file")
    return path


@lru_cache(maxsize=16)
def _ca_context(path: str, _version: tuple[int, int]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=path)


def ca_context(path: str, what: str = "The CA bundle") -> ssl.SSLContext:
    """The TLS context that trusts the certificates in ``path`` (loaded once per version of the
    file); a file that holds no certificate is a TelaConfigError naming the path, never a raw
    ``ssl.SSLError`` from deep inside a client."""
    _readable_file(path, what)
    stat = os.stat(path)
    try:
        return _ca_context(path, (stat.st_mtime_ns, stat.st_size))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TelaConfigError(
            f"{what} {path!r} holds no usable PEM certificate ({type(exc).__name__}: "
            f"{getattr(exc, 'reason', None) or exc})"
        ) from None


def _checked_ca(path: str, what: str) -> str:
    ca_context(path, what)
    return path


def _default_ca_bundle() -> str:
    for name in CA_BUNDLE_ENV:
        value = os.environ.get(name)
        if value:
            return _checked_ca(value, f"The CA bundle in environment variable {name}")
    import certifi

    return str(certifi.where())


def _proxy_secret(proxy: str | None) -> str:
    if not proxy:
        return ""
    return unquote(urlsplit(proxy).password or "")


@dataclass(frozen=True)
class ClientSettings:
    """Everything a client needs to talk to Tela; the api_key is kept out of repr."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str = field(default="", repr=False)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool = True
    # The CA bundle that verifies Tela's host; None means the default (environment, then certifi).
    ca_bundle: str | None = None
    allow_insecure_http: bool = False
    # An explicit proxy (the connection's ``proxy`` extra); otherwise the environment's, per URL.
    proxy: str | None = field(default=None, repr=False)
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    # The environment's proxies, read once so that both stacks and every request agree.
    env_proxies: dict[str, str] = field(default_factory=urllib.request.getproxies_environment, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", clean_api_key(self.api_key))
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url))
        if self.ca_bundle is not None:
            _checked_ca(self.ca_bundle, "The Tela connection's CA bundle")
        host = self.host
        if urlsplit(self.base_url).scheme == "http" and not self.allow_insecure_http:
            if not _is_loopback(host):
                raise TelaConfigError(
                    f"Refusing to send the Tela API key over plain http to {host}: use https, or set the "
                    'connection extra {"allow_insecure_http": true} if this network is trusted.'
                )
            if self.proxy_for(self.base_url):
                raise TelaConfigError(
                    f"Refusing to send the Tela API key over plain http to {host} through a proxy: the proxy "
                    "would see it. Add the host to NO_PROXY, use https, or set the connection extra "
                    '{"allow_insecure_http": true} if the proxy is trusted.'
                )

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @cached_property
    def secrets(self) -> tuple[str, ...]:
        """What no answer, error or log line may show (read once: every status check scrubs with it)."""
        return tuple(s for s in (self.api_key, _proxy_secret(self.proxy_for(self.base_url))) if s)

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def is_tela_url(self, url: str) -> bool:
        parts, base = urlsplit(url), urlsplit(self.base_url)
        return (parts.scheme, parts.hostname, parts.port) == (base.scheme, base.hostname, base.port)

    def proxy_for(self, url: str) -> str | None:
        """The proxy a request to ``url`` goes through: the connection's, else the environment's."""
        if self.proxy:
            return self.proxy
        parts = urlsplit(url)
        proxy = self.env_proxies.get(parts.scheme) or self.env_proxies.get("all")
        bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]  # in CPython, not in typeshed
        if not proxy or bypass(parts.hostname or "", self.env_proxies):
            return None
        return proxy

    def ca_for(self, url: str) -> str | None:
        """The CA bundle to verify ``url`` with; None when verification is off (Tela's host only).

        The connection's bundle and ``verify`` apply to Tela's host alone: presigned upload URLs on
        S3 or GCS are verified against the default bundle.
        """
        if self.is_tela_url(url):
            if not self.verify:
                return None
            return self.ca_bundle or self._default_ca
        return self._default_ca

    @cached_property
    def _default_ca(self) -> str:
        # found and checked once per connection's settings, not per request
        return _default_ca_bundle()

    @classmethod
    def from_connection(cls, conn: Any) -> ClientSettings:
        """Build settings from an Airflow Connection (sync or async lookup alike).

        An extra that is ``null``, empty or blank is not set (the default applies): Airflow's connection
        form saves every field the user left empty that way.
        """
        raw = conn.extra_dejson or {}
        if not isinstance(raw, dict):
            raise TelaConfigError("The Tela connection's extra must be a JSON object")
        extra = {name: value for name, value in raw.items() if not _unset(value)}
        proxy = extra.get("proxy")
        if proxy is not None and urlsplit(str(proxy)).scheme not in ("http", "https"):
            raise TelaConfigError("Tela connection extra 'proxy' must be an http(s):// URL")
        verify, ca_bundle = tls_extras(extra.get("verify"), extra.get("ca_bundle"))
        return cls(
            base_url=normalize_base_url(conn.host, conn.port, conn.schema),
            api_key=conn.password or "",
            connect_timeout=_as_number(extra.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT), "connect_timeout", 0.1),
            read_timeout=_as_number(extra.get("timeout", DEFAULT_READ_TIMEOUT), "timeout", 0.1),
            max_retries=_as_whole(extra.get("max_retries", DEFAULT_MAX_RETRIES), "max_retries", 0),
            verify=verify,
            ca_bundle=ca_bundle,
            allow_insecure_http=_as_bool(extra.get("allow_insecure_http", False), "allow_insecure_http"),
            proxy=str(proxy) if proxy else None,
            max_response_bytes=_as_whole(
                extra.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES), "max_response_bytes", 1024
            ),
        )


def _unset(value: Any) -> bool:
    """``null``, ``""`` or blank: how Airflow's connection form saves a field left empty."""
    return value is None or (isinstance(value, str) and not value.strip())


def tls_extras(verify: Any, ca_bundle: Any) -> tuple[bool, str | None]:
    """``verify`` (a switch) and ``ca_bundle`` (a path) as (verify, CA bundle); either may be unset (None).

    Older connections and ``AIRFLOW_CONN_*`` variables may give ``verify`` as a word ("true", "false")
    or, like HttpHook's, as a CA bundle path: a path there is read as ``ca_bundle`` when that is unset;
    when both name a path, ``ca_bundle`` wins. ``verify`` off wins over any bundle: nothing is verified.
    """
    bundle = str(ca_bundle).strip() if ca_bundle is not None else None
    if isinstance(verify, str) and verify.strip().lower() not in _BOOLEAN_WORDS:
        return True, bundle or verify.strip()
    on = True if verify is None else _as_bool(verify, "verify")
    return on, bundle if on else None
