"""A real HTTP server on loopback that receives webhook deliveries the way a company's system would.

It records every request (raw body and headers), answers 200 unless told otherwise (`answer_next`: status
codes, or `SLOW` to answer only after the sender's timeout), and can hold every request until released
(`hold()` / `release()`), the way a stuck receiver does. `verify` checks a signature independently of
the bot's code, as docs/webhooks.md tells receivers to.
"""

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOW = "slow"  # answer 200, but only after `slow_seconds`


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    answered: int  # the status this receiver answered (0: it never answered, the sender gave up first)
    at: float = field(default_factory=time.monotonic)

    @property
    def event(self) -> dict:
        return json.loads(self.body)


def verify(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """The receiver's check: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">, no older than `tolerance`."""
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) <= tolerance


class Receiver:
    def __init__(self, port: int = 0, slow_seconds: float = 3.0):
        self.requests: list[Received] = []
        self.slow_seconds = slow_seconds
        self._script: list[int | str] = []
        self._released = threading.Event()
        self._released.set()
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/hooks/helpdesk"

    def start(self) -> "Receiver":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def answer_next(self, *answers: int | str) -> None:
        with self._lock:
            self._script.extend(answers)

    def answer_normally(self) -> None:
        """Forget what `answer_next` scripted: 200 from now on."""
        with self._lock:
            self._script.clear()

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def accepted(self) -> list[Received]:
        """Requests answered 2xx, in arrival order."""
        with self._lock:
            return [request for request in self.requests if 200 <= request.answered < 300]

    def wait_until(self, condition, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting until {what}; received {self.requests}")
                self._lock.wait(min(left, 0.1))

    def _record(self, request: Received) -> None:
        with self._lock:
            self.requests.append(request)
            self._lock.notify_all()

    def _next_answer(self) -> int | str:
        with self._lock:
            return self._script.pop(0) if self._script else 200

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver._released.wait()
                answer = receiver._next_answer()
                headers = {key.lower(): value for key, value in self.headers.items()}
                if answer == SLOW:  # recorded as never answered: the sender's timeout is shorter
                    receiver._record(Received(headers, body, 0))
                    time.sleep(receiver.slow_seconds)
                    answer = 200
                else:
                    receiver._record(Received(headers, body, answer))
                reply = json.dumps({"ok": 200 <= answer < 300}).encode()
                try:
                    self.send_response(answer)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender gave up (timeout) or died: that is what the test is about

            def log_message(self, *args) -> None:
                pass

        return Handler
