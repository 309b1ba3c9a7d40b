"""The delivery report: outcomes, counters, samples and the JSON-able summary."""

from __future__ import annotations

import json
from collections import Counter
from types import SimpleNamespace

import pytest

from airflow_provider_openai_ads.conversions import report as report_module
from airflow_provider_openai_ads.conversions.report import MAX_SAMPLES, OUTCOMES, Rejection, Report


@pytest.fixture
def clock(monkeypatch):
    """A controllable time.monotonic for the report module."""
    now = [100.0]
    monkeypatch.setattr(report_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_outcomes_and_limits():
    assert OUTCOMES == ("sent", "rejected", "failed", "skipped")
    assert MAX_SAMPLES == 20


# -- Rejection --------------------------------------------------------------------------


def test_rejection_defaults_and_to_dict():
    rejection = Rejection(
        "e1", "invalid_currency", "currency must be an upper-case ISO 4217 code", "data.currency"
    )
    assert rejection.rows == 1
    assert rejection.outcome == "rejected"
    assert rejection.to_dict() == {
        "event_id": "e1",
        "outcome": "rejected",
        "reason": "invalid_currency",
        "field": "data.currency",
        "message": "currency must be an upper-case ISO 4217 code",
        "rows": 1,
    }


def test_rejection_describe():
    assert (
        Rejection("e1", "missing_source_url", "source_url is required", "source_url").describe()
        == "event 'e1' field source_url: missing_source_url: source_url is required"
    )
    assert Rejection(None, "invalid_row", "no id").describe() == "event None: invalid_row: no id"


def test_rejection_is_frozen():
    rejection = Rejection("e1", "r", "m")
    with pytest.raises(AttributeError):
        rejection.reason = "other"


# -- Report -----------------------------------------------------------------------------


def test_new_report_is_empty():
    report = Report()
    assert report.rows_accounted == 0
    assert report.events_accounted == 0
    assert report.rejected_ratio() == 0.0
    assert report.reasons == {"rejected": Counter(), "failed": Counter(), "skipped": Counter()}
    assert report.finished_at is None
    assert isinstance(report.started_at, float)


def test_add_sent():
    report = Report()
    report.add_sent(3, 5)
    report.add_sent(2, 2)
    assert report.events["sent"] == 5
    assert report.rows["sent"] == 7
    assert report.samples == []


def test_add_outcome_counts_each_outcome():
    report = Report()
    report.add_outcome(Rejection("e1", "invalid_currency", "m", "data.currency", rows=3))
    report.add_outcome(Rejection("e2", "server_error", "m", outcome="failed"))
    report.add_outcome(Rejection("e3", "consent_withheld", "m", outcome="skipped", rows=2))
    report.add_outcome(
        Rejection(None, "invalid_row", "m", rows=1), events=0
    )  # a row that never became an event
    assert dict(report.events) == {"rejected": 1, "failed": 1, "skipped": 1}
    assert dict(report.rows) == {"rejected": 4, "failed": 1, "skipped": 2}
    assert report.reasons == {
        "rejected": Counter({"invalid_currency": 3, "invalid_row": 1}),
        "failed": Counter({"server_error": 1}),
        "skipped": Counter({"consent_withheld": 2}),
    }
    assert [s["event_id"] for s in report.samples] == ["e1", "e2", "e3", None]
    assert report.samples[0] == Rejection("e1", "invalid_currency", "m", "data.currency", rows=3).to_dict()


def test_every_row_and_event_is_accounted_once():
    report = Report(rows_read=10, events_built=7)
    report.add_sent(4, 6)
    report.add_outcome(Rejection("e5", "invalid_event_data_type", "m"))
    report.add_outcome(Rejection("e6", "timeout", "m", outcome="failed"))
    report.add_outcome(Rejection("e7", "dry_run", "m", outcome="skipped"))
    report.add_outcome(Rejection(None, "missing_event_id", "m"), events=0)
    assert report.rows_accounted == 10 == report.rows_read
    assert report.events_accounted == 7 == report.events_built
    assert report.rejected_ratio() == pytest.approx(0.2)


def test_samples_are_capped():
    report = Report()
    for i in range(MAX_SAMPLES + 5):
        report.add_outcome(Rejection(f"e{i}", "r", "m"))
    assert len(report.samples) == MAX_SAMPLES
    assert report.samples[-1]["event_id"] == f"e{MAX_SAMPLES - 1}"
    assert report.events["rejected"] == MAX_SAMPLES + 5


def test_sink_sees_every_rejection_even_beyond_the_sample_cap():
    seen = []
    report = Report(sink=seen.append)
    rejections = [Rejection(f"e{i}", "r", "m", outcome=OUTCOMES[1 + i % 3]) for i in range(MAX_SAMPLES + 3)]
    for rejection in rejections:
        report.add_outcome(rejection)
    report.add_sent(1, 1)
    assert seen == rejections


def test_sink_is_not_part_of_equality_or_repr():
    assert "sink" not in repr(Report(sink=print))


def test_merge_counts():
    total = Report(rows_read=9, events_built=9)
    total.add_sent(1, 1)
    total.add_outcome(Rejection("a", "invalid_currency", "m"))
    total.requests, total.retries, total.bytes_sent = 1, 0, 100

    batch = Report()
    batch.add_sent(5, 6)
    batch.add_outcome(Rejection("b", "invalid_currency", "m", rows=2))
    batch.add_outcome(Rejection("c", "server_error", "m", outcome="failed"))
    batch.requests, batch.retries, batch.bytes_sent = 3, 2, 4096

    total.merge_counts(batch)
    assert dict(total.events) == {"sent": 6, "rejected": 2, "failed": 1}
    assert dict(total.rows) == {"sent": 7, "rejected": 3, "failed": 1}
    assert total.reasons["rejected"] == Counter({"invalid_currency": 3})
    assert total.reasons["failed"] == Counter({"server_error": 1})
    assert [s["event_id"] for s in total.samples] == ["a", "b", "c"]
    assert (total.requests, total.retries, total.bytes_sent) == (4, 2, 4196)
    assert (total.rows_read, total.events_built) == (9, 9)
    # the merged-in report is unchanged
    assert dict(batch.events) == {"sent": 5, "rejected": 1, "failed": 1}


def test_merge_counts_keeps_the_sample_cap():
    total = Report()
    for i in range(MAX_SAMPLES - 2):
        total.add_outcome(Rejection(f"t{i}", "r", "m"))
    batch = Report()
    for i in range(5):
        batch.add_outcome(Rejection(f"b{i}", "r", "m"))
    total.merge_counts(batch)
    assert len(total.samples) == MAX_SAMPLES
    assert [s["event_id"] for s in total.samples[-2:]] == ["b0", "b1"]
    assert total.events["rejected"] == MAX_SAMPLES - 2 + 5
    total.merge_counts(batch)
    assert len(total.samples) == MAX_SAMPLES


def test_merge_does_not_call_the_sink():
    seen = []
    total = Report(sink=seen.append)
    batch = Report()
    batch.add_outcome(Rejection("b", "r", "m"))
    total.merge_counts(batch)
    assert seen == []


def test_duration_and_finish(clock):
    report = Report(started_at=100.0)
    clock[0] = 102.5
    assert report.duration_s == 2.5
    assert report.finish() is report
    assert report.finished_at == 102.5
    clock[0] = 500.0
    assert report.duration_s == 2.5


def test_to_dict(clock):
    report = Report(validate_only=True, rows_read=12, events_built=8, started_at=100.0)
    report.add_sent(5, 8)
    report.add_outcome(Rejection("e1", "invalid_currency", "m", "data.currency"))
    report.add_outcome(Rejection("e2", "invalid_currency", "m"))
    report.add_outcome(Rejection("e3", "missing_source_url", "m"))
    report.add_outcome(Rejection(None, "missing_event_id", "m"), events=0)
    report.add_outcome(Rejection("e4", "timeout", "m", outcome="failed"))
    report.dropped_fields.update({"phone:invalid": 2, "ip_address:invalid": 1})
    report.match_key_sets.update(
        {"emails_sha256,ip_address,oppref": 3, "emails_sha256,ip_address": 3, "ip_address": 2}
    )
    report.requests, report.retries, report.bytes_sent = 2, 1, 2048
    clock[0] = 102.0
    report.finish()
    assert report.to_dict() == {
        "validate_only": True,
        "dry_run": False,
        "rows_read": 12,
        "events_built": 8,
        "events": {"sent": 5, "rejected": 3, "failed": 1, "skipped": 0},
        "rows": {"sent": 8, "rejected": 4, "failed": 1, "skipped": 0},
        "rejected_by_reason": {"invalid_currency": 2, "missing_source_url": 1, "missing_event_id": 1},
        "failed_by_reason": {"timeout": 1},
        "skipped_by_reason": {},
        "dropped_fields": {"phone:invalid": 2, "ip_address:invalid": 1},
        "match_key_coverage": {"emails_sha256": 0.75, "ip_address": 1.0, "oppref": 0.375},
        "samples": report.samples,
        "requests": 2,
        "retries": 1,
        "bytes_sent": 2048,
        "duration_s": 2.0,
        "events_per_s": 2.5,
    }
    assert list(report.to_dict()["match_key_coverage"]) == ["emails_sha256", "ip_address", "oppref"]
    assert report.to_dict()["samples"] is not report.samples
    json.dumps(report.to_dict())
    assert report.rejected_ratio() == pytest.approx(4 / 12)


def test_to_dict_rounding_and_zero_duration(clock):
    report = Report(dry_run=True, started_at=100.0)
    report.match_key_sets["emails_sha256"] = 2  # events_built 0 counts as 1
    report.finish()
    data = report.to_dict()
    assert data["dry_run"] is True
    assert data["duration_s"] == 0.0
    assert data["events_per_s"] is None
    assert data["match_key_coverage"] == {"emails_sha256": 2.0}

    report = Report(events_built=3, started_at=100.0)
    report.match_key_sets["oppref"] = 1
    clock[0] = 103.0
    report.add_sent(10, 10)
    data = report.to_dict()
    assert data["match_key_coverage"] == {"oppref": 0.3333}
    assert data["events_per_s"] == 3.3
    assert data["duration_s"] == 3.0


def test_summary(clock):
    report = Report(rows_read=4, events_built=3, started_at=100.0)
    report.add_sent(2, 2)
    report.add_outcome(Rejection("e", "r", "m"))
    report.add_outcome(Rejection(None, "x", "m", outcome="skipped"), events=0)
    report.requests, report.retries = 1, 2
    clock[0] = 101.25
    assert report.summary() == (
        "4 rows read, 3 events built, 2 sent, 1 rejected, 0 failed, 0 skipped, 1 requests, 2 retries in 1.2s"
    )


def test_rejection_samples_carry_no_raw_identifier():
    report = Report()
    report.add_outcome(Rejection("e1", "string_pattern_mismatch", "String should match pattern", "user.x"))
    assert set(report.samples[0]) == {"event_id", "outcome", "reason", "field", "message", "rows"}


def test_match_key_sets_fold_into_coverage():
    report = Report(events_built=4)
    report.match_key_sets["emails_sha256,cities"] += 3
    report.match_key_sets["emails_sha256,oppref"] += 1
    report.match_key_sets["ip_address"] += 2
    report.match_key_sets[""] += 1  # an event without match keys
    assert report.coverage_counts() == {"emails_sha256": 4, "cities": 3, "oppref": 1, "ip_address": 2}
    assert report.to_dict()["match_key_coverage"] == {
        "cities": 0.75,
        "emails_sha256": 1.0,
        "ip_address": 0.5,
        "oppref": 0.25,
    }
