"""Serving the emulator with uvicorn (httptools + uvloop): in a background thread, or blocking."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_openai_ads.emulator.app import EmulatorApp
from airflow_provider_openai_ads.emulator.config import EmulatorConfig
from airflow_provider_openai_ads.emulator.protocol import DroppingHttpToolsProtocol
from airflow_provider_openai_ads.emulator.state import EmulatorState
from airflow_provider_openai_ads.emulator.stats import EmulatorStats, RequestRecord

STARTUP_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free port chosen by the OS).

    Binding before uvicorn starts makes the port known up front, without a probe-then-bind race.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Uvicorn(uvicorn.Server):
    """uvicorn's server, calling ``on_started`` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def build_uvicorn(
    app: EmulatorApp, *, on_started: Callable[[], None], log_level: str = "warning"
) -> uvicorn.Server:
    """A uvicorn server for ``app``: no access log, no proxy-header or server-header processing.

    ``log_config=None`` leaves the host process's logging configuration alone.
    """
    config = uvicorn.Config(
        app,
        http=DroppingHttpToolsProtocol,
        loop="uvloop",
        ws="none",
        lifespan="off",
        interface="asgi3",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        log_level=log_level,
    )
    return _Uvicorn(config, on_started)


class EmulatorServer:
    """The emulator on 127.0.0.1 (by default) in a background thread, as a context manager.

    >>> with EmulatorServer(EmulatorConfig(rate_429=0.1)) as emulator:  # doctest: +SKIP
    ...     httpx.post(f"{emulator.url}/v1/events?pid={emulator.pixel_id}", ...)
    ...     emulator.events(), emulator.stats()

    Keyword arguments override fields of ``config``. The server shares the GIL with its host
    process; for throughput measurements run it in its own process (:class:`EmulatorProcess`).
    """

    def __init__(self, config: EmulatorConfig | None = None, **overrides: Any) -> None:
        base = config or EmulatorConfig()
        self.initial_config = base.model_validate({**base.model_dump(), **overrides}) if overrides else base
        self.state = EmulatorState(self.initial_config)
        self.app = EmulatorApp(self.state)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        sock = bind_socket(self.initial_config.host, self.initial_config.port)
        started = threading.Event()
        failure: list[BaseException] = []
        server = build_uvicorn(self.app, on_started=started.set)

        def serve() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # reported to start(); a thread has no one else to tell
                failure.append(exc)
            finally:
                started.set()

        thread = threading.Thread(target=serve, name="openai-ads-emulator", daemon=True)
        thread.start()
        if not started.wait(STARTUP_TIMEOUT_S) or failure or not server.started:
            server.should_exit = True
            thread.join(STOP_TIMEOUT_S)
            sock.close()
            raise RuntimeError("the emulator did not start") from (failure[0] if failure else None)
        self._socket, self._server, self._thread = sock, server, thread
        self._url = url_of(self.initial_config.host, sock)
        return self

    def stop(self) -> None:
        """Stop serving (idempotent); open connections are closed."""
        server, thread, sock = self._server, self._thread, self._socket
        self._server = self._thread = self._socket = None
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive():
                raise RuntimeError("the emulator did not stop in time")
        if sock is not None:
            sock.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- addresses and identities --------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the client appends ``/v1/events``)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def api_key(self) -> str:
        """The first accepted API key."""
        return self.state.config.api_keys[0]

    @property
    def pixel_id(self) -> str:
        """The first known pixel id."""
        return self.state.config.pixel_ids[0]

    @property
    def events_url(self) -> str:
        """``{url}/v1/events?pid={pixel_id}``."""
        return f"{self.url}/v1/events?pid={self.pixel_id}"

    # -- in-process inspection and control -----------------------------------------------------

    @property
    def config(self) -> EmulatorConfig:
        """The settings in force."""
        return self.state.config

    def configure(self, **changes: Any) -> EmulatorConfig:
        """Change settings at runtime (validated, atomic); see :class:`EmulatorConfig`."""
        return self.state.configure(changes)

    def reset(self, *, restore_config: bool = False) -> None:
        """Clear events, dedup keys, statistics and request log; optionally restore start-up settings."""
        self.state.reset(restore_config=restore_config)

    def events(
        self, pid: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Accepted events exactly as sent (fresh objects), oldest first, optionally of one pixel."""
        return self.state.events(pid, offset=offset, limit=limit)

    def stats(self) -> EmulatorStats:
        return self.state.stats()

    def requests(self) -> list[RequestRecord]:
        """Outcomes of the latest ``POST /v1/events`` (no bodies, no keys), oldest first."""
        return self.state.requests()
