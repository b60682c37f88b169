"""Local HTTP servers that speak the Slack Web API and the Telegram Bot API, for tests.

They are real servers on 127.0.0.1 (the bot reaches them through its `*_API_URL` settings, over real
HTTP with the real clients), record every call, and can be told to fail the next calls, e.g. with
HTTP 429 and Retry-After, the way the platforms rate-limit.
"""

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Call:
    method: str  # the API method: "chat.postMessage", "sendMessage", ...
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Scripted:
    """A canned answer for the next call of `method`."""

    method: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class PlatformServer:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._script: list[Scripted] = []
        self._lock = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def root(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "PlatformServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self._script.clear()

    def fail_next(self, method: str, status: int, body: dict[str, Any], headers: dict[str, str] | None = None,
                  times: int = 1) -> None:
        with self._lock:
            self._script.extend(Scripted(method, status, body, headers or {}) for _ in range(times))

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 120.0) -> list[Call]:
        """Block until `count` calls of `method` arrived; fails the test with what did arrive otherwise."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len([c for c in self.calls if c.method == method]) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} {method} calls within {timeout} s; got {self.calls}")
                self._lock.wait(left)
            return [c for c in self.calls if c.method == method]

    # -- what a subclass defines -----------------------------------------------------------------------

    def route(self, path: str, headers: dict[str, str]) -> tuple[str | None, tuple[int, dict] | None]:
        """The API method a path names, or an error answer (status, body) for a bad path or token."""
        raise NotImplementedError

    def answer(self, call: Call) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    # -- plumbing --------------------------------------------------------------------------------------

    def _handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, dict[str, str]]:
        method, refusal = self.route(path, headers)
        if refusal is not None:
            return (*refusal, {})
        body = _parse_body(raw, headers.get("content-type", ""))
        call = Call(method, headers, body)
        with self._lock:
            scripted = next((s for s in self._script if s.method == method), None)
            if scripted is not None:
                self._script.remove(scripted)
            self.calls.append(call)
            self._lock.notify_all()
        if scripted is not None:
            return scripted.status, scripted.body, scripted.headers
        return (*self.answer(call), {})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {key.lower(): value for key, value in self.headers.items()}
                status, body, extra = server._handle(self.path, headers, raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(payload)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler


def _parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        return json.loads(raw)
    return dict(parse_qsl(raw.decode()))


class SlackApiServer(PlatformServer):
    """`/api/<method>` with `Authorization: Bearer <token>`, answering like Slack's Web API."""

    MAX_TEXT = 40_000

    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self._ts = 1_700_000_000

    @property
    def url(self) -> str:
        return f"{self.root}/api/"

    def route(self, path, headers):
        if not path.startswith("/api/"):
            return None, (404, {"ok": False, "error": "unknown_method"})
        if headers.get("authorization") != f"Bearer {self.token}":
            return None, (200, {"ok": False, "error": "invalid_auth"})
        return path.removeprefix("/api/"), None

    def answer(self, call):
        if call.method != "chat.postMessage":
            return 200, {"ok": False, "error": "unknown_method"}
        text, channel = call.body.get("text"), call.body.get("channel")
        if not channel:
            return 200, {"ok": False, "error": "channel_not_found"}
        if not text:
            return 200, {"ok": False, "error": "no_text"}
        if len(text) > self.MAX_TEXT:
            return 200, {"ok": False, "error": "msg_too_long"}
        self._ts += 1
        ts = f"{self._ts}.000100"
        return 200, {"ok": True, "channel": channel, "ts": ts,
                     "message": {"type": "message", "text": text, "ts": ts, "bot_id": "BBOT"}}

    def posted(self) -> list[dict[str, Any]]:
        return [call.body for call in self.calls_to("chat.postMessage")]


class TelegramApiServer(PlatformServer):
    """`/bot<token>/<method>`, answering like the Telegram Bot API."""

    MAX_TEXT = 4096

    def __init__(self, token: str):
        super().__init__()
        self.token = token
        self.webhook: dict[str, Any] = {}
        self._message_id = 1000

    @property
    def url(self) -> str:
        return self.root

    def route(self, path, headers):
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return None, (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        return path.removeprefix(prefix), None

    def answer(self, call):
        handler: Callable[[dict], tuple[int, dict]] | None = {
            "sendMessage": self._send_message, "setWebhook": self._set_webhook,
        }.get(call.method)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        return handler(call.body)

    def _send_message(self, body):
        text = body.get("text")
        if not isinstance(body.get("chat_id"), (int, str)):
            return 400, _bad("Bad Request: chat_id is empty")
        if not text:
            return 400, _bad("Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > self.MAX_TEXT:
            return 400, _bad("Bad Request: message is too long")
        self._message_id += 1
        return 200, {"ok": True, "result": {"message_id": self._message_id, "text": text,
                                            "chat": {"id": body["chat_id"]}, "date": int(time.time())}}

    def _set_webhook(self, body):
        if not str(body.get("url", "")).startswith(("https://", "http://")):
            return 400, _bad("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = body
        return 200, {"ok": True, "result": True, "description": "Webhook was set"}

    def sent(self) -> list[dict[str, Any]]:
        return [call.body for call in self.calls_to("sendMessage")]


def _bad(description: str) -> dict[str, Any]:
    return {"ok": False, "error_code": 400, "description": description}
