"""Domain core: conversion events, identity hashing, money, mapping, batching and delivery.

Nothing in this package imports Airflow; it is usable and testable on its own.
"""

from __future__ import annotations
