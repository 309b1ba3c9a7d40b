"""Closing a connection without any HTTP response (the ``rate_drop`` fault).

ASGI cannot express "no response": uvicorn answers 500 to an app that returns or raises before
starting one. So the emulator serves HTTP with a thin subclass of uvicorn's httptools protocol
that hands the connection's ``abort`` to the app as an ASGI extension.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from airflow_provider_openai_ads.emulator.asgi import Receive, Scope

DROP_EXTENSION = "openai_ads_emulator.drop"


class DroppingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol plus ``scope["extensions"][DROP_EXTENSION]["abort"]``."""

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {DROP_EXTENSION: {"abort": self.transport.abort}}


async def drop_connection(scope: Scope, receive: Receive) -> None:
    """Abort the request's TCP connection, then wait until the server has noticed.

    Waiting for ``http.disconnect`` keeps uvicorn from treating the app as one that returned
    without answering. Without the extension (another protocol class), uvicorn's request cycle,
    which owns the transport, is used instead.
    """
    extension = (scope.get("extensions") or {}).get(DROP_EXTENSION)
    if extension is not None:
        abort = extension["abort"]
    else:
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None:
            raise RuntimeError("dropping a connection needs the emulator's uvicorn protocol class")
        abort = transport.abort
    abort()
    while (await receive())["type"] != "http.disconnect":
        pass
