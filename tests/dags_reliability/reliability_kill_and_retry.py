"""DAGs of the kill-and-retry suite (tests/reliability/test_kill_retry.py); not examples to copy.

``openai_ads_reliability_kill_and_retry`` is the stock operator with the retry settings the
README recommends; it sends one batch at a time so the test can kill the process between
accepted batches. ``openai_ads_reliability_task_retry`` gives up on a failing batch at once
(``RELIABILITY_MAX_ATTEMPTS``) and retries the task after ``RELIABILITY_RETRY_DELAY_S``, so a
test sees Airflow's own task retry resend what the first try could not deliver.
"""

from __future__ import annotations

import datetime as dt
import os
from functools import cached_property

from airflow.sdk import DAG

from airflow_provider_openai_ads.conversions.client import RetryPolicy
from airflow_provider_openai_ads.hooks.openai_ads import OpenAIAdsHook
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
QUERY = "SELECT event_id, event_time, email, amount, currency FROM events ORDER BY event_id"
COMMON = {
    "conn_id": "reliability_warehouse",
    "openai_ads_conn_id": "reliability_openai_ads",
    "sql": QUERY,
    "event_type": "purchase",
    "default_action_source": "other",
    "max_in_flight": 1,
    "fetch_size": 1000,
    "progress_interval": 1.0,
}


class _QuickToGiveUp(SqlToOpenAIAdsOperator):
    """The stock operator with a hook whose retry policy comes from the environment."""

    @cached_property
    def hook(self) -> OpenAIAdsHook:
        policy = RetryPolicy(max_attempts=int(os.environ.get("RELIABILITY_MAX_ATTEMPTS", "8")))
        return OpenAIAdsHook(self.openai_ads_conn_id, max_in_flight=self.max_in_flight, retry=policy)


with DAG(
    dag_id="openai_ads_reliability_kill_and_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={
        "retries": 3,
        "retry_delay": dt.timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,
    },
    tags=["reliability-tests"],
):
    SqlToOpenAIAdsOperator(task_id="send_conversions", **COMMON)

with DAG(
    dag_id="openai_ads_reliability_task_retry",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={
        "retries": 1,
        "retry_delay": dt.timedelta(seconds=float(os.environ.get("RELIABILITY_RETRY_DELAY_S", "120"))),
    },
    tags=["reliability-tests"],
):
    _QuickToGiveUp(task_id="send_conversions", **COMMON)
