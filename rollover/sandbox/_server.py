"""Serving the sandbox app with uvicorn on loopback, in a background thread or the foreground."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

START_TIMEOUT = 10.0


def _config(app: Starlette, host: str, port: int) -> Any:
    # The app dates its answers by the simulated site's clock (skew included), not uvicorn.
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        date_header=False,
    )


def listen(host: str, port: int) -> socket.socket:
    """A TCP listener bound to `host`:`port` (0: a free port), as the sandbox serves on."""
    # Binding here, not inside uvicorn, makes port 0 knowable before serving starts. The explicit
    # IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it a keep-alive answer's body waits out the client's delayed ACK (~40 ms a call).
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(128)
    return listener


def _base_url(listener: socket.socket) -> str:
    host, port = listener.getsockname()[:2]
    return f"http://{host}:{port}"


class SandboxServer:
    """The sandbox app served by uvicorn in a daemon thread; port 0 picks a free port."""

    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None

    @property
    def base_url(self) -> str:
        """Where the server listens, e.g. http://127.0.0.1:54321."""
        if self._socket is None:
            raise RuntimeError("the sandbox server is not started")
        return _base_url(self._socket)

    def start(self) -> None:
        """Bind, start serving in the background and return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        listener = listen(self._host, self._port)
        self._socket = listener
        self._server = uvicorn.Server(_config(self._app, self._host, self._port))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name="rollover-sandbox",
            daemon=True,
        )
        self._thread.start()
        started = threading.Event()
        deadline_checks = int(START_TIMEOUT / 0.01)
        for _ in range(deadline_checks):
            if self._server.started or not self._thread.is_alive():
                break
            started.wait(0.01)
        if not self._server.started:
            self.stop()
            raise RuntimeError(f"the sandbox server did not start on {self._host}:{self._port}")

    def stop(self) -> None:
        """Ask uvicorn to finish and wait for its thread; safe to call twice."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=START_TIMEOUT)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        self._server = None

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(
    app: Starlette,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `app` in the foreground until Ctrl-C (then return); `on_ready` gets the base URL."""
    listener = listen(host, port)
    try:
        if on_ready is not None:
            on_ready(_base_url(listener))
        uvicorn.Server(_config(app, host, port)).run(sockets=[listener])
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then re-raises Ctrl-C; stopping is the normal end here.
        pass
    finally:
        listener.close()
