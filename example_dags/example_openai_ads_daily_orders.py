"""Daily incremental sync: yesterday's orders x line items from a SQL warehouse to OpenAI Ads.

* ``CronDataIntervalTimetable`` gives each run a real [start, end) interval. (In Airflow 3 a
  plain cron string uses ``CronTriggerTimetable``, whose intervals have zero width; the
  operator refuses to run such a window instead of silently selecting nothing.)
* Event ids are order ids, so task retries, re-runs and overlapping backfills resend the same
  ids and the API keeps the first copy: sending is idempotent by construction.
* Connections: ``warehouse`` (any common.sql connection) and ``openai_ads_default``.
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable

from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

with DAG(
    dag_id="example_openai_ads_daily_orders",
    description="Send yesterday's orders to the OpenAI Ads Conversions API",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=5),
        "retry_exponential_backoff": 2.0,
    },
    tags=["openai-ads", "example"],
) as dag:
    SqlToOpenAIAdsOperator(
        task_id="send_orders",
        conn_id="warehouse",
        openai_ads_conn_id="openai_ads_default",
        sql="sql/daily_orders.sql",
        event_type="purchase",
        # a few bad rows (unknown currency, ...) are reported by event id; more than 1% fails the task
        max_rejected_ratio=0.01,
        rejected_path="{{ var.value.get('openai_ads_rejected_dir', '/tmp/openai_ads') }}/{{ dag.dag_id }}/{{ run_id }}.jsonl",
        progress_interval=10,
    )
