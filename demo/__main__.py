"""The one-command demo: sample warehouse -> daily example DAG -> local emulator, end to end.

``make demo`` (or ``python -m demo``) builds a SQLite warehouse with a few thousand orders and
line items from the last day (a few of them bad on purpose), starts the emulator on loopback,
runs ``example_openai_ads_daily_orders`` through ``airflow dags test``, then prints the
delivery report and what the emulator received. Everything lives under ``.demo/`` and
nothing is left running.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from demo.warehouse import create_sqlite_warehouse

ROOT = Path(__file__).resolve().parent.parent
DAG_ID = "example_openai_ads_daily_orders"
API_KEY, PIXEL_ID = "demo-conversions-key", "demo-pixel"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=3000, help="sample orders in the run's interval")
    parser.add_argument("--workdir", default=str(ROOT / ".demo"))
    args = parser.parse_args()

    work = Path(args.workdir)
    shutil.rmtree(work, ignore_errors=True)
    (work / "airflow").mkdir(parents=True)
    now = dt.datetime.now(dt.timezone.utc)
    # the DAG runs daily at 02:00 UTC; its latest run covers the 24 hours before that
    logical_date = now.replace(hour=2, minute=0, second=0, microsecond=0)
    if logical_date > now:
        logical_date -= dt.timedelta(days=1)
    start = logical_date - dt.timedelta(days=1)
    warehouse = work / "warehouse.db"
    step(
        f"Building a SQLite warehouse with {args.orders} orders between {start:%Y-%m-%d %H:%M} and "
        f"{logical_date:%Y-%m-%d %H:%M} UTC"
    )
    create_sqlite_warehouse(str(warehouse), args.orders, start, logical_date)

    step("Starting the Conversions API emulator on loopback")
    emulator = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_openai_ads.emulator",
            "--port",
            "0",
            "--api-key",
            API_KEY,
            "--pixel-id",
            PIXEL_ID,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = emulator.stdout.readline().strip().rsplit(" ", 1)[-1]
        if not url.startswith("http"):
            raise SystemExit("the emulator did not start")
        print(f"  emulator at {url}")
        env = airflow_env(work, warehouse, url)

        step("Creating the Airflow metadata database (airflow db migrate)")
        run([sys.executable, "-m", "airflow", "db", "migrate"], env, work / "db-migrate.log")

        step(f"Running {DAG_ID} for {logical_date.isoformat()} (airflow dags test)")
        started = time.monotonic()
        log_path = work / "dags-test.log"
        code = run(
            [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, logical_date.isoformat()],
            env,
            log_path,
            check=False,
        )
        print(f"  finished in {time.monotonic() - started:.1f}s, log: {log_path}")
        show_report(log_path)
        show_emulator(url)
        show_rejected(work / "rejected")
        if code != 0:
            print(f"\nThe DAG run failed (exit code {code}); see {log_path}")
            return code
        print("\nDone. Nothing is left running; everything is under", work)
        return 0
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)


def airflow_env(work: Path, warehouse: Path, url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AIRFLOW_HOME=str(work / "airflow"),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "example_dags"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__LOGGING__LOGGING_LEVEL="INFO",
        AIRFLOW_CONN_WAREHOUSE=json.dumps({"conn_type": "sqlite", "host": str(warehouse)}),
        AIRFLOW_CONN_OPENAI_ADS_DEFAULT=json.dumps(
            {"conn_type": "openai_ads", "host": url, "password": API_KEY, "extra": {"pixel_id": PIXEL_ID}}
        ),
        AIRFLOW_VAR_OPENAI_ADS_REJECTED_DIR=str(work / "rejected"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    return env


def run(command: list[str], env: dict[str, str], log: Path, *, check: bool = True) -> int:
    with log.open("w") as out:
        code = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if check and code != 0:
        raise SystemExit(f"{' '.join(command[2:])} failed; see {log}")
    return code


def show_report(log_path: Path) -> None:
    step("Delivery report (from the task log)")
    lines = log_path.read_text(errors="replace").splitlines()
    start = next((i for i, line in enumerate(lines) if "OpenAI Ads delivery report" in line), None)
    if start is None:
        print("  (no report in the log)")
        return
    for line in lines[start:]:
        if "delivery report" in line:
            print("  OpenAI Ads delivery report")
        elif line.startswith("  "):
            print(line.split(" [airflow.")[0])
        elif line.strip():
            break


def show_emulator(url: str) -> None:
    step("What the emulator received")
    with urllib.request.urlopen(f"{url}/_emulator/stats", timeout=10) as response:
        stats = json.load(response)
    print(json.dumps(stats, indent=2))
    with urllib.request.urlopen(f"{url}/_emulator/events?limit=1", timeout=10) as response:
        events = json.load(response)
    sample = events.get("events", events) if isinstance(events, dict) else events
    if sample:
        print("  one accepted event (identifiers are SHA-256 hashes, amounts in minor units):")
        print(json.dumps(sample[0], indent=2))


def show_rejected(folder: Path) -> None:
    files = sorted(folder.rglob("*.jsonl"))
    if not files:
        return
    step(f"Rejected and skipped rows (first lines of {files[0]})")
    with files[0].open() as rejected:
        for line, _ in zip(rejected, range(8), strict=False):
            print("  " + line.rstrip())


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
