"""A local HTTP server that answers like vLLM's OpenAI server with runtime LoRA updating: the one outside
service the openai backend's adapter tests need. It follows vLLM's own handlers
(vllm/entrypoints/openai/serving_models.py, serve/lora/api_router.py):

- without `VLLM_ALLOW_RUNTIME_LORA_UPDATING` (`runtime_lora=False`) the LoRA routes do not exist: 404
  `{"detail": "Not Found"}`;
- without `--enable-lora` (`enable_lora=False`) a load is a 400 saying LoRA is not enabled;
- a load of a name already loaded is a 400 "... has already been loaded."; a path with no adapter is a
  404 "No adapter found ..."; success is a 200 with a plain-text body; unloading an unknown name is a 404;
- `/v1/chat/completions` streams a reply naming the model it was asked for; an unknown model is a 404.

The server reads adapter paths as its own: `mounts` maps a server path prefix to the local folder it is.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class VllmState:
    base_model: str
    runtime_lora: bool = True
    enable_lora: bool = True
    mounts: dict[str, Path] = field(default_factory=dict)
    piece_seconds: float = 0.0  # wait between streamed pieces, to keep a reply in flight
    loaded: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # (path, body) in arrival order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def local(self, server_path: str) -> Path:
        for prefix, folder in self.mounts.items():
            if server_path.startswith(prefix.rstrip("/") + "/"):
                return folder / server_path[len(prefix.rstrip("/")) + 1:]
        return Path(server_path)


class _Handler(BaseHTTPRequestHandler):
    state: VllmState  # set on the subclass each server gets

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        with self.state.lock:
            self.state.calls.append((self.path, body))
        if self.path in ("/v1/load_lora_adapter", "/v1/unload_lora_adapter") and not self.state.runtime_lora:
            return self._json(404, {"detail": "Not Found"})
        if self.path == "/v1/load_lora_adapter":
            return self._load(body)
        if self.path == "/v1/unload_lora_adapter":
            return self._unload(body)
        if self.path == "/v1/chat/completions":
            return self._chat(body)
        return self._json(404, {"detail": "Not Found"})

    def _load(self, body: dict):
        name, path = body.get("lora_name"), body.get("lora_path")
        if not self.state.enable_lora:
            return self._error(400, "LoRA is not enabled. Use --enable-lora to enable LoRA.", "BadRequestError")
        if name in self.state.loaded:
            return self._error(400, f"The lora adapter '{name}' has already been loaded.", "InvalidUserInput")
        if not (self.state.local(path) / "adapter_config.json").is_file():
            return self._error(404, f"No adapter found for {path}", "NotFoundError")
        self.state.loaded[name] = path
        self._text(200, f"Success: LoRA adapter '{name}' added successfully.")

    def _unload(self, body: dict):
        name = body.get("lora_name")
        if self.state.loaded.pop(name, None) is None:
            return self._error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
        self._text(200, f"Success: LoRA adapter '{name}' removed successfully.")

    def _chat(self, body: dict):
        model = body["model"]
        if model != self.state.base_model and model not in self.state.loaded:
            return self._error(404, f"The model `{model}` does not exist.", "NotFoundError")
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for piece in ("Returns are free ", "within 30 days. ", f"(written by {model}.)"):
            chunk = {"model": model, "choices": [{"delta": {"content": piece}, "finish_reason": None}]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(self.state.piece_seconds)
        done = {"model": model, "choices": [{"delta": {}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 12}}
        self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())

    def _error(self, status: int, message: str, kind: str):
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": status}})

    def _json(self, status: int, body: dict):
        self._text(status, json.dumps(body), "application/json")

    def _text(self, status: int, text: str, content_type: str = "text/plain"):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def _handler(state: VllmState) -> type:
    return type("Handler", (_Handler,), {"state": state})


class VllmServer:
    """Started on a free port in a thread; `url` ends in /v1."""

    def __init__(self, state: VllmState):
        self.state = state
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
        self.url = f"http://127.0.0.1:{self._server.server_port}/v1"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
