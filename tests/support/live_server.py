"""A real uvicorn server on a free loopback port, for clients that need a socket (browsers, socket.io)."""

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn


def free_port() -> int:
    """A loopback port no one listens on now, for a server started as a subprocess."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def live_server(app, startup_timeout: float = 30.0, **options) -> Iterator[str]:
    """Serve `app` in a background thread; yields its base URL, e.g. http://127.0.0.1:41234. `options` go to
    uvicorn.Config (e.g. http="h11")."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", **options))
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def wait_until_healthy(server, base: str, log_name: str, timeout: float = 300) -> None:
    """Wait for a `helpdesk serve` subprocess at `base` to answer /health; kill it and fail if it exits or
    takes longer than `timeout` seconds (its output is in `log_name`)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/health").status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise AssertionError(f"helpdesk serve did not start: {log_name}")
        time.sleep(0.2)
