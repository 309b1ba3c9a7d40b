"""Suite 4, leaks: no raw identifier and never the API key in logs, exceptions, XCom, files or fields.

Every logger runs at DEBUG (the root logger and its handlers, httpx, httpcore, airflow.*, and
Airflow's structlog level) while SqlToOpenAIAdsOperator streams rows full of canary identifiers
through a faulty emulator: transient failures (retry log lines), rows rejected before sending,
an event refused by the API, a dropped field, withheld consent, conflicting duplicates. Then a
failing run, a dry run, refused credentials and a refused base URL. Everything the runs
produced is searched for the canaries. TLS verification stays on for https base URLs.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow._shared.logging import structlog as airflow_structlog
from airflow.sdk.exceptions import AirflowException

from airflow_provider_openai_ads.conversions.client import ConfigurationError, RetryPolicy
from airflow_provider_openai_ads.emulator import EmulatorServer
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook

from .conftest import OPENAI_ADS_CONN_ID
from .helpers import FakeTI, SqlOperator, accepted_ids, assert_report_adds_up, build_table

pytestmark = pytest.mark.timeout(120)

API_KEY = "sk-conv-KEYCANARY-4f9a2b7c1d8e"
FIRST_NAME, LAST_NAME = "Quillonious", "Vandermeerschaft"
N_GOOD = 20
COLUMNS = (
    "event_id",
    "event_time",
    "email",
    "phone",
    "external_id",
    "first_name",
    "last_name",
    "city",
    "country",
    "ip_address",
    "user_agent",
    "value",
    "currency",
    "consent",
    "item_id",
    "item_quantity",
)
QUERY = f"SELECT {', '.join(COLUMNS)} FROM {{{{ params.table }}}}"
FAST_RETRY = RetryPolicy(max_attempts=10, initial_backoff_s=0.01, max_backoff_s=0.02, budget_s=30.0)


def email(i: int) -> str:
    return f"Zed.Canaryman{i}@Leak-Example.com"


def phone(i: int) -> tuple[str, str]:
    """Raw and normalized forms."""
    return f"+1 (415) 555-{1000 + i}", f"1415555{1000 + i}"


def external_id(i: int) -> str:
    return f"CUST-PIICANARY-{i:04d}"


def row(i: int, event_id: str, **overrides: Any) -> tuple[Any, ...]:
    values = {
        "event_id": event_id,
        "event_time": time.time() - 600,
        "email": email(i),
        "phone": phone(i)[0],
        "external_id": external_id(i),
        "first_name": FIRST_NAME,
        "last_name": LAST_NAME,
        "city": "Berlin",
        "country": "DE",
        "ip_address": "203.0.113.7",
        "user_agent": "Mozilla/5.0",
        "value": "19.99",
        "currency": "EUR",
        "consent": 1,
        "item_id": "sku-1",
        "item_quantity": 1,
        **overrides,
    }
    return tuple(values[c] for c in COLUMNS)


def rows() -> list[tuple[Any, ...]]:
    good = [row(i, f"order-{i}") for i in range(N_GOOD)]
    odd = [
        row(100, "order-bad-currency", currency="XQZ"),  # rejected before sending
        row(101, "poison-order-101"),  # refused by the API (by index)
        row(102, "order-bad-email", email="Zed.Canaryman102 at leak-example.com"),  # email dropped, sent
        row(103, "order-no-consent", consent=0),  # skipped
        row(104, "order-naive-time", event_time="2026-01-01 10:00:00"),  # rejected: no time zone
        row(105, "order-dup", item_id="sku-1"),  # two rows of one event that disagree on the email:
        row(106, "order-dup", item_id="sku-2"),  # rejected as conflicting_duplicate
        row(107, "order-bad-phone", phone="+1 Canaryman-107"),  # phone dropped, sent
    ]
    return good[:10] + odd + good[10:]


def needles() -> list[str]:
    """Every raw or normalized identifier of the input, and the key; compared case-insensitively."""
    found = [API_KEY, FIRST_NAME, LAST_NAME, "canaryman", "leak-example.com", "piicanary"]
    for i in [*range(N_GOOD), *range(100, 108)]:
        found += [email(i), *phone(i), external_id(i)]
    return found


def assert_clean(where: str, text: str) -> None:
    folded = text.lower()
    leaked = sorted({n for n in needles() if n.lower() in folded})
    assert not leaked, f"{where} leaks {leaked}"


@pytest.fixture
def everything_at_debug(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """DEBUG for every stdlib logger and handler, and for Airflow's structlog loggers."""
    monkeypatch.setitem(airflow_structlog.PER_LOGGER_LEVELS, "", logging.DEBUG)
    root = logging.getLogger()
    names = ["", "httpx", "httpcore", "airflow", "airflow.task", "airflow_provider_openai_ads"]
    names += [n for n in logging.root.manager.loggerDict if n.startswith(("airflow", "httpx", "httpcore"))]
    loggers = [logging.getLogger(n) for n in dict.fromkeys(names)]
    levels = [(lg, lg.level) for lg in loggers]
    handlers = [(h, h.level) for h in root.handlers]
    caplog.set_level(logging.DEBUG)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for handler, _ in handlers:
        handler.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        for lg, level in levels:
            lg.setLevel(level)
        for handler, level in handlers:
            handler.setLevel(level)


def operator(tmp_path: Path, name: str, **kwargs: Any) -> SqlOperator:
    kwargs.setdefault("max_rejected_ratio", 0.5)
    return SqlOperator(
        task_id=f"send_{name}",
        sql=QUERY,
        params={"table": "events"},
        event_type="purchase",
        default_action_source="other",
        rejected_path=str(tmp_path / f"rejected-{name}.jsonl"),
        progress_interval=0.0,
        hook_options={"retry": FAST_RETRY},
        **kwargs,
    )


def run(op: SqlOperator) -> tuple[dict[str, Any] | None, FakeTI, BaseException | None]:
    ti = FakeTI()
    op.render_template_fields({"params": op.params, "ti": ti})
    try:
        return op.execute({"ti": ti}), ti, None
    except Exception as exc:
        return None, ti, exc


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + str(getattr(exc, "report", ""))


def test_nothing_identifying_reaches_logs_errors_xcom_files_or_fields(
    tmp_path: Path,
    emulator: EmulatorServer,
    define_conns,
    everything_at_debug: None,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    build_table(str(tmp_path / "wh.db"), COLUMNS, rows())
    emulator.configure(
        api_keys=(API_KEY,), rate_500=0.2, rate_drop=0.1, rate_429=0.1, retry_after="0", seed=3
    )
    define_conns(str(tmp_path / "wh.db"), emulator, password=API_KEY)
    artifacts: dict[str, str] = {}

    # 1. a run that succeeds with rejections, retries, dropped fields and a skipped row
    op = operator(tmp_path, "ok", max_in_flight=1)
    report, ti, exc = run(op)
    assert exc is None, exception_text(exc)
    assert_report_adds_up(report)
    assert report["rejected_by_reason"] == {
        "invalid_currency": 1,
        "naive_event_time": 1,
        "conflicting_duplicate": 2,
        "invalid_event_rejected_by_server": 1,
    }
    assert report["skipped_by_reason"] == {"consent_withheld": 1}
    assert report["dropped_fields"] == {"email:invalid": 1, "phone:invalid": 1}
    assert report["retries"] >= 1
    assert len(accepted_ids(emulator)) == N_GOOD + 2
    artifacts["report"] = json.dumps(report)
    artifacts["xcom ok"] = json.dumps(ti.pushed)
    artifacts["rejected file ok"] = (tmp_path / "rejected-ok.jsonl").read_text()
    artifacts["rendered fields ok"] = json.dumps({f: str(getattr(op, f)) for f in op.template_fields})
    artifacts["hook and client reprs"] = repr(op.hook) + repr(op.hook.get_conn()) + repr(op)

    # 2. the same rows failing the task (max_rejected_ratio 0): exception, XCom report
    op = operator(tmp_path, "fail", max_rejected_ratio=0.0)
    _, ti, exc = run(op)
    assert isinstance(exc, AirflowException), exc
    artifacts["exception fail"] = exception_text(exc)
    artifacts["xcom fail"] = json.dumps(ti.pushed)
    artifacts["rejected file fail"] = (tmp_path / "rejected-fail.jsonl").read_text()

    # 3. a dry run logs a few payloads (identifiers redacted)
    report, ti, exc = run(operator(tmp_path, "dry", dry_run=True))
    assert exc is None
    assert report["skipped_by_reason"]["dry_run"] == N_GOOD + 3
    artifacts["xcom dry"] = json.dumps(report)

    # 4. refused credentials: the key is not the emulator's
    emulator.configure(api_keys=("another-key",), rate_500=0.0, rate_drop=0.0, rate_429=0.0)
    _, ti, exc = run(operator(tmp_path, "auth"))
    assert exc is not None
    assert "401" in str(exc)
    artifacts["exception auth"] = exception_text(exc)
    artifacts["xcom auth"] = json.dumps(ti.pushed)

    # 5. a refused base URL and a key with a character HTTP headers cannot carry
    define_conns(
        str(tmp_path / "wh.db"),
        host="http://conversions.example.net",
        password=API_KEY,
        extra={"pixel_id": emulator.pixel_id},
    )
    _, _, exc = run(operator(tmp_path, "http"))
    assert exc is not None
    assert "plain http" in str(exc)
    artifacts["exception http"] = exception_text(exc)
    define_conns(str(tmp_path / "wh.db"), emulator, password=API_KEY + "\u00e9")
    _, _, exc = run(operator(tmp_path, "badkey"))
    assert exc is not None
    assert "printable ASCII" in str(exc)
    artifacts["exception bad key"] = exception_text(exc)

    out, err = capfd.readouterr()
    artifacts["stdout"], artifacts["stderr"] = out, err
    artifacts["caplog"] = caplog.text + "".join(str(r.args) for r in caplog.records)
    # the capture really saw the runs, at DEBUG
    assert "OpenAI Ads delivery report" in out + err
    assert any(r.levelno == logging.DEBUG and r.name.startswith("httpcore") for r in caplog.records)
    assert "HTTP Request: POST" in caplog.text
    assert "Conversions API: HTTP 500" in caplog.text or "connection error" in caplog.text

    for where, text in artifacts.items():
        assert_clean(where, text)
    print(
        f"\nLEAKS: {len(artifacts)} artifacts clean ({sum(map(len, artifacts.values()))} characters, "
        f"{len(caplog.records)} log records at DEBUG); {len(needles())} needles"
    )


def test_an_identifier_in_the_wrong_column_is_not_echoed(
    tmp_path: Path, emulator: EmulatorServer, define_conns
) -> None:
    build_table(
        str(tmp_path / "wh.db"), ("event_id", "event_time", "event_type"), [("o-1", time.time(), email(1))]
    )
    define_conns(str(tmp_path / "wh.db"), emulator)
    op = SqlOperator(
        sql="SELECT * FROM events", default_action_source="other", rejected_path=str(tmp_path / "r.jsonl")
    )
    ti = FakeTI()
    with pytest.raises(AirflowException) as raised:
        op.execute({"ti": ti})
    assert_clean("exception", str(raised.value))
    assert_clean("xcom", json.dumps(ti.pushed))
    assert_clean("rejected file", (tmp_path / "r.jsonl").read_text())


def _hook(define_conns, tmp_path: Path, host: str | None, **extra: Any) -> OpenAIAdsHook:
    fields: dict[str, Any] = {"password": API_KEY, "extra": {"pixel_id": "px-1", **extra}}
    if host is not None:
        fields["host"] = host
    define_conns(str(tmp_path / "unused.db"), **fields)
    return OpenAIAdsHook(OPENAI_ADS_CONN_ID)


@pytest.mark.parametrize("host", [None, "https://bzr.openai.com", "api.example.com:8443"])
def test_tls_verification_stays_on(define_conns, tmp_path: Path, host: str | None) -> None:
    # an unknown "verify" extra is ignored, not passed to httpx
    hook = _hook(define_conns, tmp_path, host, verify=False)
    client = hook.get_conn()
    try:
        assert client.base_url.startswith("https://")
        context = client._http._transport._pool._ssl_context
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.check_hostname is True
    finally:
        hook.close()


def test_tls_verification_cannot_be_switched_off_through_the_hook(define_conns, tmp_path: Path) -> None:
    define_conns(str(tmp_path / "unused.db"), password=API_KEY, extra={"pixel_id": "px-1"})
    with pytest.raises(TypeError) as raised:
        OpenAIAdsHook(OPENAI_ADS_CONN_ID, verify=False).get_conn()
    assert API_KEY not in str(raised.value)


@pytest.mark.parametrize(
    ("host", "extra", "allowed"),
    [
        ("http://api.example.com", {}, False),
        ("http://localhost.example.com:8080", {}, False),
        ("http://127.0.0.1.nip.io", {}, False),
        ("http://10.0.0.5:8080", {}, False),
        ("http://api.example.com", {"allow_insecure_http": True}, True),
        ("http://127.0.0.1:8750", {}, True),
        ("http://localhost:8750", {}, True),
        ("http://[::1]:8750", {}, True),
        ("ftp://api.example.com", {"allow_insecure_http": True}, False),
    ],
)
def test_plain_http_only_to_loopback_or_when_allowed(
    define_conns, tmp_path: Path, host: str, extra: dict[str, Any], allowed: bool
) -> None:
    hook = _hook(define_conns, tmp_path, host, **extra)
    try:
        if allowed:
            assert hook.get_conn().base_url == host.rstrip("/")
        else:
            with pytest.raises(ConfigurationError) as raised:
                hook.get_conn()
            assert API_KEY not in str(raised.value)
    finally:
        hook.close()
