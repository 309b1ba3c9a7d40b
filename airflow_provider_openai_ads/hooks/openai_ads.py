"""Hook for the OpenAI Ads Conversions API: turns an ``openai_ads`` connection into a client.

The connection holds the Conversions API key (password), the Pixel ID (extra ``pixel_id``, or
login), an optional base URL (host, port) and a few options in its extras. Nothing is read
before it is needed, and the key is masked in Airflow's logs as soon as it is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook
from airflow.sdk.log import mask_secret, redact
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from airflow_provider_openai_ads.conversions.client import (
    AuthenticationError,
    ConfigurationError,
    ConversionsClient,
    RetryPolicy,
)
from airflow_provider_openai_ads.conversions.schema import ActionSource, UserSchema
from airflow_provider_openai_ads.conversions.taxonomy import DEFAULT_BASE_URL
from airflow_provider_openai_ads.get_provider_info import INTEGRATION_SOURCE_PATTERN, PIXEL_ID_PATTERN

if TYPE_CHECKING:
    from airflow_provider_openai_ads.conversions.batching import PreparedEvent
    from airflow_provider_openai_ads.conversions.report import Report

#: a connection test answers within seconds: two attempts, no long backoff
_PROBE_RETRY = RetryPolicy(max_attempts=2, initial_backoff_s=0.5, max_backoff_s=1.0, budget_s=15.0)
_PROBE_MAX_TIMEOUT_S = 10.0
_API_KEY_RE = re.compile(r"[!-~]+")


@dataclass(frozen=True)
class _ConnectionFields:
    """What the hook reads from the connection (Airflow's ``Connection`` repr shows the password)."""

    host: str | None
    port: int | None
    login: str | None
    extras: dict[str, Any]
    password: str | None = field(repr=False)


class _ConnectionExtras(BaseModel):
    """The connection's extras this hook understands; anything else is ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True, str_strip_whitespace=True)

    pixel_id: str | None = None
    default_action_source: ActionSource | None = None
    timeout: float | None = Field(default=None, ge=1)
    integration_source: str | None = Field(default=None, pattern=INTEGRATION_SOURCE_PATTERN)
    user_schema: UserSchema | None = None
    max_in_flight: int | None = Field(default=None, ge=1, le=32)
    allow_insecure_http: bool | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # the connection form stores a cleared field as "" (or null)
        return None if isinstance(value, str) and not value.strip() else value


class OpenAIAdsHook(BaseHook):
    """Send conversion events through an ``openai_ads`` connection.

    Hook arguments win over the connection's extras, which win over the client's defaults.

    :param openai_ads_conn_id: the ``openai_ads`` connection holding the key and Pixel ID.
    :param pixel_id: send for this Pixel ID instead of the connection's.
    :param timeout: seconds per HTTP request (connection extra ``timeout``, default 30).
    :param max_in_flight: requests sent concurrently (connection extra ``max_in_flight``, default 4).
    :param retry: the retry policy for transient failures (429, 5xx, timeouts, connection errors).
    :param client_kwargs: more keyword arguments for
        :class:`~airflow_provider_openai_ads.conversions.client.ConversionsClient`
        (e.g. ``max_batch_events``, ``transport``); the API key comes only from the connection.
    """

    conn_name_attr = "openai_ads_conn_id"
    default_conn_name = "openai_ads_default"
    conn_type = "openai_ads"
    hook_name = "OpenAI Ads"

    def __init__(
        self,
        openai_ads_conn_id: str = default_conn_name,
        *,
        pixel_id: str | None = None,
        timeout: float | None = None,
        max_in_flight: int | None = None,
        retry: RetryPolicy | None = None,
        **client_kwargs: Any,
    ) -> None:
        super().__init__()
        if "api_key" in client_kwargs:
            raise TypeError("OpenAIAdsHook takes the API key only from the connection's password")
        self.openai_ads_conn_id = openai_ads_conn_id
        self.pixel_id = pixel_id
        self.timeout = timeout
        self.max_in_flight = max_in_flight
        self.retry = retry
        self.client_kwargs = client_kwargs

    def __repr__(self) -> str:
        return f"{type(self).__name__}(openai_ads_conn_id={self.openai_ads_conn_id!r})"

    # -- reading the connection ----------------------------------------------------------------

    @cached_property
    def _connection(self) -> _ConnectionFields:
        conn = self.get_connection(self.openai_ads_conn_id)
        return _ConnectionFields(conn.host, conn.port, conn.login, conn.extra_dejson, conn.password)

    @cached_property
    def _extras(self) -> _ConnectionExtras:
        extras = self._connection.extras
        unknown = sorted(set(extras) - set(_ConnectionExtras.model_fields))
        if unknown:
            self.log.warning(
                "Connection %r: ignoring unknown extra fields %s", self.openai_ads_conn_id, ", ".join(unknown)
            )
        try:
            return _ConnectionExtras.model_validate(extras)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise ConfigurationError(
                f"connection {self.openai_ads_conn_id!r} has invalid extra fields: {problems}"
            ) from None

    def _api_key(self) -> str:
        key = (self._connection.password or "").strip()
        if not key:
            raise ConfigurationError(
                f"connection {self.openai_ads_conn_id!r} has no Conversions API key: set it as the password"
            )
        mask_secret(key)
        mask_secret(f"Bearer {key}")
        if not _API_KEY_RE.fullmatch(key):
            # an HTTP library would echo the bad header value in its error: refuse it here, unquoted
            raise ConfigurationError(
                f"connection {self.openai_ads_conn_id!r}: the Conversions API key contains spaces or "
                "characters that are not printable ASCII; check the password"
            )
        return key

    def _pixel_id(self) -> str:
        pixel_id = (self.pixel_id or self._extras.pixel_id or self._connection.login or "").strip()
        if not pixel_id:
            raise ConfigurationError(
                f"connection {self.openai_ads_conn_id!r} has no Pixel ID: set its pixel_id field (or login)"
            )
        if not re.fullmatch(PIXEL_ID_PATTERN, pixel_id):
            raise ConfigurationError(
                f"connection {self.openai_ads_conn_id!r}: {pixel_id!r} does not look like a Pixel ID "
                "(letters, digits, '-' and '_', at most 128)"
            )
        return pixel_id

    def _base_url(self) -> str:
        """The API root from host (a bare host or a full URL) and port."""
        host = (self._connection.host or "").strip()
        if not host:
            return DEFAULT_BASE_URL
        parts = urlsplit(host if "://" in host else f"https://{host}")
        port = self._connection.port or None  # the 3.3 UI sends port 0 for "no port"
        if port is not None and parts.hostname:
            if parts.port is not None and parts.port != port:
                raise ConfigurationError(
                    f"connection {self.openai_ads_conn_id!r}: host names port {parts.port} but port is {port}"
                )
            netloc = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            parts = parts._replace(netloc=f"{netloc}:{port}")
        return urlunsplit(parts)

    def _client_kwargs(self) -> dict[str, Any]:
        extras = self._extras
        kwargs: dict[str, Any] = {
            "base_url": self._base_url(),
            "pixel_id": self._pixel_id(),
            "timeout": self.timeout or extras.timeout,
            "max_in_flight": self.max_in_flight or extras.max_in_flight,
            "retry": self.retry,
            "integration_source": extras.integration_source,
            "allow_insecure_http": extras.allow_insecure_http,
        }
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        kwargs.update(self.client_kwargs)
        return kwargs

    def _new_client(self, **overrides: Any) -> ConversionsClient:
        """Build a client; a configuration error names the connection, never the key."""
        kwargs = {**self._client_kwargs(), **overrides}
        api_key = self._api_key()
        try:
            return ConversionsClient(api_key=api_key, **kwargs)
        except ConfigurationError as exc:
            raise ConfigurationError(f"connection {self.openai_ads_conn_id!r}: {exc}") from None

    # -- public API ----------------------------------------------------------------------------

    @cached_property
    def client(self) -> ConversionsClient:
        """The Conversions API client, built on first use and kept for the hook's lifetime."""
        client = self._new_client()
        self.log.info(
            "OpenAI Ads connection %r: sending to %s for Pixel ID %s",
            self.openai_ads_conn_id,
            client.base_url,
            client.pixel_id,
        )
        return client

    def get_conn(self) -> ConversionsClient:
        """Return the cached :class:`ConversionsClient`."""
        return self.client

    def send_events(
        self,
        events: Iterable[PreparedEvent | Mapping[str, Any]],
        *,
        validate_only: bool = False,
        report: Report | None = None,
        on_progress: Callable[[Report], None] | None = None,
    ) -> Report:
        """Deliver events and return the report counting each one as sent, rejected or failed.

        :param events: prepared events, or API-shaped event dicts that are already validated;
            consumed lazily, so a generator keeps memory flat.
        :param validate_only: ask the API to validate the events without recording them.
        :param report: a report to add the counts to (e.g. one that already counts mapping rejections).
        :param on_progress: called with the report after each batch completes.
        :raises ConfigurationError: when the API refuses the key, the Pixel ID or the request itself.
        """
        return self.get_conn().send(
            events, validate_only=validate_only, report=report, on_progress=on_progress
        )

    def mapping_defaults(self) -> dict[str, Any]:
        """Connection-level mapping defaults: ``default_action_source`` and ``user_schema``."""
        extras = self._extras
        return {
            "default_action_source": extras.default_action_source,
            "user_schema": extras.user_schema or "lists",
        }

    def test_connection(self) -> tuple[bool, str]:
        """Probe the API with one synthetic ``validate_only`` event; never raises, records nothing."""
        try:
            timeout = min(self.timeout or self._extras.timeout or _PROBE_MAX_TIMEOUT_S, _PROBE_MAX_TIMEOUT_S)
            client = self._new_client(retry=_PROBE_RETRY, timeout=timeout)
        except Exception as exc:
            return False, _describe(exc)
        try:
            with client:
                return True, client.check_credentials()
        except AuthenticationError as exc:
            return False, str(exc)
        except ConfigurationError as exc:
            message = str(exc)
            if "connection error" in message or "timeout" in message:
                return False, (
                    f"could not reach the Conversions API at {client.base_url} ({message}); check the "
                    "connection's host and that this machine can reach it (network, proxy, firewall)"
                )
            return False, message
        except Exception as exc:
            return False, _describe(exc)

    def close(self) -> None:
        """Close the client's connections, if a client was built; the next call builds a new one."""
        client = self.__dict__.pop("client", None)
        if client is not None:
            client.close()


def _describe(exc: BaseException) -> str:
    message = str(exc) if isinstance(exc, ConfigurationError) else f"{type(exc).__name__}: {exc}"
    return str(redact(message))
