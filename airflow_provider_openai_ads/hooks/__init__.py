"""Airflow hooks of the OpenAI Ads provider."""
