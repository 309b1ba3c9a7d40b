"""A sample e-commerce warehouse (orders x line items) for the demo, the tests and the benchmarks.

``create_sqlite_warehouse`` / ``create_postgres_warehouse`` build the same two tables with
deterministic data: ``n_orders`` orders spread over ``[start, end)``, one to three line items
each, and optionally a few bad rows of known kinds (see ``BAD_ROW_KINDS``), whose expected
rejection reasons the tests check.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

#: order id prefix -> the rejection reason the operator must report for it
BAD_ROW_KINDS = {
    "bad-currency": "invalid_currency",
    "bad-decimals": "too_many_decimals",
    "bad-negative": "negative_amount",
    "bad-nocurrency": "missing_currency",
    "bad-nourl": "missing_source_url",
}
PRODUCTS = [
    ("sku-starter", "Starter bundle", Decimal("25.99")),
    ("sku-pro", "Pro plan box", Decimal("129.00")),
    ("sku-socks", "Merino socks", Decimal("12.50")),
    ("sku-mug", "Enamel mug", Decimal("9.95")),
    ("sku-cable", "USB-C cable", Decimal("7.49")),
]
CITIES = [
    ("San Francisco", "CA", "94107", "US"),
    ("Berlin", "BE", "10115", "DE"),
    ("Tokyo", "13", "100-0001", "JP"),
]

ORDERS_COLUMNS = (
    "order_id",
    "created_at",
    "email",
    "phone",
    "customer_id",
    "first_name",
    "last_name",
    "city",
    "region",
    "postal_code",
    "country",
    "ip_address",
    "user_agent",
    "oppref",
    "page_url",
    "total",
    "currency",
    "marketing_consent",
)
ITEMS_COLUMNS = ("order_id", "line_no", "sku", "product_name", "quantity", "unit_price")

#: the daily example's query, shared by the DAG file and the tests
ORDERS_QUERY = """
SELECT o.order_id AS event_id,
       'purchase' AS event_type,
       o.created_at AS event_time,
       'web' AS action_source,
       o.page_url AS source_url,
       o.oppref, o.email, o.phone, o.customer_id AS external_id,
       o.first_name, o.last_name, o.city, o.region, o.postal_code, o.country,
       o.ip_address, o.user_agent,
       o.total AS value, o.currency,
       o.marketing_consent AS consent,
       i.sku AS item_id, i.product_name AS item_name, i.quantity AS item_quantity, i.unit_price AS item_price
FROM orders o
JOIN order_items i ON i.order_id = o.order_id
"""


@dataclass(frozen=True)
class Order:
    values: tuple
    items: list[tuple]


def generate_orders(
    n_orders: int, start: dt.datetime, end: dt.datetime, *, bad_rows: bool = True, seed: int = 7
) -> Iterator[Order]:
    """Deterministic orders in ``[start, end)`` (UTC); with ``bad_rows``, one bad order per kind per 1,000."""
    rng = random.Random(seed)
    span = (end - start).total_seconds()
    for n in range(n_orders):
        created = start + dt.timedelta(seconds=span * (n + 0.5) / n_orders)
        order_id = f"order-{n:07d}"
        city, region, postal, country = CITIES[n % len(CITIES)]
        currency = "JPY" if country == "JP" else "USD"
        items = []
        for line in range(1 + n % 3):
            sku, name, price = PRODUCTS[(n + line) % len(PRODUCTS)]
            unit = price * 100 if currency == "JPY" else price
            items.append((order_id, line, sku, name, 1 + (n + line) % 2, unit))
        total = sum(item[4] * item[5] for item in items)
        consent = n % 50 != 49  # 2% withheld consent: skipped, reported
        kind = None
        if bad_rows and n % 1000 < len(BAD_ROW_KINDS) and n >= 10:
            kind = list(BAD_ROW_KINDS)[n % 1000]
        if kind == "bad-currency":
            currency = "XYZ"
        elif kind == "bad-decimals":
            currency, total = "JPY", Decimal("100.5")
        elif kind == "bad-negative":
            total = -total
        elif kind == "bad-nocurrency":
            currency = None
        if kind is not None:
            order_id = f"{kind}-{n:07d}"
            items = [(order_id, *item[1:]) for item in items]
            consent = True
        values = (
            order_id,
            created,
            f" Customer{n}@Example.com ",
            f"+1 (415) 555-{n % 10000:04d}" if country == "US" else f"+49 30 {n % 100000:06d}",
            f"CUST-{n % 5000:05d}",
            "Ada" if n % 2 else "José",
            "Lovelace" if n % 2 else "O'Connor",
            city,
            region,
            postal,
            country,
            f"203.0.113.{n % 250 + 1}",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
            f"oppref_{rng.getrandbits(48):012x}" if n % 3 else None,
            None if kind == "bad-nourl" else "https://shop.example.com/checkout/confirmation",
            total,
            currency,
            consent,
        )
        yield Order(values, items)


def expected_bad_orders(n_orders: int) -> dict[str, str]:
    """Order-id prefixes present in a generated warehouse, with their expected reasons."""
    present = {}
    for n in range(10, n_orders):
        if n % 1000 < len(BAD_ROW_KINDS):
            kind = list(BAD_ROW_KINDS)[n % 1000]
            present[kind] = BAD_ROW_KINDS[kind]
    return present


def _sqlite_value(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def create_sqlite_warehouse(path: str, n_orders: int, start: dt.datetime, end: dt.datetime, **kwargs) -> None:
    """Build the sample warehouse in a SQLite file (timestamps as ISO-8601 UTC text, money as text)."""
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            DROP TABLE IF EXISTS orders; DROP TABLE IF EXISTS order_items;
            CREATE TABLE orders (order_id TEXT, created_at TEXT, email TEXT, phone TEXT, customer_id TEXT,
              first_name TEXT, last_name TEXT, city TEXT, region TEXT, postal_code TEXT, country TEXT,
              ip_address TEXT, user_agent TEXT, oppref TEXT, page_url TEXT, total TEXT, currency TEXT,
              marketing_consent BOOLEAN);
            CREATE TABLE order_items (order_id TEXT, line_no INTEGER, sku TEXT, product_name TEXT,
              quantity INTEGER, unit_price TEXT);
            CREATE INDEX orders_created ON orders(created_at);
            CREATE INDEX items_order ON order_items(order_id, line_no);
            """
        )
        _load(conn, "?", n_orders, start, end, _sqlite_value, **kwargs)


def create_postgres_warehouse(
    dsn: str, n_orders: int, start: dt.datetime, end: dt.datetime, **kwargs
) -> None:
    """Build the sample warehouse in PostgreSQL (timestamptz, numeric) through psycopg2."""
    import psycopg2

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            """
            DROP TABLE IF EXISTS order_items; DROP TABLE IF EXISTS orders;
            CREATE TABLE orders (order_id TEXT, created_at TIMESTAMPTZ, email TEXT, phone TEXT, customer_id TEXT,
              first_name TEXT, last_name TEXT, city TEXT, region TEXT, postal_code TEXT, country TEXT,
              ip_address TEXT, user_agent TEXT, oppref TEXT, page_url TEXT, total NUMERIC(14, 4), currency TEXT,
              marketing_consent BOOLEAN);
            CREATE TABLE order_items (order_id TEXT, line_no INTEGER, sku TEXT, product_name TEXT,
              quantity INTEGER, unit_price NUMERIC(14, 4));
            CREATE INDEX orders_created ON orders(created_at);
            CREATE INDEX items_order ON order_items(order_id, line_no);
            """
        )
        _load(cur, "%s", n_orders, start, end, lambda v: v, **kwargs)


def _load(target, mark: str, n_orders: int, start, end, convert, *, batch: int = 5000, **kwargs) -> None:
    insert_order = f"INSERT INTO orders VALUES ({', '.join([mark] * len(ORDERS_COLUMNS))})"
    insert_item = f"INSERT INTO order_items VALUES ({', '.join([mark] * len(ITEMS_COLUMNS))})"
    orders, items = [], []
    for order in generate_orders(n_orders, start, end, **kwargs):
        orders.append(tuple(convert(v) for v in order.values))
        items.extend(tuple(convert(v) for v in item) for item in order.items)
        if len(orders) >= batch:
            target.executemany(insert_order, orders)
            target.executemany(insert_item, items)
            orders, items = [], []
    if orders:
        target.executemany(insert_order, orders)
        target.executemany(insert_item, items)
