"""Benchmark 2, end to end: warehouse -> SqlToOpenAIAdsOperator -> emulator in another process.

The sample warehouse (``demo.warehouse``, one to three line items per order) is built once
per database and size and reused (SQLite under ``.bench/``, PostgreSQL in a ``bench_<n>``
schema). Each run is a fresh task process (``python -m benchmarks.end_to_end --task ...``)
that executes the operator directly and reports its wall time and peak RSS (``VmHWM``,
which includes the interpreter and Airflow); the emulator runs with ``--no-store`` in its own
process, reset between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from airflow_provider_openai_ads.conversions.client import DEFAULT_MAX_IN_FLIGHT
from benchmarks.data import (
    BENCH_QUERY,
    POSTGRES_DSN,
    postgres_available,
    postgres_warehouse,
    sqlite_warehouse,
)

ROOT = Path(__file__).resolve().parent.parent
TASK_TIMEOUT_S = 3600


@dataclass
class EndToEndRun:
    database: str
    orders: int
    max_in_flight: int
    rows: int
    events_sent: int
    requests: int
    seconds: float
    events_per_s: float
    peak_rss_mb: float
    outcome: dict
    #: CPU time of the task process during execute(), per event sent
    task_cpu_us_per_event: float = 0.0
    #: CPU time of the emulator process during the run, per event sent
    emulator_cpu_us_per_event: float = 0.0
    #: the hot path's events/s measured just before and just after this run (their mean)
    adjacent_hot_path_events_per_s: float = 0.0
    #: when the run was repeated: every repeat's share of its hot path (this run is the median)
    repeat_shares: list[float] = field(default_factory=list)
    #: when the run was repeated: the highest peak RSS of the repeats
    repeat_peak_rss_mb: float = 0.0

    @property
    def share_of_adjacent_hot_path(self) -> float:
        return self.events_per_s / self.adjacent_hot_path_events_per_s

    @property
    def ok(self) -> bool:
        return self.outcome.get("events", {}).get("sent") == self.orders and not self.outcome.get("rejected")


def query_for(database: str, schema: str | None, orders: int, total_orders: int) -> str:
    """The benchmark query over the first ``orders`` orders of a ``total_orders`` warehouse."""
    sql = BENCH_QUERY
    if schema:
        sql = sql.replace("FROM orders o", f"FROM {schema}.orders o").replace(
            "JOIN order_items i", f"JOIN {schema}.order_items i"
        )
    if orders < total_orders:
        sql = sql.replace("ORDER BY", f"WHERE o.order_id < 'order-{orders:07d}'\nORDER BY")
    return sql


def _dsn_connection(dsn: str) -> dict:
    from urllib.parse import urlsplit

    parts = urlsplit(dsn)
    return {
        "conn_type": "postgres",
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "login": parts.username or "postgres",
        "password": parts.password or "",
        "schema": parts.path.lstrip("/") or "postgres",
    }


def run_task(
    *,
    database: str,
    source: str,
    orders: int,
    total_orders: int,
    emulator_url: str,
    api_key: str,
    pixel_id: str,
    max_in_flight: int,
) -> EndToEndRun:
    """One operator run in a fresh process; returns its measurements."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.end_to_end",
        "--task",
        json.dumps(
            {
                "database": database,
                "source": source,
                "orders": orders,
                "total_orders": total_orders,
                "emulator_url": emulator_url,
                "api_key": api_key,
                "pixel_id": pixel_id,
                "max_in_flight": max_in_flight,
            }
        ),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=TASK_TIMEOUT_S, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark task failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return EndToEndRun(**json.loads(lines[-1]))


def _task_main(spec: dict) -> None:
    """Inside the task process: configure connections, execute the operator, print one JSON line."""
    home = tempfile.mkdtemp(prefix="openai-ads-bench-")
    os.environ.update(
        AIRFLOW_HOME=home,
        AIRFLOW__CORE__UNIT_TEST_MODE="True",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="WARNING",
    )
    if spec["database"] == "sqlite":
        warehouse = {"conn_type": "sqlite", "host": spec["source"]}
        schema = None
    else:
        warehouse = _dsn_connection(POSTGRES_DSN)
        schema = spec["source"]
    os.environ["AIRFLOW_CONN_WAREHOUSE"] = json.dumps(warehouse)
    os.environ["AIRFLOW_CONN_OPENAI_ADS_DEFAULT"] = json.dumps(
        {
            "conn_type": "openai_ads",
            "host": spec["emulator_url"],
            "password": spec["api_key"],
            "extra": {"pixel_id": spec["pixel_id"]},
        }
    )
    from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

    class _TaskInstance:
        def xcom_push(self, key: str, value: object) -> None:
            pass

    operator = SqlToOpenAIAdsOperator(
        task_id="benchmark",
        conn_id="warehouse",
        sql=query_for(spec["database"], schema, spec["orders"], spec["total_orders"]),
        event_type="purchase",
        max_in_flight=spec["max_in_flight"],
        progress_interval=3600,
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    result = operator.execute({"ti": _TaskInstance()})
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    peak_rss = _peak_rss_bytes()
    sent = result["events"]["sent"]
    outcome = {
        "events": result["events"],
        "rows": result["rows"],
        "rejected": result.get("rejected_by_reason") or {},
        "failed": result.get("failed_by_reason") or {},
    }
    run = EndToEndRun(
        database=spec["database"],
        orders=spec["orders"],
        max_in_flight=spec["max_in_flight"],
        rows=result["rows_read"],
        events_sent=sent,
        requests=result["requests"],
        seconds=round(seconds, 3),
        events_per_s=round(sent / seconds, 1),
        peak_rss_mb=round(peak_rss / 2**20, 1),
        outcome=outcome,
        task_cpu_us_per_event=round(cpu / max(sent, 1) * 1e6, 1),
    )
    print(json.dumps(asdict(run)), flush=True)


def _peak_rss_bytes() -> int:
    """This process's peak RSS: ``VmHWM`` where Linux has it, else ``ru_maxrss``.

    ``ru_maxrss`` survives ``exec``: a task process started by ``posix_spawn``/``vfork`` from a
    large benchmark process reports the parent's peak, whatever the task itself used.
    ``VmHWM`` belongs to the process's own address space.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


@dataclass
class EndToEndResult:
    runs: list[EndToEndRun]
    max_in_flight: int
    sweep: list[EndToEndRun]
    skipped: dict[str, str]

    def to_dict(self) -> dict:
        return {
            "max_in_flight": self.max_in_flight,
            "runs": [asdict(r) for r in self.runs],
            "sweep": [asdict(r) for r in self.sweep],
            "skipped": self.skipped,
        }


def run(
    sizes: tuple[int, ...] = (100_000, 1_000_000),
    *,
    databases: tuple[str, ...] = ("sqlite", "postgres"),
    max_in_flight: int | None = None,
    sweep: tuple[int, ...] = (1, 2, 4),
    sweep_orders: int | None = None,
    hot_path_rate: Callable[[], float] | None = None,
    repeats: int = 1,
    log=print,
) -> EndToEndResult:
    """Run every database x size with ``max_in_flight`` concurrent requests (``None``: the
    operator's default, what a user gets). ``sweep`` runs the first database's small size with
    each of its values first, for information: the verdicts never come from a value picked as
    the fastest of single noisy runs.

    ``hot_path_rate`` (default: ``hot_path.calibrator()``) is measured just before and just
    after every run, for the run's share of the hot-path rate at that moment. With ``repeats``
    above 1 every database x size runs that many times and the run with the median share is
    kept (with every repeat's share, and the highest peak RSS of them).
    """
    import psutil

    from airflow_provider_openai_ads.emulator.process import EmulatorProcess
    from benchmarks.hot_path import calibrator

    hot_path_rate = hot_path_rate or calibrator()
    total = max(sizes)
    skipped: dict[str, str] = {}
    sources: dict[str, str] = {}
    for database in databases:
        if database == "sqlite":
            sources[database] = str(sqlite_warehouse(total, log=log).resolve())
        elif postgres_available():
            sources[database] = postgres_warehouse(total, log=log)
        else:
            skipped[database] = f"PostgreSQL not reachable at {POSTGRES_DSN}"
    runs: list[EndToEndRun] = []
    tried: list[EndToEndRun] = []
    with EmulatorProcess(store_events=False) as emulator:
        emulator_process = psutil.Process(emulator.pid)

        def one(database: str, orders: int, in_flight: int) -> EndToEndRun:
            emulator.reset()
            log(f"end to end: {database}, {orders:,} orders, max_in_flight={in_flight} ...")
            hot_before = hot_path_rate()
            emulator_cpu = sum(emulator_process.cpu_times()[:2])
            result = run_task(
                database=database,
                source=sources[database],
                orders=orders,
                total_orders=total,
                emulator_url=emulator.url,
                api_key=emulator.api_key,
                pixel_id=emulator.pixel_id,
                max_in_flight=in_flight,
            )
            emulator_cpu = sum(emulator_process.cpu_times()[:2]) - emulator_cpu
            result.emulator_cpu_us_per_event = round(emulator_cpu / max(result.events_sent, 1) * 1e6, 1)
            result.adjacent_hot_path_events_per_s = round((hot_before + hot_path_rate()) / 2, 1)
            log(
                f"  {result.events_per_s:,.0f} events/s ({result.share_of_adjacent_hot_path:.0%} of the hot path's "
                f"{result.adjacent_hot_path_events_per_s:,.0f} around it), peak RSS {result.peak_rss_mb} MB, "
                f"CPU per event: task {result.task_cpu_us_per_event} us, emulator {result.emulator_cpu_us_per_event} us"
            )
            return result

        chosen = max_in_flight or DEFAULT_MAX_IN_FLIGHT
        first = next(iter(sources), None)
        if first is not None:
            tried = [one(first, sweep_orders or min(sizes), k) for k in sweep]
        for database in sources:
            for orders in sizes:
                runs.append(_median_of([one(database, orders, chosen) for _ in range(repeats)]))
    return EndToEndResult(runs, chosen, tried, skipped)


def _median_of(repeats: list[EndToEndRun]) -> EndToEndRun:
    """The repeat with the median share of its hot path, carrying every repeat's share."""
    if len(repeats) == 1:
        return repeats[0]
    ordered = sorted(repeats, key=lambda r: r.share_of_adjacent_hot_path)
    median = ordered[(len(ordered) - 1) // 2]
    median.repeat_shares = [round(r.share_of_adjacent_hot_path, 3) for r in repeats]
    median.repeat_peak_rss_mb = max(r.peak_rss_mb for r in repeats)
    return median


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", help="(internal) run one benchmark task from a JSON spec")
    args = parser.parse_args(argv)
    if args.task:
        _task_main(json.loads(args.task))
        return
    print(json.dumps(run().to_dict(), indent=1))


if __name__ == "__main__":
    main()
