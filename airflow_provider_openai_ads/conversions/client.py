"""Delivery to the Conversions API over HTTP: batches in flight, retries, culprit isolation.

This is the only module that imports httpx, so moving to its maintained fork is one line.

* Events go out in requests of at most 1,000 events and a byte cap, several in flight.
* 429, 5xx, timeouts and connection errors are retried with exponential backoff and jitter,
  honoring ``Retry-After`` (seconds or HTTP date), within a total time budget per batch;
  what outlives the budget is reported as failed, never lost.
* The 7-day / 10-minute window is re-checked before every (re)send: stale events are
  rejected as ``too_old`` instead of being sent (one stale event would sink the whole batch).
* A 400/422 for a batch rejects only the culprit: the event the error ``param`` names
  (``events[i]``), else the one found by bisection; the rest is resent.
* 401/403 raise :class:`AuthenticationError` at once, naming the likely cause.
* The API key lives only in the Authorization header: never in a URL, log, repr or message.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

from airflow_provider_openai_ads.conversions.batching import (
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    PreparedEvent,
    iter_batches,
    request_body,
)
from airflow_provider_openai_ads.conversions.report import Rejection, Report
from airflow_provider_openai_ads.conversions.taxonomy import (
    DEFAULT_BASE_URL,
    EVENTS_PATH,
    MAX_EVENT_AGE_MS,
    MAX_EVENTS_PER_REQUEST,
    MAX_FUTURE_SKEW_MS,
    normalize_integration_source,
)

#: requests sent concurrently unless the connection or the operator says otherwise
DEFAULT_MAX_IN_FLIGHT = 4

log = logging.getLogger(__name__)

USER_AGENT = "airflow-provider-openai-ads"
_EVENT_PARAM_RE = re.compile(r"^events\[(\d+)\](?:\.(.+))?$")
_EMAIL_LIKE_RE = re.compile(r"[^\s'\"@]+@[^\s'\"@]+")
_MAX_MESSAGE = 300
_TOO_OLD_CODES = frozenset({"event_timestamp_too_old"})


class ConversionsAPIError(Exception):
    """Base class of the errors this client raises."""


class ConfigurationError(ConversionsAPIError):
    """The request can never succeed as configured (credentials, Pixel ID, base URL, options)."""


class AuthenticationError(ConfigurationError):
    """401/403: the key or the Pixel ID was refused."""


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of transient failures (429, 5xx, timeouts, connection errors) for one batch.

    :param max_attempts: attempts per request, the first included.
    :param initial_backoff_s: backoff before the first retry; doubled (``multiplier``) each time.
    :param max_backoff_s: cap of a single backoff.
    :param budget_s: total time a batch may spend on retries; what outlives it is reported failed.
        Once one batch has used up its budget the API is taken to be down: the other batches of
        the run are tried once more each, without further retries, so an outage ends the run
        after about one budget instead of one budget per batch.
    :param max_retry_after_s: a longer ``Retry-After`` is not waited for: the batch fails.
    """

    max_attempts: int = 8
    initial_backoff_s: float = 0.5
    multiplier: float = 2.0
    max_backoff_s: float = 30.0
    budget_s: float = 300.0
    max_retry_after_s: float = 300.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random."""
        base = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier ** (attempt - 1))
        return base / 2 + rng.uniform(0, base / 2)


@dataclass
class _BatchOutcome:
    """What one batch's delivery did; merged into the run's report by the sending thread."""

    sent_events: int = 0
    sent_rows: int = 0
    outcomes: list[tuple[Rejection, int]] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    bytes_sent: int = 0

    def sent(self, events: list[PreparedEvent]) -> None:
        self.sent_events += len(events)
        self.sent_rows += sum(e.rows for e in events)

    def not_sent(
        self, event: PreparedEvent, outcome: str, reason: str, message: str, field: str | None
    ) -> None:
        self.outcomes.append((Rejection(event.event_id, reason, message, field, event.rows, outcome), 1))


@dataclass(frozen=True)
class _Response:
    status: int | None
    error: dict[str, Any]
    retry_after: float | None = None
    transient: str | None = None


@dataclass
class _Pair:
    """The two halves of a batch that failed without naming a culprit."""

    failure: tuple[str | None, str | None, str | None]
    first_ok: bool = False


@dataclass
class _Work:
    """A sub-batch still to deliver; ``pair`` is set for halves made by bisection."""

    events: list[PreparedEvent]
    pair: _Pair | None = None
    first: bool = False

    def known_to_fail(self) -> bool:
        return self.pair is not None and not self.first and self.pair.first_ok


class ConversionsClient:
    """Sends prepared events to ``POST {base_url}/v1/events?pid=<pixel_id>``.

    :param api_key: the Conversions API key (not an Advertiser API key).
    :param pixel_id: the Pixel ID events are sent for.
    :param base_url: API root; ``http://`` is refused unless it points at loopback (the
        emulator) or ``allow_insecure_http`` is set.
    :param timeout: seconds per HTTP request.
    :param max_in_flight: requests sent concurrently.
    :param max_batch_events: events per request (1-1,000).
    :param max_request_bytes: byte cap per request body.
    :param max_event_bytes: larger events are rejected (``event_too_large``).
    :param retry: the :class:`RetryPolicy` for transient failures.
    :param integration_source: sent on every request when set.
    :param window_margin_s: events this close to the 7-day limit are rejected before sending,
        since they could age out in transit.
    :param clock: wall clock (seconds since the epoch) used for the time window; injectable.
    :param sleep: used between retries; injectable for tests.
    :param transport: an httpx transport (tests use ``httpx.MockTransport``).
    """

    def __init__(
        self,
        *,
        api_key: str,
        pixel_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_batch_events: int = MAX_EVENTS_PER_REQUEST,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        retry: RetryPolicy | None = None,
        integration_source: str | None = None,
        window_margin_s: float = 5.0,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not api_key or not api_key.strip():
            raise ConfigurationError("the Conversions API key is empty: set it as the connection's password")
        if not pixel_id or not str(pixel_id).strip():
            raise ConfigurationError("the Pixel ID is empty: set pixel_id on the connection")
        if max_in_flight < 1:
            raise ConfigurationError("max_in_flight must be at least 1")
        if not 1 <= max_batch_events <= MAX_EVENTS_PER_REQUEST:
            raise ConfigurationError(f"max_batch_events must be between 1 and {MAX_EVENTS_PER_REQUEST}")
        if integration_source is not None:
            normalized = normalize_integration_source(integration_source)
            if normalized is None:
                raise ConfigurationError(
                    "integration_source must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
                )
            integration_source = normalized
        self.pixel_id = str(pixel_id).strip()
        self.base_url = check_base_url(base_url, allow_insecure_http=allow_insecure_http)
        self.max_in_flight = max_in_flight
        self.max_batch_events = max_batch_events
        self.max_request_bytes = max_request_bytes
        self.max_event_bytes = max_event_bytes
        self.retry = retry or RetryPolicy()
        self.integration_source = integration_source
        self._margin_ms = int(window_margin_s * 1000)
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._abort = threading.Event()
        self._outage = threading.Event()
        self._key_bytes = api_key.strip().encode()
        self._http = httpx.Client(
            base_url=self.base_url,
            headers={
                "Authorization": f"Bearer {api_key.strip()}",
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=max_in_flight, max_keepalive_connections=max_in_flight),
            transport=transport,
        )
        # the URL post(EVENTS_PATH, params=...) would build, built once: httpx otherwise parses
        # and merges it again on every request (about 115 us of each request's CPU)
        self._events_url = self._http.build_request("POST", EVENTS_PATH, params={"pid": self.pixel_id}).url

    def __repr__(self) -> str:
        return f"ConversionsClient(base_url={self.base_url!r}, pixel_id={self.pixel_id!r})"

    def __enter__(self) -> ConversionsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- public API --------------------------------------------------------------------------

    def send(
        self,
        events: Iterable[PreparedEvent | Mapping[str, Any]],
        *,
        validate_only: bool = False,
        report: Report | None = None,
        on_progress: Callable[[Report], None] | None = None,
    ) -> Report:
        """Deliver ``events`` (prepared, or API-shaped dicts already validated) and count every one.

        Events are consumed lazily: at most ``max_in_flight`` + 1 batches are held in memory.
        Raises :class:`ConfigurationError` (after stopping the other requests) when the API
        refuses the credentials or the request itself; ``exc.report`` holds the counts so far.
        """
        report = report if report is not None else Report(validate_only=validate_only)
        report.validate_only = validate_only
        prepared = (e if isinstance(e, PreparedEvent) else PreparedEvent.from_event(dict(e)) for e in events)
        batches = iter_batches(
            prepared,
            max_events=self.max_batch_events,
            max_bytes=self.max_request_bytes,
            max_event_bytes=self.max_event_bytes,
            on_oversized=report.add_outcome,
        )
        self._abort.clear()
        self._outage.clear()
        pending: set[Future[_BatchOutcome]] = set()
        with ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="openai-ads-send") as pool:
            try:
                for batch in batches:
                    while len(pending) >= self.max_in_flight:
                        done, pending = wait(pending, return_when=FIRST_COMPLETED)
                        self._merge(done, report, on_progress)
                    pending.add(pool.submit(self._deliver, batch, validate_only))
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    self._merge(done, report, on_progress)
            except BaseException as exc:
                self._abort.set()
                for future in pending:
                    future.cancel()
                if isinstance(exc, ConversionsAPIError):
                    exc.report = report
                raise
        return report

    def check_credentials(self) -> str:
        """Send one synthetic event with ``validate_only``; raise :class:`ConfigurationError` if refused."""
        probe = {
            "id": "airflow-provider-openai-ads-connection-test",
            "type": "page_viewed",
            "timestamp_ms": int(self._clock() * 1000),
            "action_source": "other",
            "data": {"type": "contents"},
        }
        report = self.send([probe], validate_only=True)
        if report.events["sent"] == 1:
            return (
                f"Connected: the Conversions API accepted a validate_only probe for Pixel ID {self.pixel_id}"
            )
        reasons = report.samples[0]["message"] if report.samples else "no answer"
        raise ConfigurationError(f"the Conversions API did not accept a validate_only probe: {reasons}")

    # -- delivery of one batch (runs in a worker thread) ---------------------------------------

    def _merge(self, done: set[Future[_BatchOutcome]], report: Report, on_progress) -> None:
        for future in done:
            outcome = future.result()
            report.add_sent(outcome.sent_events, outcome.sent_rows)
            for rejection, events in outcome.outcomes:
                report.add_outcome(rejection, events)
            report.requests += outcome.requests
            report.retries += outcome.retries
            report.bytes_sent += outcome.bytes_sent
        if on_progress is not None:
            on_progress(report)

    def _deliver(self, batch: list[PreparedEvent], validate_only: bool) -> _BatchOutcome:
        out = _BatchOutcome()
        deadline = time.monotonic() + self.retry.budget_s
        work: list[_Work] = [_Work(batch)]
        while work:
            item = work.pop()
            events = item.events
            attempt = 0
            while events:
                before = len(events)
                events = self._within_window(events, out)
                if not events:
                    break
                if item.known_to_fail() and len(events) == before:
                    # its failed parent's other half went through: no need to send it to learn that
                    work.extend(self._bisect(events, item.pair.failure, out))
                    break
                if self._abort.is_set():
                    for event in events:
                        out.not_sent(event, "failed", "aborted", "delivery stopped after a fatal error", None)
                    break
                body = request_body(
                    events, validate_only=validate_only, integration_source=self.integration_source
                )
                response = self._post(body)
                out.requests += 1
                out.bytes_sent += len(body)
                if response.transient is None:
                    if 200 <= response.status < 300:
                        out.sent(events)
                        if item.pair is not None and item.first and len(events) == len(item.events):
                            item.pair.first_ok = True
                    else:
                        work.extend(self._rejected(events, response, out))
                    break
                attempt += 1
                delay = self._retry_delay(attempt, response)
                too_long = (
                    response.retry_after is not None and response.retry_after > self.retry.max_retry_after_s
                )
                exhausted = attempt >= self.retry.max_attempts or time.monotonic() + delay > deadline
                if too_long or exhausted or self._outage.is_set():
                    if exhausted:
                        self._outage.set()  # the API looks down: the other batches stop retrying
                    message = (
                        f"gave up after {attempt} attempt{'s' if attempt > 1 else ''}: {response.transient}"
                    )
                    if too_long:
                        message += f" (Retry-After {response.retry_after:g}s is over the limit)"
                    elif not exhausted:
                        message += " (another batch already exhausted its retry budget)"
                    for event in events:
                        out.not_sent(event, "failed", _failure_reason(response), message, None)
                    break
                out.retries += 1
                log.warning(
                    "Conversions API: %s for a batch of %d events; retry %d in %.2fs",
                    response.transient,
                    len(events),
                    attempt,
                    delay,
                )
                self._sleep(delay)
        return out

    def _bisect(
        self,
        events: list[PreparedEvent],
        failure: tuple[str | None, str | None, str | None],
        out: _BatchOutcome,
    ) -> list[_Work]:
        """Split a failing batch the error did not explain; a lone event is the culprit."""
        if len(events) == 1:
            code, field_name, message = failure
            out.not_sent(
                events[0],
                "rejected",
                code or "rejected_by_api",
                f"{message or 'rejected by the API'} (isolated by bisection)",
                field_name,
            )
            return []
        middle = len(events) // 2
        pair = _Pair(failure)
        return [_Work(events[middle:], pair, first=False), _Work(events[:middle], pair, first=True)]

    def _within_window(self, events: list[PreparedEvent], out: _BatchOutcome) -> list[PreparedEvent]:
        now_ms = int(self._clock() * 1000)
        oldest, newest = now_ms - MAX_EVENT_AGE_MS + self._margin_ms, now_ms + MAX_FUTURE_SKEW_MS
        if all(oldest <= e.timestamp_ms <= newest for e in events):
            return events
        kept = []
        for event in events:
            if event.timestamp_ms < oldest:
                out.not_sent(
                    event,
                    "rejected",
                    "too_old",
                    "older than 7 days at send time; the Conversions API only accepts events from the last 7 days",
                    "timestamp_ms",
                )
            elif event.timestamp_ms > newest:
                out.not_sent(
                    event,
                    "rejected",
                    "too_far_in_future",
                    "more than 10 minutes in the future",
                    "timestamp_ms",
                )
            else:
                kept.append(event)
        return kept

    def _post(self, body: bytes) -> _Response:
        try:
            response = self._http.post(
                self._events_url,
                content=_released_once_sent(body),
                headers={"Content-Length": str(len(body))},
            )
        except httpx.TimeoutException as exc:
            return _Response(None, {}, transient=f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return _Response(None, {}, transient=f"connection error ({type(exc).__name__})")
        status = response.status_code
        if status == 429 or status >= 500:
            return _Response(
                status,
                {},
                retry_after=self._parse_retry_after(response.headers.get("Retry-After")),
                transient=f"HTTP {status}",
            )
        if status < 300:
            return _Response(status, {})
        return _Response(status, _error_object(response.content.replace(self._key_bytes, b"***")))

    def _rejected(self, events: list[PreparedEvent], response: _Response, out: _BatchOutcome) -> list[_Work]:
        """Handle a refused request; return the sub-batches still to send."""
        status, error = response.status, response.error
        message = _safe_message(error.get("message")) or f"HTTP {status}"
        if status in (401, 403):
            raise AuthenticationError(self._auth_message(status, message))
        if status == 413:
            if len(events) == 1:
                out.not_sent(
                    events[0], "rejected", "event_too_large", "the API refused the event as too large", None
                )
                return []
            return self._bisect(
                events, ("event_too_large", None, "the API refused the event as too large"), out
            )
        if status not in (400, 422):
            raise ConfigurationError(
                f"the Conversions API answered HTTP {status} ({message}); check the connection's base URL "
                f"({self.base_url}) and Pixel ID"
            )
        param = error.get("param")
        if isinstance(param, str) and param and not param.startswith("events"):
            raise ConfigurationError(f"the Conversions API refused the request's {param}: {message}")
        culprits = _culprits(error, len(events))
        if len(events) == 1 and not culprits:
            culprits = {0: _nested_error(error, None)}
        if not culprits:
            return self._bisect(events, _nested_error(error, None), out)
        for index, (code, field_name, detail) in sorted(culprits.items()):
            reason = "too_old" if code in _TOO_OLD_CODES else (code or "rejected_by_api")
            out.not_sent(events[index], "rejected", reason, detail or message, field_name)
        rest = [e for i, e in enumerate(events) if i not in culprits]
        return [_Work(rest)] if rest else []

    def _retry_delay(self, attempt: int, response: _Response) -> float:
        if response.retry_after is not None:
            return response.retry_after
        return self.retry.backoff(attempt, self._rng)

    def _parse_retry_after(self, value: str | None) -> float | None:
        """Seconds to wait from a ``Retry-After`` header (delta seconds or HTTP date)."""
        if not value:
            return None
        try:
            seconds = float(value)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(value).timestamp() - self._clock()
            except (TypeError, ValueError, IndexError):
                return None
        if seconds != seconds:  # NaN
            return None
        return max(0.0, seconds)

    def _auth_message(self, status: int, message: str) -> str:
        if status == 401:
            return (
                f"the Conversions API refused the API key (HTTP 401: {message}). Use a Conversions API key "
                "(Ads Manager > Conversions, or POST /v1/conversions/api_keys), not an Advertiser (Ads API) key, "
                "and check that it has not been revoked."
            )
        return (
            f"the Conversions API refused Pixel ID {self.pixel_id!r} for this key (HTTP 403: {message}). "
            "Check the connection's pixel_id (the pixel_id value, not the data source id) and that the key "
            "belongs to the same ad account."
        )


def _released_once_sent(body: bytes) -> Iterator[bytes]:
    """The body as a one-chunk stream: httpx keeps each request in reference cycles until the
    garbage collector runs, and a request holding ``content=body`` would keep the megabyte with
    it; an exhausted generator holds nothing. (The explicit Content-Length keeps the request
    unchunked.)"""
    yield body


def check_base_url(base_url: str, *, allow_insecure_http: bool = False) -> str:
    """Normalize the API root; refuse plain http unless it is loopback or explicitly allowed."""
    url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError("the base URL must look like https://host[:port]")
    if parts.username or parts.password or parts.query:
        raise ConfigurationError("the base URL must not carry credentials or a query string")
    if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
        raise ConfigurationError(
            f"refusing plain http to {parts.hostname}: use https, or allow insecure http explicitly "
            "(only loopback addresses, such as the emulator's, are allowed by default)"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _error_object(content: bytes) -> dict[str, Any]:
    """The API's ``error`` object, tolerating a string ``error`` or a top-level ``message``."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(body, dict):
        return {}
    error = body.get("error", body)
    if isinstance(error, str):
        return {"message": error}
    return error if isinstance(error, dict) else {}


def _culprits(error: dict[str, Any], size: int) -> dict[int, tuple[str | None, str | None, str | None]]:
    """Event indexes the error names (``events[i]``), each with its code, field and message."""
    found: dict[int, tuple[str | None, str | None, str | None]] = {}
    entries = [error, *[e for e in error.get("errors") or () if isinstance(e, dict)]]
    for entry in entries:
        match = _EVENT_PARAM_RE.match(str(entry.get("param") or ""))
        if match and int(match.group(1)) < size:
            index = int(match.group(1))
            found[index] = _nested_error(error, index)
    return found


def _nested_error(error: dict[str, Any], index: int | None) -> tuple[str | None, str | None, str | None]:
    """The most specific (code, field, message) the error gives for event ``index``."""
    for entry in error.get("errors") or ():
        if not isinstance(entry, dict):
            continue
        match = _EVENT_PARAM_RE.match(str(entry.get("param") or ""))
        if match and (index is None or int(match.group(1)) == index):
            return entry.get("code") or error.get("code"), match.group(2), _safe_message(entry.get("message"))
    return error.get("code"), None, _safe_message(error.get("message"))


def _safe_message(message: object) -> str | None:
    """The API's message, shortened, with anything email-like blanked (it could echo input)."""
    if not isinstance(message, str) or not message:
        return None
    return _EMAIL_LIKE_RE.sub("[redacted]", message)[:_MAX_MESSAGE]


def _failure_reason(response: _Response) -> str:
    if response.status == 429:
        return "rate_limited"
    if response.status is not None:
        return f"http_{response.status}"
    return (
        "timeout" if response.transient and response.transient.startswith("timeout") else "connection_error"
    )
