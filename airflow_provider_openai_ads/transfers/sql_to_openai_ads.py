"""Warehouse query -> OpenAI Ads Conversions API, streamed with memory that stays flat."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_openai_ads.conversions.mapping import (
    RowMapper,
    duplicate_columns,
    rename_columns,
    unknown_columns,
)
from airflow_provider_openai_ads.conversions.report import Report
from airflow_provider_openai_ads.operators.openai_ads import BaseOpenAIAdsOperator
from airflow_provider_openai_ads.transfers.prefetch import prefetched_rows

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

#: template names that only exist (or only have width) when the run has a data interval
_WINDOW_TEMPLATE_RE = re.compile(
    r"\b(data_interval_start|data_interval_end|logical_date|ds|ds_nodash|ts|ts_nodash|prev_data_interval_\w+)\b"
)
_STREAM_CURSOR_NAME = "openai_ads_stream"
#: rows per ``fetchmany``. Small on purpose: a chunk's rows are mapped while they are still in
#: the CPU's caches, and the memory they free is reused while it is too. With 5,000 rows a chunk
#: is megabytes of Python objects, cold by the time they are read: the end-to-end benchmark
#: (``benchmarks/``) ran up to a quarter slower on SQLite, up to a fifth on PostgreSQL. Each
#: fetch is a round trip on a server-side cursor: raise it for a warehouse many milliseconds away.
DEFAULT_FETCH_SIZE = 500
#: PostgreSQL's drivers: they stream through a named (server-side) cursor, their fetches are
#: network round trips, and their connections may serve another thread (so they prefetch)
_POSTGRES_DRIVERS = ("psycopg2", "psycopg")
#: drivers whose connections refuse to serve any thread but the one that opened them
_THREAD_BOUND_DRIVERS = ("sqlite3",)
#: PostgreSQL's other names of UTC itself (tzdata links to ``Etc/UTC``, abbreviated ``UTC``)
_UTC_ZONE_NAMES = frozenset({"Etc/UTC", "Etc/Universal", "Etc/Zulu", "Universal", "Zulu"})


class SqlToOpenAIAdsOperator(BaseOpenAIAdsOperator):
    """Send the rows of a SQL query to the OpenAI Ads Conversions API.

    Rows follow the row contract (see the README): alias columns in the query (``order_id AS
    event_id``) or rename them with ``column_map``. Rows are streamed with ``fetchmany`` (a
    server-side cursor on PostgreSQL and MySQL), so any number of rows runs in flat memory.
    Consecutive rows with the same ``event_id`` become one event with several ``contents``
    items: ``ORDER BY event_id`` an orders x line items join. Every row ends up sent,
    rejected (with a reason), failed or skipped, and the task returns that report. On psycopg 3,
    a session in ``Etc/UTC`` (or another alias of UTC) is switched to the name ``UTC`` for the
    query: the same zone, whose timestamps the driver loads much faster.

    :param sql: the query, or a ``.sql`` file path. (templated)
    :param conn_id: the source connection (any common.sql connection). (templated)
    :param parameters: bound query parameters; prefer them to templated literals. (templated)
    :param database: database/schema override of the source hook.
    :param hook_params: extra keyword arguments for the source hook.
    :param fetch_size: rows fetched per ``fetchmany`` (a round trip on a server-side cursor);
        the default, 500, keeps each chunk small enough to be mapped while it is in the CPU's
        caches. Raise it for a warehouse many milliseconds away.
    :param prefetch: fetch the next ``fetch_size`` rows in a background thread while the current
        ones are mapped and sent, so the database's round trips overlap the task's work (at most
        four chunks in memory). ``None`` (default): on for PostgreSQL (psycopg2, psycopg), whose
        connections may be used from another thread; off for other drivers. SQLite connections
        belong to the thread that opened them: ``True`` on one fails the task at once. While
        prefetching, the interpreter's switch interval is 1 ms, so the reader gets the GIL as
        soon as its round trip ends (restored afterwards).
    :param allow_empty_window: run even when the query uses data-interval templates and the run
        has no data interval or a zero-width one (by default the task refuses: in Airflow 3 such
        a query would silently select nothing).

    All options of :class:`BaseOpenAIAdsOperator` apply (mapping, ``validate_only``,
    ``dry_run``, ``max_rejected_ratio``, ``rejected_path`` ...).
    """

    template_fields: Sequence[str] = (
        *BaseOpenAIAdsOperator.template_fields,
        "sql",
        "conn_id",
        "parameters",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"sql": "sql", "parameters": "json"}

    def __init__(
        self,
        *,
        sql: str,
        conn_id: str,
        parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        database: str | None = None,
        hook_params: Mapping[str, Any] | None = None,
        fetch_size: int = DEFAULT_FETCH_SIZE,
        prefetch: bool | None = None,
        allow_empty_window: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if fetch_size < 1:
            raise ValueError("fetch_size must be positive")
        self.sql = sql
        self.conn_id = conn_id
        self.parameters = parameters
        self.database = database
        self.hook_params = dict(hook_params or {})
        self.fetch_size = fetch_size
        self.prefetch = prefetch
        self.allow_empty_window = allow_empty_window
        self._uses_window = False

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        # Look at the templates before they are rendered away (a .sql path is read for its source).
        env = jinja_env or self.get_template_env(self.dag if self.has_dag() else None)
        source = self.sql
        if isinstance(source, str) and source.endswith(tuple(self.template_ext)) and env.loader is not None:
            with contextlib.suppress(Exception):  # a missing file is reported by the rendering itself
                source = env.loader.get_source(env, source)[0]
        self._uses_window = bool(_WINDOW_TEMPLATE_RE.search(f"{source} {self.parameters!r}"))
        self._check_window(context)  # before rendering: a missing interval would fail inside Jinja
        super().render_template_fields(context, jinja_env)

    def execute(self, context: Context) -> dict[str, Any]:
        options = self.mapping_options()
        source = self._source_hook()
        report = Report()
        mapper = RowMapper(options, report)
        self.log.info("Streaming rows from %r (%s) to OpenAI Ads", self.conn_id, type(source).__name__)
        records = self._records(source)
        try:
            columns = next(records)  # runs the query; the generator yields the column names first
            return self.deliver(context, mapper.map_records(columns, records), report)
        finally:
            records.close()  # here, in this thread: a driver's connection may belong to it

    def _check_window(self, context: Context) -> None:
        if not self._uses_window or self.allow_empty_window:
            return
        start, end = context.get("data_interval_start"), context.get("data_interval_end")
        if start is None or end is None:
            raise AirflowFailException(
                "the query uses data-interval templates but this run has no data interval (a manual or "
                "asset-triggered run in Airflow 3), so they render empty; give the DAG a timetable with "
                "intervals (e.g. CronDataIntervalTimetable), pass explicit bounds, or set allow_empty_window=True"
            )
        if start == end:
            raise AirflowFailException(
                f"the run's data interval is empty ({start} to {end}): Airflow 3 cron schedules use "
                "CronTriggerTimetable, whose intervals have zero width, so the query would select nothing; "
                "use schedule=CronDataIntervalTimetable(...), or set allow_empty_window=True"
            )

    def _source_hook(self) -> DbApiHook:
        hook_params = dict(self.hook_params)
        if self.database:
            hook_params.setdefault("schema", self.database)
        hook = BaseHook.get_connection(self.conn_id).get_hook(hook_params=hook_params or None)
        if not isinstance(hook, DbApiHook):
            raise AirflowFailException(
                f"connection {self.conn_id!r} gives a {type(hook).__name__}, not a SQL (common.sql DbApiHook) "
                "connection"
            )
        hook.log_sql = False  # statements are fine to log, their parameters and rows are not
        return hook

    def _prefetches(self, conn: Any) -> bool:
        driver = _driver(conn)
        if self.prefetch is None:
            return driver.startswith(_POSTGRES_DRIVERS)
        if self.prefetch and driver.startswith(_THREAD_BOUND_DRIVERS):
            raise AirflowFailException(
                f"prefetch=True cannot work with connection {self.conn_id!r}: {driver.split('.')[0]} connections "
                "can only be used by the thread that opened them; leave prefetch unset (or False)"
            )
        return self.prefetch

    def _records(self, hook: DbApiHook) -> Iterator[Any]:
        """Row-contract column names (first), then the result's records, fetched in chunks."""
        sql = self.sql
        with closing(hook.get_conn()) as conn:
            prefetch = self._prefetches(conn)  # before the query runs: it may refuse
            _name_utc_as_utc(conn)
            cursor = _streaming_cursor(conn)
            with closing(cursor):
                self.log.info("Running query:\n%s", sql)
                if self.parameters is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, self.parameters)
                if cursor.description is None:
                    raise AirflowFailException("the SQL statement returned no result set")
                columns = rename_columns([d[0] for d in cursor.description], self.column_map)
                unknown = unknown_columns(columns)
                if unknown:
                    self.log.warning(
                        "Ignoring columns that are not in the row contract: %s", ", ".join(unknown)
                    )
                if "event_id" not in columns:
                    raise AirflowFailException(
                        "the query has no event_id column: alias a stable business id (e.g. order_id AS event_id) "
                        "or map it with column_map"
                    )
                duplicates = duplicate_columns(columns)
                if duplicates:
                    raise AirflowFailException(
                        f"the query yields more than one column named {', '.join(duplicates)} (after column_map)"
                    )
                yield tuple(columns)
                fetch = functools.partial(cursor.fetchmany, self.fetch_size)
                if prefetch:
                    yield from prefetched_rows(fetch)
                else:
                    while rows := fetch():
                        yield from rows
            if hasattr(conn, "rollback"):
                conn.rollback()  # read-only; ends the server-side cursor's transaction


def _driver(conn: Any) -> str:
    """The driver's module name (``psycopg2.extensions``, ``sqlite3``, ...)."""
    return type(conn).__module__


def _name_utc_as_utc(conn: Any) -> None:
    """On psycopg 3, switch a session in ``Etc/UTC`` (or another alias of UTC) to ``UTC``.

    psycopg 3 gives every ``timestamptz`` value the session's time zone. Only the name ``UTC``
    becomes ``datetime.timezone.utc``; ``Etc/UTC``, the default of the official PostgreSQL images,
    becomes a ``ZoneInfo``, converted into for each value (a sixth of the fetch time) and then
    read back through the slower path when the row is mapped. The two names are the same zone,
    so nothing the query computes changes; sessions in any other zone are left alone.
    """
    if _driver(conn).split(".")[0] != "psycopg":  # psycopg2 attaches fixed offsets already
        return
    if getattr(conn.info.timezone, "key", None) in _UTC_ZONE_NAMES:
        conn.execute("SET TIME ZONE 'UTC'")


def _streaming_cursor(conn: Any) -> Any:
    """A cursor that streams results from the server where the driver buffers by default."""
    module = _driver(conn)
    if module.startswith(_POSTGRES_DRIVERS):
        return conn.cursor(name=_STREAM_CURSOR_NAME)  # server-side (named) cursor
    if module.startswith("MySQLdb"):
        from MySQLdb.cursors import SSCursor

        return conn.cursor(SSCursor)
    if module.startswith("pymysql"):
        from pymysql.cursors import SSCursor

        return conn.cursor(SSCursor)
    return conn.cursor()  # sqlite3 and most warehouse drivers fetch lazily already
