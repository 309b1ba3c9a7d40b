"""Suite 2, kill and retry: real Airflow runs (``airflow dags test`` in a subprocess) against the emulator.

* The task's process is SIGKILLed mid-stream, after some batches were accepted (the emulator
  answers slowly, so the test sees batches land one by one); running the DAG again for the same
  logical date resends everything: the emulator then holds every event exactly once.
* A first try that could not deliver every batch fails with a retryable error; Airflow's own
  task retry (try 2) resends all the events, the already delivered ones as duplicates.

Airflow's metadata database is migrated once for the module in a temporary AIRFLOW_HOME.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_openai_ads.emulator import EmulatorServer

from .conftest import OPENAI_ADS_CONN_ID, WAREHOUSE_CONN_ID
from .helpers import accepted_ids, build_table

pytestmark = [pytest.mark.airflow_db, pytest.mark.slow, pytest.mark.timeout(300)]

DAGS_FOLDER = Path(__file__).resolve().parent.parent / "dags_reliability"
KILL_DAG = "openai_ads_reliability_kill_and_retry"
RETRY_DAG = "openai_ads_reliability_task_retry"
TASK_ID = "send_conversions"
N_EVENTS = 20_000
BATCH = 1_000
RUN_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("airflow-home")
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=_airflow_env(home),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return home


def _airflow_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "RELIABILITY_"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        **extra,
    )
    return env


def _connections(db: Path, emulator: EmulatorServer) -> dict[str, str]:
    return {
        f"AIRFLOW_CONN_{WAREHOUSE_CONN_ID.upper()}": json.dumps({"conn_type": "sqlite", "host": str(db)}),
        f"AIRFLOW_CONN_{OPENAI_ADS_CONN_ID.upper()}": json.dumps(
            {
                "conn_type": "openai_ads",
                "host": emulator.url,
                "password": emulator.api_key,
                "extra": {"pixel_id": emulator.pixel_id},
            }
        ),
    }


def _warehouse(path: Path) -> set[str]:
    start = int(time.time()) - 3 * 3600
    rows = [
        (f"ev-{i:06d}", start + i % 7200, f"buyer{i}@example.com", 100 + i, "USD") for i in range(N_EVENTS)
    ]
    build_table(str(path), ("event_id", "event_time", "email", "amount", "currency"), rows)
    return {row[0] for row in rows}


def _dags_test(dag_id: str, logical_date: str) -> list[str]:
    return [sys.executable, "-m", "airflow", "dags", "test", dag_id, logical_date]


def _task_instances(home: Path, dag_id: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(home / "airflow.db") as conn:
        return conn.execute(
            "SELECT state, try_number FROM task_instance WHERE dag_id = ? AND task_id = ?", (dag_id, TASK_ID)
        ).fetchall()


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


def _wait_until(process: subprocess.Popen, log: Path, condition, what: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the run ended (exit {process.returncode}) before {what}:\n{_tail(log)}")
        if time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"timed out waiting for {what}:\n{_tail(log)}")
        time.sleep(0.02)


def test_sigkill_mid_stream_then_rerun_delivers_every_event_exactly_once(
    tmp_path: Path, airflow_home: Path, emulator: EmulatorServer
) -> None:
    expected = _warehouse(tmp_path / "wh.db")
    emulator.configure(latency_ms=150)  # about 7 batches a second, one at a time
    env = _airflow_env(airflow_home, **_connections(tmp_path / "wh.db", emulator))
    command = _dags_test(KILL_DAG, "2026-01-05T00:00:00+00:00")

    log1 = tmp_path / "run1.log"
    started = time.monotonic()
    with log1.open("w") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            _wait_until(
                process,
                log1,
                lambda: emulator.stats().events_accepted >= 5 * BATCH,
                "5 batches were accepted",
            )
            os.killpg(process.pid, signal.SIGKILL)  # the whole group: the task runs inside `dags test`
        finally:
            process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    at_kill = emulator.stats().events_accepted
    time.sleep(1.0)  # a batch already in the emulator's hands may still land; nothing after that
    first_try = emulator.stats()
    assert first_try.events_accepted <= at_kill + BATCH
    assert 0 < first_try.events_accepted < N_EVENTS
    # the killed try is left "running" in the metadata DB; a scheduler fails it on its heartbeat timeout
    assert _task_instances(airflow_home, KILL_DAG) == [("running", 1)]
    killed_after_s = time.monotonic() - started

    log2 = tmp_path / "run2.log"
    started = time.monotonic()
    with log2.open("w") as out:
        rerun = subprocess.run(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT_S, check=False
        )
    rerun_s = time.monotonic() - started
    assert rerun.returncode == 0, _tail(log2)
    assert _task_instances(airflow_home, KILL_DAG) == [("success", 1)]

    stats = emulator.stats()
    delivered = accepted_ids(emulator)
    assert len(delivered) == len(set(delivered)) == N_EVENTS == stats.events_accepted
    assert set(delivered) == expected
    # the rerun sent everything again; what the killed try had delivered came back as duplicates
    assert stats.events_duplicates == first_try.events_accepted
    assert stats.events_received == first_try.events_received + N_EVENTS
    assert "sent            20000      20000" in log2.read_text()
    print(
        f"\nKILL: {N_EVENTS} events; SIGKILL after {killed_after_s:.1f}s with {first_try.events_accepted} accepted "
        f"({first_try.requests} requests); rerun {rerun_s:.1f}s sent {N_EVENTS}; emulator: "
        f"{stats.events_accepted} accepted, {stats.events_duplicates} duplicates deduplicated, 0 missing, "
        f"0 accepted twice"
    )


def test_failed_first_try_is_resent_by_airflow_task_retry(
    tmp_path: Path, airflow_home: Path, emulator: EmulatorServer
) -> None:
    expected = _warehouse(tmp_path / "wh.db")
    emulator.configure(rate_503=0.5, seed=5)  # the first try's batches: one attempt each, about half fail
    env = _airflow_env(
        airflow_home,
        RELIABILITY_MAX_ATTEMPTS="1",
        RELIABILITY_RETRY_DELAY_S="2",
        **_connections(tmp_path / "wh.db", emulator),
    )
    log = tmp_path / "run.log"
    batches = N_EVENTS // BATCH
    with log.open("w") as out:
        process = subprocess.Popen(
            _dags_test(RETRY_DAG, "2026-01-06T00:00:00+00:00"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            _wait_until(process, log, lambda: emulator.stats().requests >= batches, "the first try ended")
            first_try = emulator.stats()
            emulator.configure(rate_503=0.0)  # the API recovers before the retry (2 s later)
            process.wait(timeout=RUN_TIMEOUT_S)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, _tail(log)
    text = log.read_text()
    assert "task retry resends them safely" in text
    assert 0 < first_try.events_accepted < N_EVENTS
    assert first_try.requests_by_status.get("503", 0) == batches - first_try.events_accepted // BATCH
    assert _task_instances(airflow_home, RETRY_DAG) == [("success", 2)]

    stats = emulator.stats()
    delivered = accepted_ids(emulator)
    assert len(delivered) == len(set(delivered)) == N_EVENTS
    assert set(delivered) == expected
    assert stats.events_duplicates == first_try.events_accepted
    print(
        f"\nTASK RETRY: try 1 delivered {first_try.events_accepted} of {N_EVENTS} "
        f"({first_try.requests_by_status.get('503', 0)} batches got 503) and failed; try 2 resent all: "
        f"{stats.events_accepted} accepted, {stats.events_duplicates} duplicates deduplicated, 0 missing"
    )
