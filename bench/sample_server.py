"""What the HTTP benchmarks share: the real server on the sample knowledge base, and percentiles."""

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def sample_server(max_new_tokens: int, models_dir: str | None, startup_timeout: float = 300) -> Iterator[str]:
    """`helpdesk serve --sample-kb` on a free port with a fresh data folder; yields its base URL once healthy."""
    port = free_port()
    env = {**os.environ, "HELPDESK_DATA_DIR": tempfile.mkdtemp(prefix="helpdesk-bench-"),
           "HELPDESK_MAX_NEW_TOKENS": str(max_new_tokens)}
    if models_dir:
        env["HELPDESK_MODELS_DIR"] = models_dir
    server = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--sample-kb", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base, server, startup_timeout)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_healthy(base: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.time() + timeout
    with httpx.Client(base_url=base) as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.5)
