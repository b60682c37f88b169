"""What the HTTP benchmarks share: the real server on the sample knowledge base, and percentiles."""

import os
import signal
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
    server = SampleServer(Path(tempfile.mkdtemp(prefix="helpdesk-bench-")), models_dir,
                          {"HELPDESK_MAX_NEW_TOKENS": str(max_new_tokens)}, log=None)
    server.start(startup_timeout)
    try:
        yield server.base
    finally:
        server.stop()


class SampleServer:
    """One `helpdesk serve --sample-kb` that can be killed (SIGKILL) and started again on the same port, data
    folder and database, as a crashed and restarted deployment would be."""

    def __init__(self, data_dir: Path, models_dir: str | None, env: dict[str, str], log: Path | None,
                 args: list[str] | None = None):
        self.port = free_port()
        self.args = args or []  # more `helpdesk serve` options, e.g. ["--workers", "2"]
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {**os.environ, "HELPDESK_DATA_DIR": str(data_dir), **env}
        if models_dir:
            self.env["HELPDESK_MODELS_DIR"] = models_dir
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 300) -> float:
        """Starts the server and returns once /health answers 200; the seconds that took."""
        started = time.monotonic()
        output = self.log.open("a") if self.log else subprocess.DEVNULL  # a file, not a pipe nobody drains
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--sample-kb", "--port", str(self.port),
             *self.args],
            env=self.env, stdout=output, stderr=subprocess.STDOUT, cwd=ROOT,
            start_new_session=True)  # its own process group: `kill` reaches every worker
        _wait_until_healthy(self.base, self.process, timeout, self.log)
        return time.monotonic() - started

    def kill(self) -> None:
        """`kill -9` of the server and all its workers: no drain, no clean-up, requests in flight die with it."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)


def _wait_until_healthy(base: str, server: subprocess.Popen, timeout: float, log: Path | None) -> None:
    deadline = time.time() + timeout
    with httpx.Client(base_url=base) as client:
        while True:
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.time() > deadline or server.poll() is not None:
                server.kill()
                raise SystemExit(f"server did not start{f' (see {log})' if log else ''}")
            time.sleep(0.2)
