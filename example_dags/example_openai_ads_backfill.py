"""Backfill the last days of orders, partitioned with dynamic task mapping.

Run it for the recent past with a scheduler-managed backfill, e.g.::

    airflow pools set openai_ads_api 2 "concurrent senders to the OpenAI Ads Conversions API"
    airflow backfill create --dag-id example_openai_ads_backfill \\
        --from-date "$(date -u -d '6 days ago' +%F)" --to-date "$(date -u +%F)" --max-active-runs 2

Each daily run splits its day into hourly partitions and maps one ``SqlToOpenAIAdsOperator``
over them; the ``openai_ads_api`` pool caps how many send at once across all runs.

What a backfill can and cannot do: the Conversions API only accepts events from the last
7 days. Hours older than that (minus a safety margin for the time the run takes) are not
queried at all; the ``partitions`` task logs each excluded range with that reason and returns
it in its XCom, so nothing disappears silently. Events that cross the limit while the run is
under way are still rejected as ``too_old`` and reported by event id. Re-running a day is
safe: event ids are order ids, and the API keeps the first copy of each.
"""

from __future__ import annotations

import datetime as dt
import logging

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

log = logging.getLogger(__name__)

WINDOW = dt.timedelta(days=7)
SAFETY_MARGIN = dt.timedelta(hours=2)  # room for the backfill itself to run
PARTITION = dt.timedelta(hours=1)

PARTITION_SQL = """
SELECT o.order_id AS event_id, o.created_at AS event_time, 'web' AS action_source,
       o.page_url AS source_url, o.oppref, o.email, o.phone, o.customer_id AS external_id,
       o.city, o.region, o.postal_code, o.country, o.ip_address, o.user_agent,
       o.total AS value, o.currency, o.marketing_consent AS consent,
       i.sku AS item_id, i.product_name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_price
FROM orders o JOIN order_items i ON i.order_id = o.order_id
WHERE o.created_at >= '{start}' AND o.created_at < '{end}'
ORDER BY o.order_id, i.line_no
"""

with DAG(
    dag_id="example_openai_ads_backfill",
    description="Backfill recent days of orders to OpenAI Ads in hourly partitions",
    schedule=CronDataIntervalTimetable("0 3 * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=2,
    default_args={"retries": 2, "retry_delay": dt.timedelta(minutes=2)},
    tags=["openai-ads", "example", "backfill"],
) as dag:

    @task
    def partitions(data_interval_start=None, data_interval_end=None) -> list[str]:
        """One query per hour of the run's interval that the API can still accept."""
        cutoff = dt.datetime.now(dt.timezone.utc) - WINDOW + SAFETY_MARGIN
        queries, excluded = [], []
        start = data_interval_start
        while start < data_interval_end:
            end = min(start + PARTITION, data_interval_end)
            if end <= cutoff:
                excluded.append(f"{start.isoformat()} to {end.isoformat()}")
            else:
                lower = max(start, cutoff) if start < cutoff else start
                if lower > start:
                    excluded.append(f"{start.isoformat()} to {lower.isoformat()}")
                queries.append(PARTITION_SQL.format(start=lower.isoformat(), end=end.isoformat()))
            start = end
        for span in excluded:
            log.warning("Not sending %s: the Conversions API only accepts events from the last 7 days", span)
        return queries

    SqlToOpenAIAdsOperator.partial(
        task_id="send_partition",
        conn_id="warehouse",
        openai_ads_conn_id="openai_ads_default",
        event_type="purchase",
        max_rejected_ratio=0.01,
        pool="openai_ads_api",
        max_active_tis_per_dag=4,
    ).expand(sql=partitions())
