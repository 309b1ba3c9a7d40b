"""Fixtures for the operator tests: the emulator, sample warehouses, expected events, real Airflow runs.

Airflow reads its configuration when first imported, so the environment is set at the top of
this module. Real Airflow runs (``dag.test``) happen in a child process with an environment
of their own (a migrated metadata DB in a temporary ``AIRFLOW_HOME``, the example DAGs as the
DAGs folder), so they do not depend on what the pytest process imported first.

Expected events are computed here from the sample warehouse's generator and the API's
documented rules (normalization, SHA-256, ISO 4217 minor units), independently of the
provider's own mapping code.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import string
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO_ROOT / "example_dags"
if str(REPO_ROOT) not in sys.path:  # the sample warehouse lives in the repository's ``demo`` package
    sys.path.insert(0, str(REPO_ROOT))

if "airflow" not in sys.modules:
    _HOME = tempfile.mkdtemp(prefix="openai-ads-operators-home-")
    atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _HOME
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

from airflow_provider_openai_ads.emulator.server import EmulatorServer  # noqa: E402
from demo.warehouse import BAD_ROW_KINDS, create_sqlite_warehouse, generate_orders  # noqa: E402

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
EMULATOR_KEY = "emulator-key"
EMULATOR_PIXEL = "emulator-pixel"
#: ISO 4217 exponents of the currencies in the sample warehouse
MINOR_EXPONENT = {"USD": 2, "JPY": 0, "EUR": 2}
REPORT_ROW_KEYS = {"event_id", "outcome", "reason", "field", "message", "rows"}


# -- independent expectations: the API's documented rules ----------------------------------------


def sha256_hex(normalized: str) -> str:
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()


def normalize_email(raw: str) -> str:
    return raw.strip().lower()


def normalize_phone(raw: str) -> str:
    """Remove whitespace, parentheses, periods, hyphens, then a leading ``+`` and leading zeros."""
    return re.sub(r"[\s().\-]", "", raw).removeprefix("+").lstrip("0")


def normalize_name(raw: str) -> str:
    """Lowercase; remove whitespace and ASCII punctuation; keep non-ASCII letters."""
    return "".join(ch for ch in raw.lower() if not ch.isspace() and ch not in string.punctuation)


def minor_units(amount: Decimal | str, currency: str) -> int:
    scaled = Decimal(amount) * 10 ** MINOR_EXPONENT[currency]
    assert scaled == scaled.to_integral_value(), f"{amount} {currency} is not a whole number of minor units"
    return int(scaled)


def epoch_ms(when: dt.datetime) -> int:
    return (when - EPOCH) // dt.timedelta(milliseconds=1)


@dataclass(frozen=True)
class Expected:
    """What must become of one event id (one order and its line-item rows)."""

    event_id: str
    rows: int
    outcome: str  # sent | rejected | skipped
    reason: str | None = None
    event: dict[str, Any] | None = None
    #: raw identifiers that must never show up in logs, exceptions, XCom or files
    raw_identifiers: tuple[str, ...] = ()


def order_expectations(
    n_orders: int,
    start: dt.datetime,
    end: dt.datetime,
    *,
    window: tuple[dt.datetime, dt.datetime] | None = None,
    **generator_kwargs: Any,
) -> dict[str, Expected]:
    """Expected outcome of every order of ``demo.warehouse.generate_orders`` (optionally in ``window``)."""
    expected = {}
    for order in generate_orders(n_orders, start, end, **generator_kwargs):
        (order_id, created, email, phone, customer_id, first_name, last_name, city, region, postal_code,
         country, ip_address, user_agent, oppref, page_url, total, currency, consent) = order.values  # fmt: skip
        if window is not None and not window[0] <= created < window[1]:
            continue
        rows = len(order.items)
        raw = (email, normalize_email(email), phone, customer_id)
        kind = next((k for k in BAD_ROW_KINDS if order_id.startswith(f"{k}-")), None)
        if kind is not None:
            expected[order_id] = Expected(
                order_id, rows, "rejected", BAD_ROW_KINDS[kind], raw_identifiers=raw
            )
            continue
        if not consent:
            expected[order_id] = Expected(order_id, rows, "skipped", "consent_withheld", raw_identifiers=raw)
            continue
        event: dict[str, Any] = {
            "id": order_id,
            "type": "order_created",
            "timestamp_ms": epoch_ms(created),
            "action_source": "web",
            "source_url": page_url,
            "user": {
                "emails_sha256": [sha256_hex(normalize_email(email))],
                "phone_numbers_sha256": [sha256_hex(normalize_phone(phone))],
                "external_ids_sha256": [sha256_hex(customer_id.strip())],
                "first_names_sha256": [sha256_hex(normalize_name(first_name))],
                "last_names_sha256": [sha256_hex(normalize_name(last_name))],
                "cities": [city],
                "regions": [region],
                "postal_codes": [postal_code],
                "countries": [country],
                "ip_address": ip_address,
                "user_agent": user_agent,
            },
            "data": {
                "type": "contents",
                "amount": minor_units(total, currency),
                "currency": currency,
                # one contents item per line-item row, in line order
                "contents": [
                    {
                        "id": sku,
                        "name": name,
                        "quantity": quantity,
                        "amount": minor_units(unit_price, currency),
                    }
                    for _, _, sku, name, quantity, unit_price in order.items
                ],
            },
        }
        if oppref:
            event["oppref"] = oppref
        expected[order_id] = Expected(order_id, rows, "sent", event=event, raw_identifiers=raw)
    return expected


@dataclass
class Expectation:
    """Expected outcomes of a set of event ids, and the checks against a report and the emulator."""

    items: dict[str, Expected]

    def ids(self, outcome: str) -> set[str]:
        return {i for i, e in self.items.items() if e.outcome == outcome}

    def rows(self, outcome: str | None = None) -> int:
        return sum(e.rows for e in self.items.values() if outcome is None or e.outcome == outcome)

    def reasons(self, outcome: str) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for e in self.items.values():
            if e.outcome == outcome:
                counts[e.reason] += e.rows
        return dict(counts)

    @property
    def raw_identifiers(self) -> set[str]:
        return {raw for e in self.items.values() for raw in e.raw_identifiers}

    def check_report(self, report: Mapping[str, Any], *, sent: str = "sent") -> None:
        """Counts add up and match, row by row and reason by reason."""
        assert report["rows_read"] == self.rows()
        assert sum(report["rows"].values()) == report["rows_read"]
        assert report["rows"] == {
            "sent": self.rows("sent"),
            "rejected": self.rows("rejected"),
            "failed": 0,
            "skipped": self.rows("skipped"),
        }
        assert report["events"]["sent"] == len(self.ids("sent"))
        assert report["events"]["failed"] == 0
        assert report["events_built"] == len(self.ids("sent"))
        assert report["rejected_by_reason"] == self.reasons("rejected")
        assert report["skipped_by_reason"] == self.reasons("skipped")
        assert report["failed_by_reason"] == {}
        rejected_samples = {
            s["event_id"]: s["reason"] for s in report["samples"] if s["outcome"] == "rejected"
        }
        expected_rejected = {i: self.items[i].reason for i in self.ids("rejected")}
        assert rejected_samples == expected_rejected  # few enough to all be sampled

    def check_received(self, received: Iterable[Mapping[str, Any]]) -> None:
        """The API got exactly the expected events, each exactly once and equal field by field."""
        by_id: dict[str, Mapping[str, Any]] = {}
        for event in received:
            assert event["id"] not in by_id, f"event {event['id']} received twice"
            by_id[event["id"]] = event
        assert not set(by_id) & (self.ids("rejected") | self.ids("skipped")), (
            "a rejected or skipped row was sent"
        )
        assert set(by_id) == self.ids("sent")
        for event_id, event in by_id.items():
            assert event == self.items[event_id].event, event_id

    def check_jsonl(self, path: Path) -> list[dict[str, Any]]:
        """The rejected-rows file lists every rejected and skipped event id, with its reason and rows."""
        text = path.read_text()
        assert_no_raw_identifiers(text, self.raw_identifiers)
        lines = [json.loads(line) for line in text.splitlines()]
        for line in lines:
            assert set(line) == REPORT_ROW_KEYS
        got = {(line["event_id"], line["outcome"], line["reason"], line["rows"]) for line in lines}
        want = {(e.event_id, e.outcome, e.reason, e.rows) for e in self.items.values() if e.outcome != "sent"}
        assert got == want
        assert len(lines) == len(want)
        return lines


def assert_no_raw_identifiers(text: str, raw_identifiers: Iterable[str]) -> None:
    leaked = sorted(raw for raw in raw_identifiers if raw and raw in text)
    assert not leaked, f"raw identifiers leaked: {leaked[:5]}"


# -- task context without a metadata DB ------------------------------------------------------------


class FakeTaskInstance:
    """Records XCom pushes (the operators push the report under ``openai_ads_report`` on failure)."""

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value


class _Variables:
    """``var.value`` of a hand-built context."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)


def task_context(
    *,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    ti: FakeTaskInstance | None = None,
    run_id: str = "manual__test",
    dag: Any = None,
    variables: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A context like the task runner's: the interval keys exist only when the run has a logical date."""
    context: dict[str, Any] = {
        "ti": ti or FakeTaskInstance(),
        "run_id": run_id,
        "var": {"value": _Variables(variables or {})},
    }
    if dag is not None:
        context["dag"] = dag
    if end is not None:
        context.update(
            logical_date=end,
            data_interval_start=start,
            data_interval_end=end,
            ds=end.strftime("%Y-%m-%d"),
            ts=end.isoformat(),
        )
    return context


# -- fixtures ------------------------------------------------------------------------------------------


def openai_ads_connection(url: str, *, password: str = EMULATOR_KEY, **extra: Any) -> str:
    return json.dumps(
        {
            "conn_type": "openai_ads",
            "host": url,
            "password": password,
            "extra": {"pixel_id": EMULATOR_PIXEL, **extra},
        }
    )


@pytest.fixture
def ads_emulator(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """The project's emulator (``tests/conftest.py``), reset, with ``openai_ads_default`` pointing at it."""
    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_ADS_DEFAULT", openai_ads_connection(emulator.url))
    return emulator


def sqlite_connection(path: Path) -> str:
    return json.dumps({"conn_type": "sqlite", "host": str(path)})


@dataclass(frozen=True)
class Warehouse:
    path: Path
    n_orders: int
    start: dt.datetime
    end: dt.datetime
    generator_kwargs: dict[str, Any] = field(default_factory=dict)

    def expectation(self, window: tuple[dt.datetime, dt.datetime] | None = None) -> Expectation:
        return Expectation(
            order_expectations(self.n_orders, self.start, self.end, window=window, **self.generator_kwargs)
        )


def build_sqlite_warehouse(
    path: Path, n_orders: int, start: dt.datetime, end: dt.datetime, **generator_kwargs: Any
) -> Warehouse:
    create_sqlite_warehouse(str(path), n_orders, start, end, **generator_kwargs)
    return Warehouse(path, n_orders, start, end, generator_kwargs)


def recent_window(hours: int = 24) -> tuple[dt.datetime, dt.datetime]:
    """A window that ended an hour ago, whole minutes: well inside the API's 7 days."""
    end = dt.datetime.now(UTC).replace(second=0, microsecond=0) - dt.timedelta(hours=1)
    return end - dt.timedelta(hours=hours), end


#: 1,010 orders: every bad-row kind once (orders 1000-1004), 2% without consent
STANDARD_ORDERS = 1010


@pytest.fixture(scope="session")
def standard_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """A read-only SQLite warehouse shared by the direct-execute tests."""
    start, end = recent_window()
    return build_sqlite_warehouse(tmp_path_factory.mktemp("wh") / "orders.db", STANDARD_ORDERS, start, end)


@pytest.fixture
def orders_warehouse(standard_warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """``standard_warehouse`` as the ``warehouse`` connection."""
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", sqlite_connection(standard_warehouse.path))
    return standard_warehouse


@pytest.fixture
def make_sqlite_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Warehouse]:
    """Build a fresh SQLite warehouse and define it as connection ``conn_id`` (default ``warehouse``)."""

    def make(
        n_orders: int, start: dt.datetime, end: dt.datetime, *, conn_id: str = "warehouse", **kwargs: Any
    ) -> Warehouse:
        warehouse = build_sqlite_warehouse(tmp_path / f"{conn_id}.db", n_orders, start, end, **kwargs)
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", sqlite_connection(warehouse.path))
        return warehouse

    return make


# -- real Airflow runs ---------------------------------------------------------------------------------

#: Runs in the child process: loads the DAGs folder, runs ``dag.test`` per request and prints, per
#: run, the DagRun's state and interval, each task's state, every XCom and the rendered fields,
#: read back from the metadata DB. Retries are switched off so a failure fails now, not after
#: the examples' retry delays.
_DRIVER = r"""
import datetime as dt
import json
import sys

from airflow import settings
from airflow.dag_processing.dagbag import DagBag
from airflow.models.renderedtifields import RenderedTaskInstanceFields
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

bag = DagBag(dag_folder=settings.DAGS_FOLDER)
results = []
for request in json.loads(sys.argv[1]):
    dag = bag.get_dag(request["dag_id"])
    if dag is None:
        raise SystemExit(f"DAG {request['dag_id']} not found; import errors: {bag.import_errors}")
    for task in dag.tasks:
        task.retries = 0
    logical_date = request["logical_date"]
    dagrun = dag.test(logical_date=dt.datetime.fromisoformat(logical_date) if logical_date else None)
    with create_session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances(session=session)}
        xcoms = {}
        for xcom in session.scalars(XComModel.get_many(run_id=dagrun.run_id, dag_ids=dag.dag_id)):
            xcoms.setdefault(xcom.task_id, {})[xcom.key] = XComModel.deserialize_value(xcom)
        rendered = {
            r.task_id: r.rendered_fields
            for r in session.scalars(
                select(RenderedTaskInstanceFields).where(
                    RenderedTaskInstanceFields.dag_id == dag.dag_id,
                    RenderedTaskInstanceFields.run_id == dagrun.run_id,
                )
            )
        }
    interval = None
    if dagrun.data_interval_start is not None:
        interval = [dagrun.data_interval_start.isoformat(), dagrun.data_interval_end.isoformat()]
    results.append(
        {
            "dag_id": dag.dag_id,
            "state": str(dagrun.state),
            "run_id": dagrun.run_id,
            "data_interval": interval,
            "tasks": tasks,
            "xcoms": xcoms,
            "rendered": rendered,
        }
    )
print("DAG_TEST_RESULTS " + json.dumps(results, default=str))
"""
_RESULTS_PREFIX = "DAG_TEST_RESULTS "


@dataclass(frozen=True)
class DagRunResult:
    dag_id: str
    state: str
    run_id: str
    data_interval: tuple[dt.datetime, dt.datetime] | None
    tasks: dict[str, str]
    xcoms: dict[str, dict[str, Any]]
    rendered: dict[str, dict[str, Any]]

    def report(self, task_id: str) -> dict[str, Any]:
        return self.xcoms[task_id]["return_value"]


@dataclass(frozen=True)
class AirflowRunner:
    """``dag.test`` in a child process against a migrated metadata DB (``AIRFLOW_HOME`` below ``home``)."""

    home: Path
    env: dict[str, str]

    def dags_test(
        self,
        runs: list[tuple[str, dt.datetime | None]],
        *,
        env: Mapping[str, str],
        dags_folder: Path = EXAMPLE_DAGS,
        timeout: float = 240,
    ) -> tuple[list[DagRunResult], str]:
        """Run each ``(dag_id, logical_date)`` in order in one process; the results and the logs it printed."""
        request = json.dumps(
            [{"dag_id": d, "logical_date": ld.isoformat() if ld else None} for d, ld in runs]
        )
        process = subprocess.run(
            [sys.executable, "-c", _DRIVER, request],
            env={**self.env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder), **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        lines = [line for line in process.stdout.splitlines() if line.startswith(_RESULTS_PREFIX)]
        output = "".join(
            line for line in process.stdout.splitlines(keepends=True) if not line.startswith(_RESULTS_PREFIX)
        )
        output += process.stderr
        assert process.returncode == 0, f"dag.test failed (exit {process.returncode}):\n{output[-6000:]}"
        assert lines, f"dag.test printed no results:\n{output[-6000:]}"
        results = []
        for raw in json.loads(lines[-1][len(_RESULTS_PREFIX) :]):
            interval = raw.pop("data_interval")
            if interval is not None:
                interval = tuple(dt.datetime.fromisoformat(v) for v in interval)
            results.append(DagRunResult(data_interval=interval, **raw))
        return results, output


def airflow_environment(home: Path) -> dict[str, str]:
    """This process's environment without any Airflow settings, plus a private ``AIRFLOW_HOME``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
    )
    return env


@pytest.fixture(scope="session")
def airflow_runner(tmp_path_factory: pytest.TempPathFactory) -> AirflowRunner:
    """A metadata DB migrated once per session (``airflow db migrate``, SQLite)."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_environment(home)
    process = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env={**env, "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert process.returncode == 0, f"airflow db migrate failed:\n{(process.stdout + process.stderr)[-4000:]}"
    assert (home / "airflow.db").exists()
    return AirflowRunner(home, env)


def last_aligned(now: dt.datetime, *, minute: int, hour: int | None = None) -> dt.datetime:
    """The latest ``hour:minute`` (or ``*:minute`` when ``hour`` is None) at or before ``now``."""
    if hour is None:
        aligned = now.replace(minute=minute, second=0, microsecond=0)
        return aligned if aligned <= now else aligned - dt.timedelta(hours=1)
    aligned = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return aligned if aligned <= now else aligned - dt.timedelta(days=1)
