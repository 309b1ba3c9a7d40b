"""Leads, registrations, subscriptions and custom events from a CRM table, plus events from XCom.

* ``send_crm_events`` maps the CRM's own event names with ``event_type_map`` (on top of the
  built-in GA4 / Segment / Meta aliases); names that are neither become ``custom`` events when
  they are valid custom event names, and are rejected with a reason otherwise.
* ``send_from_xcom`` shows ``OpenAIAdsSendEventsOperator`` taking row-contract dicts produced by
  an upstream TaskFlow task (a webhook backlog, an API export ...).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, CronDataIntervalTimetable, task

from airflow_provider_openai_ads.operators.openai_ads import OpenAIAdsSendEventsOperator
from airflow_provider_openai_ads.transfers.sql_to_openai_ads import SqlToOpenAIAdsOperator

with DAG(
    dag_id="example_openai_ads_leads_and_custom",
    description="Leads, sign-ups, subscriptions and custom events to OpenAI Ads",
    schedule=CronDataIntervalTimetable("15 * * * *", timezone="UTC"),
    start_date=dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    default_args={"retries": 3, "retry_delay": dt.timedelta(minutes=5)},
    tags=["openai-ads", "example"],
) as dag:
    SqlToOpenAIAdsOperator(
        task_id="send_crm_events",
        conn_id="warehouse",
        sql="""
            SELECT e.event_id, e.event_name AS event_type, e.occurred_at AS event_time,
                   e.channel AS action_source, e.landing_url AS source_url,
                   e.email, e.external_id, e.plan_code AS plan_id, e.mrr AS value, e.currency
            FROM crm_events e
            WHERE e.occurred_at >= '{{ data_interval_start | ts }}'
              AND e.occurred_at < '{{ data_interval_end | ts }}'
            ORDER BY e.event_id
        """,
        event_type_map={
            "demo_requested": "lead_created",
            "account_created": "registration_completed",
            "trial_begun": "trial_started",
            "plan_purchased": "subscription_created",
            "meeting_booked": "appointment_scheduled",
        },
        default_action_source="web",
        max_rejected_ratio=0.05,
    )

    @task
    def webhook_backlog(data_interval_end=None) -> list[dict]:
        """Stand-in for events collected elsewhere; real code would read a queue or an API."""
        when = (data_interval_end - dt.timedelta(minutes=5)).isoformat()
        return [
            {
                "event_id": "quiz-0001",
                "event_type": "quiz_completed",  # not a standard name: sent as custom
                "event_time": when,
                "action_source": "web",
                "source_url": "https://example.com/quiz",
                "email": "someone@example.com",
            },
            {
                "event_id": "lead-0001",
                "event_type": "generate_lead",  # GA4 alias of lead_created
                "event_time": when,
                "action_source": "phone_call",
                "phone": "+1 415 555 2671",
            },
        ]

    OpenAIAdsSendEventsOperator(task_id="send_from_xcom", events=webhook_backlog())
