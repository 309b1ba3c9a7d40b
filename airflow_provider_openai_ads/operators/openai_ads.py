"""Operators that send conversion events to the OpenAI Ads Conversions API.

:class:`BaseOpenAIAdsOperator` holds what every sender shares: the connection, mapping
options, delivery, progress logging, the rejected-rows file, the failure threshold and the
report returned as XCom. :class:`OpenAIAdsSendEventsOperator` sends events handed in directly
or through XCom; ``SqlToOpenAIAdsOperator`` (in ``transfers``) streams them from a query.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from airflow_provider_openai_ads.conversions.batching import PreparedEvent
from airflow_provider_openai_ads.conversions.client import ConfigurationError, RetryPolicy
from airflow_provider_openai_ads.conversions.mapping import (
    MappingOptions,
    RowMapper,
    is_api_shaped,
    prepare_api_events,
    rename_columns,
)
from airflow_provider_openai_ads.conversions.report import OUTCOMES, Rejection, Report
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook
from airflow_provider_openai_ads.operators.collector import collector_tuned_for_streaming

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

_DRY_RUN_PREVIEW = 3


class BaseOpenAIAdsOperator(BaseOperator):
    """Shared options of the OpenAI Ads senders.

    :param openai_ads_conn_id: connection holding the Conversions API key and Pixel ID.
    :param pixel_id: Pixel ID overriding the connection's. (templated)
    :param event_type: type of rows without an ``event_type`` value (an OpenAI type, an alias
        such as ``purchase``, or a custom event name).
    :param event_type_map: warehouse event names -> OpenAI types, on top of the built-in aliases.
    :param column_map: renames ``{"source_column": "row_contract_column"}``.
    :param default_action_source: ``action_source`` of rows without one (overrides the connection).
    :param default_currency: currency of amounts in rows without one.
    :param source_timezone: IANA zone of naive timestamps; without it they are rejected.
    :param consent_policy: rows with ``consent`` false are ``drop``-ped (skipped, counted) or sent
        with ``opt_out`` (``opt_out``).
    :param user_schema: ``lists`` or ``singular`` user fields (overrides the connection).
    :param validate_only: ask the API to validate without saving.
    :param dry_run: build and validate everything, send nothing, log a few redacted payloads.
    :param max_rejected_ratio: the task fails, after sending everything valid, when rejected
        rows / rows read exceeds this (default 0: any rejection fails the task).
    :param fail_on_failed: fail the task when events outlived the retry budget (a task retry
        resends them; the API deduplicates by event id).
    :param rejected_path: JSONL file receiving one line per rejected, failed or skipped row
        (event id, reason, field, message; never raw identifiers). (templated)
    :param max_in_flight: concurrent requests (overrides the connection).
    :param timeout: seconds per HTTP request (overrides the connection).
    :param delivery_retry: how transient API failures are retried within the task (a
        :class:`~airflow_provider_openai_ads.conversions.client.RetryPolicy`); Airflow task
        retries remain the outer layer.
    :param progress_interval: seconds between progress log lines.
    """

    template_fields: Sequence[str] = ("pixel_id", "rejected_path")
    ui_color = "#10a37f"

    def __init__(
        self,
        *,
        openai_ads_conn_id: str = OpenAIAdsHook.default_conn_name,
        pixel_id: str | None = None,
        event_type: str | None = None,
        event_type_map: Mapping[str, str] | None = None,
        column_map: Mapping[str, str] | None = None,
        default_action_source: str | None = None,
        default_currency: str | None = None,
        source_timezone: str | None = None,
        consent_policy: str = "drop",
        user_schema: str | None = None,
        validate_only: bool = False,
        dry_run: bool = False,
        max_rejected_ratio: float = 0.0,
        fail_on_failed: bool = True,
        rejected_path: str | None = None,
        max_in_flight: int | None = None,
        timeout: float | None = None,
        delivery_retry: RetryPolicy | None = None,
        progress_interval: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 <= max_rejected_ratio <= 1.0:
            raise ValueError("max_rejected_ratio must be between 0 and 1")
        self.openai_ads_conn_id = openai_ads_conn_id
        self.pixel_id = pixel_id
        self.event_type = event_type
        self.event_type_map = dict(event_type_map or {})
        self.column_map = dict(column_map or {})
        self.default_action_source = default_action_source
        self.default_currency = default_currency
        self.source_timezone = source_timezone
        self.consent_policy = consent_policy
        self.user_schema = user_schema
        self.validate_only = validate_only
        self.dry_run = dry_run
        self.max_rejected_ratio = max_rejected_ratio
        self.fail_on_failed = fail_on_failed
        self.rejected_path = rejected_path
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.delivery_retry = delivery_retry
        self.progress_interval = progress_interval

    @cached_property
    def hook(self) -> OpenAIAdsHook:
        return OpenAIAdsHook(
            self.openai_ads_conn_id,
            pixel_id=self.pixel_id or None,
            max_in_flight=self.max_in_flight,
            timeout=self.timeout,
            retry=self.delivery_retry,
        )

    def mapping_options(self) -> MappingOptions:
        """Operator arguments over connection defaults; a bad value fails the task at once."""
        defaults = self.hook.mapping_defaults()
        try:
            return MappingOptions(
                default_event_type=self.event_type,
                event_type_map=self.event_type_map,
                default_action_source=self.default_action_source or defaults.get("default_action_source"),
                default_currency=self.default_currency,
                source_timezone=self.source_timezone,
                consent_policy=self.consent_policy,
                user_schema=self.user_schema or defaults.get("user_schema") or "lists",
            )
        except ValueError as exc:
            raise AirflowFailException(f"invalid option: {exc}") from None

    # -- delivery ------------------------------------------------------------------------------

    def deliver(self, context: Context, events: Iterable[PreparedEvent], report: Report) -> dict[str, Any]:
        """Send (or dry-run) prepared events, then log, check thresholds and return the report."""
        report.validate_only, report.dry_run = self.validate_only, self.dry_run
        with self._rejected_sink(report), collector_tuned_for_streaming():
            try:
                if self.dry_run:
                    self._dry_run(events, report)
                else:
                    self.hook.send_events(
                        events, validate_only=self.validate_only, report=report, on_progress=self._progress()
                    )
            except ConfigurationError as exc:
                report.finish()
                self._log_report(report)
                raise AirflowFailException(
                    f"OpenAI Ads connection {self.openai_ads_conn_id!r}: {exc}"
                ) from None
        report.finish()
        self._log_report(report)
        result = report.to_dict()
        self._check_outcome(context, report, result)
        return result

    def _dry_run(self, events: Iterable[PreparedEvent], report: Report) -> None:
        for index, event in enumerate(events):
            if index < _DRY_RUN_PREVIEW:
                self.log.info(
                    "Dry run, payload %d (identifiers redacted): %s", index + 1, _redacted(event.payload)
                )
            report.count("skipped", "dry_run", 1, event.rows)

    @contextlib.contextmanager
    def _rejected_sink(self, report: Report) -> Iterator[None]:
        if not self.rejected_path:
            yield
            return
        path = Path(self.rejected_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as sink:

            def write(rejection: Rejection) -> None:
                sink.write(orjson.dumps(rejection.to_dict()) + b"\n")

            report.sink = write
            try:
                yield
            finally:
                report.sink = None
        self.log.info("Rejected, failed and skipped rows written to %s", path)

    def _progress(self):
        last = [time.monotonic()]

        def log_progress(report: Report) -> None:
            now = time.monotonic()
            if now - last[0] >= self.progress_interval:
                last[0] = now
                rate = report.events["sent"] / max(report.duration_s, 1e-9)
                self.log.info(
                    "Progress: %d rows read, %d events sent, %d rows rejected, %d failed; %.0f events/s",
                    report.rows_read,
                    report.events["sent"],
                    report.rows["rejected"],
                    report.events["failed"],
                    rate,
                )

        return log_progress

    def _log_report(self, report: Report) -> None:
        result = report.to_dict()
        lines = [
            f"OpenAI Ads delivery report{' (validate_only)' if self.validate_only else ''}"
            f"{' (dry run)' if self.dry_run else ''}",
            f"  {'outcome':<10} {'events':>10} {'rows':>10}",
        ]
        lines += [f"  {o:<10} {report.events[o]:>10} {report.rows[o]:>10}" for o in OUTCOMES]
        lines.append(f"  {'read':<10} {report.events_built:>10} {report.rows_read:>10}")
        lines.append(
            f"  {report.requests} requests, {report.retries} retries, {report.bytes_sent} bytes, "
            f"{result['duration_s']}s, {result['events_per_s']} events/s"
        )
        for outcome in ("rejected", "failed", "skipped"):
            for reason, rows in report.reasons[outcome].most_common(10):
                lines.append(f"  {outcome} {reason}: {rows} rows")
        if result["dropped_fields"]:
            lines.append(f"  fields dropped (event still sent): {result['dropped_fields']}")
        if result["match_key_coverage"]:
            lines.append(f"  match-key coverage: {result['match_key_coverage']}")
        self.log.info("\n".join(lines))

    def _check_outcome(self, context: Context, report: Report, result: dict[str, Any]) -> None:
        if report.rows_accounted != report.rows_read:
            raise AirflowException(
                f"accounting error: {report.rows_read} rows read but {report.rows_accounted} accounted for"
            )
        problems = []
        ratio = report.rejected_ratio()
        if report.rows["rejected"] and ratio > self.max_rejected_ratio:
            reasons = ", ".join(f"{r} ({n})" for r, n in report.reasons["rejected"].most_common(5))
            problems.append(
                f"{report.rows['rejected']} of {report.rows_read} rows rejected ({ratio:.2%} > max_rejected_ratio "
                f"{self.max_rejected_ratio:.2%}): {reasons}"
            )
            if report.reasons["rejected"].get("too_old"):
                problems.append(
                    "too_old: the Conversions API only accepts events from the last 7 days; older conversions "
                    "cannot be sent, not even by a backfill"
                )
            examples = [s for s in report.samples if s["outcome"] == "rejected"][:3]
            problems += [f"e.g. event {s['event_id']!r} {s['field'] or ''}: {s['message']}" for s in examples]
        if problems or (report.events["failed"] and self.fail_on_failed):
            context["ti"].xcom_push(key="openai_ads_report", value=result)
        if problems:
            raise AirflowFailException("; ".join(problems))
        if report.events["failed"] and self.fail_on_failed:
            reasons = ", ".join(f"{r} ({n})" for r, n in report.reasons["failed"].most_common(5))
            raise AirflowException(
                f"{report.events['failed']} events were not delivered after retries ({reasons}); a task retry "
                "resends them safely, since the API deduplicates by event id"
            )


class OpenAIAdsSendEventsOperator(BaseOpenAIAdsOperator):
    """Send a list of events handed in directly or through XCom.

    Each event is either a row-contract dict (``event_id``, ``event_type``, ``event_time``,
    ``email`` ...; normalized and hashed here) or an API-shaped dict (``id``, ``type``,
    ``timestamp_ms``, ``data`` ...; validated against the API schema). Returns the report.

    :param events: the events; a list of dicts, or its JSON text. (templated)
    """

    template_fields: Sequence[str] = (*BaseOpenAIAdsOperator.template_fields, "events")

    def __init__(self, *, events: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.events = events

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        super().render_template_fields(context, jinja_env)
        self.events = _RenderedEvents(self.events)

    def execute(self, context: Context) -> dict[str, Any]:
        events = self.events.value if isinstance(self.events, _RenderedEvents) else self.events
        if isinstance(events, str | bytes):
            events = orjson.loads(events)
        if isinstance(events, Mapping):
            events = [events]
        if not isinstance(events, list) or not all(isinstance(e, Mapping) for e in events):
            raise AirflowFailException("events must be a list of dicts (row-contract or API-shaped events)")
        options = self.mapping_options()
        report = Report()
        rows = [e for e in events if not is_api_shaped(e)]
        api_events = [e for e in events if is_api_shaped(e)]
        prepared: list[Iterable[PreparedEvent]] = []
        if rows:
            mapper = RowMapper(options, report)
            names = {
                k: n for k, n in zip(rows[0], rename_columns(list(rows[0]), self.column_map), strict=True)
            }
            prepared.append(mapper.map_rows(_renamed(rows, names, self.column_map)))
        if api_events:
            prepared.append(prepare_api_events(api_events, report, user_schema=options.user_schema))
        self.log.info("Sending %d row-contract and %d API-shaped events", len(rows), len(api_events))
        return self.deliver(context, (event for source in prepared for event in source), report)


class _RenderedEvents:
    """Rendered ``events``, shown only as a count: they may hold raw identifiers (design rule 7).

    Airflow stores and displays rendered template fields; anything that is not plain JSON is
    stored as ``str()``, which here never reveals a value.
    """

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __str__(self) -> str:
        size = len(self.value) if isinstance(self.value, list | tuple) else "some"
        return f"<{size} events; not shown, they may hold raw identifiers>"

    __repr__ = __str__


def _renamed(rows: list[Mapping[str, Any]], names: dict[str, str], column_map: Mapping[str, str]):
    for row in rows:
        if all(key in names for key in row):
            yield {names[key]: value for key, value in row.items()}
        else:  # rows of a hand-written list need not share their keys
            keys = list(row)
            yield dict(zip(rename_columns(keys, column_map), row.values(), strict=True))


def _redacted(payload: bytes) -> str:
    event = orjson.loads(payload)
    user = event.get("user")
    if user:
        event["user"] = {key: "<redacted>" for key in user}
    return orjson.dumps(event).decode()
