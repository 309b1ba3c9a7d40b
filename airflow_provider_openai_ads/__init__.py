"""Apache Airflow provider for the OpenAI Ads Conversions API."""

from __future__ import annotations

__version__ = "0.1.0"
