"""The emulator in a child process, for benchmarks: the client keeps its interpreter (and GIL)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

import airflow_provider_openai_ads
from airflow_provider_openai_ads.emulator.cli import BANNER, config_to_argv
from airflow_provider_openai_ads.emulator.config import EmulatorConfig

MODULE = "airflow_provider_openai_ads.emulator"
_BANNER_PREFIX = BANNER.split("{", 1)[0]


class EmulatorProcess:
    """``python -m airflow_provider_openai_ads.emulator`` as a context manager.

    Starts the child with the options of ``config`` (keyword arguments override its fields),
    reads the URL from its banner line, and stops it with SIGTERM. Inspection and control go
    over HTTP (``/_emulator/...``). The child imports this same source tree.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        python: str = sys.executable,
        startup_timeout: float = 15.0,
        log_level: str = "warning",
        **overrides: Any,
    ) -> None:
        base = config or EmulatorConfig()
        self.config = base.model_validate({**base.model_dump(), **overrides}) if overrides else base
        self._command = [python, "-m", MODULE, *config_to_argv(self.config), "--log-level", log_level]
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[str] | None = None
        self._url: str | None = None

    def start(self) -> EmulatorProcess:
        if self._process is not None:
            raise RuntimeError("the emulator process is already running")
        package_root = str(Path(airflow_provider_openai_ads.__file__).resolve().parent.parent)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        process = subprocess.Popen(self._command, stdout=subprocess.PIPE, text=True, env=env)
        assert process.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        try:
            line = lines.get(timeout=self._startup_timeout)
        except queue.Empty:
            line = ""
        if not line.startswith(_BANNER_PREFIX):
            _terminate(process)
            raise RuntimeError(f"the emulator process did not start (exit status {process.returncode})")
        self._process = process
        self._url = line[len(_BANNER_PREFIX) :].strip()
        return self

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit status (idempotent)."""
        process, self._process = self._process, None
        if process is None:
            return None
        return _terminate(process, timeout)

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._url is None or self._process is None:
            raise RuntimeError("the emulator process is not running")
        return self._url

    @property
    def pid(self) -> int:
        """The child's process id."""
        if self._process is None:
            raise RuntimeError("the emulator process is not running")
        return self._process.pid

    @property
    def api_key(self) -> str:
        return self.config.api_keys[0]

    @property
    def pixel_id(self) -> str:
        return self.config.pixel_ids[0]

    # -- control over HTTP ---------------------------------------------------------------------

    def _call(
        self, method: str, route: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> Any:
        """One control request (the standard library's client: httpx stays in the API client module)."""
        url = f"{self.url}/_emulator/{route}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if json is None else orjson.dumps(json)
        request = urllib.request.Request(
            url, data=data, method=method, headers={"Content-Type": "application/json"} if data else {}
        )
        with urllib.request.urlopen(request, timeout=30.0) as response:
            return orjson.loads(response.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "stats")

    def events(
        self, pid: str | None = None, *, offset: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"offset": offset}
        if pid is not None:
            params["pid"] = pid
        if limit is not None:
            params["limit"] = limit
        return self._call("GET", "events", params=params)["events"]

    def configure(self, **changes: Any) -> dict[str, Any]:
        return self._call("POST", "config", json=changes)

    def reset(self, *, restore_config: bool = False) -> None:
        self._call("POST", "reset", json={"restore_config": restore_config})


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    """Forward the child's stdout lines; draining it also keeps the child from ever blocking on it."""
    for line in stream:
        lines.put(line)
    lines.put("")


def _terminate(process: subprocess.Popen[str], timeout: float = 10.0) -> int | None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
