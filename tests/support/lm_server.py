"""A local OpenAI-compatible chat server whose replies a test writes, for the paths a real model rarely takes.

It is a real HTTP server on 127.0.0.1 speaking `/v1/chat/completions` with server-sent events, as vLLM and
llama.cpp's server do, reached by the product's own `OpenAIGenerator` (HELPDESK_LM_BACKEND=openai). Each
request is answered by the first rule whose marker occurs in its messages (a rewrite prompt, an answer prompt,
a question), with a fixed text or one written from the request (citing the snippet a test names by its number
in that prompt); a rule may wait before answering, to run past the bot's timeout. A request with `stream: false`
(the judge's yes/no) gets one JSON reply, with the first token's `top_logprobs` where the rule gives them. Every
request is recorded.
"""

import json
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Rule:
    marker: str  # answered when this text occurs in the request's messages
    reply: str | Callable[[list[dict]], str]
    delay_seconds: float = 0.0
    # For a request that asks for `logprobs` (the judge's yes/no): the first token's candidates and their
    # probabilities, sent as `top_logprobs`; None: a server that sends no logprobs.
    top_logprobs: dict[str, float] | None = None

    def text(self, messages: list[dict]) -> str:
        return self.reply(messages) if callable(self.reply) else self.reply


def snippet_number(messages: list[dict], title: str) -> int:
    """The number the prompt gives the snippet whose title is `title` ("[2] How do I return a device?")."""
    found = re.search(rf"\[(\d+)\] {re.escape(title)}\n", messages[-1]["content"])
    if not found:
        raise AssertionError(f"the prompt has no snippet {title!r}: {messages[-1]['content'][:400]}")
    return int(found[1])


class ScriptedLMServer:
    def __init__(self, model: str = "scripted-capable-lm") -> None:
        self.model = model
        self.requests: list[list[dict]] = []
        self.rules: list[Rule] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "ScriptedLMServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def script(self, *rules: Rule) -> None:
        self.rules = list(rules)
        self.requests.clear()

    def _reply(self, messages: list[dict]) -> Rule:
        text = "\n".join(str(message.get("content", "")) for message in messages)
        return next((rule for rule in self.rules if rule.marker in text), Rule("", '{"answer": null, "sources": []}'))

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                server.requests.append(body.get("messages", []))
                rule = server._reply(body.get("messages", []))
                if not body.get("stream"):
                    self._whole(rule, body)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                time.sleep(rule.delay_seconds / 2)
                words = rule.text(body.get("messages", [])).split(" ")
                try:
                    for index, word in enumerate(words):
                        piece = word if index == 0 else " " + word
                        self._event({"choices": [{"delta": {"content": piece}, "finish_reason": None}]})
                        if index == 0:
                            time.sleep(rule.delay_seconds / 2)
                    self._event({"choices": [{"delta": {}, "finish_reason": "stop"}],
                                 "usage": {"prompt_tokens": 100, "completion_tokens": len(words)}})
                    self.wfile.write(b"data: [DONE]\n\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the bot stopped reading (a timeout): nothing more to send

            def _whole(self, rule: Rule, body: dict) -> None:
                """A reply in one piece, as `stream: false` asks, with the first token's logprobs when asked."""
                time.sleep(rule.delay_seconds)
                text = rule.text(body.get("messages", []))
                choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                if body.get("logprobs") and rule.top_logprobs is not None:
                    top = [{"token": token, "logprob": math.log(p)} for token, p in rule.top_logprobs.items()]
                    choice["logprobs"] = {"content": [{"token": top[0]["token"], "logprob": top[0]["logprob"],
                                                       "top_logprobs": top}]}
                data = json.dumps({"choices": [choice], "usage": {"prompt_tokens": 100, "completion_tokens": 1}})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data.encode())))
                self.end_headers()
                try:
                    self.wfile.write(data.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _event(self, data: dict) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def log_message(self, *_) -> None:
                pass

        return Handler
