"""The LM on an inference server: any OpenAI-compatible `/v1/chat/completions` (vLLM, llama.cpp's server, TGI).

Replies stream (server-sent events). A connection failure, a timeout or a 5xx/429 answer before the first
piece of text is retried with a growing wait; after text has been shown it is not (the customer would see
the reply start twice). What still fails raises `LMUnavailable`, which the dialogue manager turns into the
fallback reply, the customer's turn already stored.

A LoRA adapter (`use_adapter`, the promoted one at start) is loaded into a vLLM server through its runtime
LoRA API (dialogue/lm/lora_server.py) and requests then name it as their `model`. The adapter it replaces
is unloaded once no reply in progress uses it, so a promotion or a rollback never cuts a reply short.
"""

import json
import logging
import math
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

from core.errors import LMUnavailable, ModelUnavailable
from dialogue.lm.choices import from_logprobs
from dialogue.lm.generator import ChatMessages, Generation, TextCallback, tidy
from dialogue.lm.lora_server import AdapterPaths, LoraServer

log = logging.getLogger(__name__)

RETRIED_STATUSES = {429, 500, 502, 503, 504}


class OpenAIGenerator:
    def __init__(self, url: str, model: str, *, api_key: str | None = None, timeout_seconds: float = 30.0,
                 connect_timeout_seconds: float = 3.0, retries: int = 2, backoff_seconds: float = 0.5,
                 adapter: Path | None = None, adapter_paths: AdapterPaths | None = None):
        url = url.rstrip("/")
        self.url = url if url.endswith("/v1") else url + "/v1"
        self.model = model
        self.model_id = self.base_model_id = model
        self.adapter = adapter  # served from warm_up() on
        self.calls = 0
        self.retries, self.backoff_seconds = retries, backoff_seconds
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            base_url=self.url, headers=headers,
            timeout=httpx.Timeout(timeout_seconds, connect=connect_timeout_seconds))
        self.lora = LoraServer(self._client, self.url)
        self.adapter_paths = adapter_paths or AdapterPaths(None)
        self._served: str | None = None  # the adapter's name on the server; None: the base model
        self._in_flight: Counter[str | None] = Counter()
        self._retiring: set[str] = set()  # replaced adapters, unloaded once no reply uses them
        self._lock = threading.Lock()
        self._switching = threading.Lock()
        # How a JSON form is asked for: OpenAI's `json_schema` (vLLM, llama.cpp's llama-server, OpenAI), else
        # `json_object` with a `schema` (llama-cpp-python's server), else the prompt alone. A form the server
        # refused before it ever took one is not sent again.
        self.response_formats = ["json_schema", "json_object"]
        self._format_taken = False

    def warm_up(self) -> None:
        if self.adapter is not None and self._served is None:
            self.use_adapter(self.adapter)

    def close(self) -> None:
        self._client.close()

    def use_adapter(self, adapter: Path | None) -> str:
        """Serve `adapter` (loaded into the server first), or the base model for None, from the next reply on."""
        with self._switching:
            name = adapter.name if adapter is not None else None
            if adapter is not None:
                self.lora.load(name, self.adapter_paths.on_server(adapter))
            with self._lock:
                previous, self._served, self.adapter = self._served, name, adapter
                self.model_id = self.base_model_id + (f"+{name}" if name else "")
                unload_now = previous not in (None, name) and not self._in_flight[previous]
                if previous not in (None, name) and not unload_now:
                    self._retiring.add(previous)
            if unload_now:
                self.lora.unload(previous)
        log.info("Now serving %s", self.model_id)
        return self.model_id

    def count_tokens(self, text: str) -> int:
        """An estimate (about four characters a token in English): the server's tokenizer is not here,
        and the count only bounds how much history goes into the prompt."""
        return math.ceil(len(text) / 4)

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None, json_schema: dict | None = None) -> Generation:
        with self._lock:
            served, model_id, adapter = self._served, self.model_id, self.adapter
            self._in_flight[served] += 1
        try:
            while True:
                body = self._body(messages, max_new_tokens, temperature, served, json_schema)
                try:
                    return self._generate(body, messages, on_text, served, model_id, adapter)
                except _FormatRefused as refused:
                    form = body["response_format"]["type"]
                    if form in self.response_formats:
                        self.response_formats.remove(form)
                    log.warning("The LM server at %s refused `response_format` %s (%s); %s", self.url, form,
                                refused, f"trying {self.response_formats[0]}" if self.response_formats
                                else "JSON forms are asked for in the prompt only")
        finally:
            with self._lock:
                self._in_flight[served] -= 1
                retire = served in self._retiring and not self._in_flight[served] and served != self._served
                if retire:
                    self._retiring.discard(served)
            if retire:
                self.lora.unload(served)

    def choice_probabilities(self, messages: ChatMessages, choices: tuple[str, ...]) -> dict[str, float]:
        """How likely the reply to `messages` begins with each word of `choices`, from the server's `logprobs` of
        the first token (vLLM, llama.cpp's server, OpenAI); a server that sends none gives its one-token reply as
        certain. One try, no stream: a judgement the server cannot give in time is "cannot tell" (LMUnavailable)."""
        with self._lock:
            served = self._served
        body = {"model": served or self.model, "messages": messages, "max_tokens": 1, "temperature": 0.0,
                "logprobs": True, "top_logprobs": 20}
        self.calls += 1
        try:
            response = self._client.post("/chat/completions", json=body)
        except httpx.TransportError as error:
            raise LMUnavailable(self._failure(error, 1)) from error
        if response.status_code != 200:
            raise LMUnavailable(f"The LM server at {self.url} refused a judgement: HTTP {response.status_code} "
                                f"{response.text[:300]}")
        try:
            choice = response.json()["choices"][0]
            first = ((choice.get("logprobs") or {}).get("content") or [{}])[0]
            text = str((choice.get("message") or {}).get("content") or "").strip().lower()
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise LMUnavailable(f"The LM server at {self.url} sent a malformed judgement: {response.text[:200]}") \
                from error
        probabilities = from_logprobs(first.get("top_logprobs") or [], choices)
        if probabilities is None:
            probabilities = {choice: float(text.startswith(choice)) for choice in choices}
        return probabilities

    def _body(self, messages: ChatMessages, max_new_tokens: int, temperature: float, served: str | None,
              json_schema: dict | None) -> dict:
        body = {"model": served or self.model, "messages": messages, "max_tokens": max_new_tokens,
                "temperature": temperature, "stream": True, "stream_options": {"include_usage": True}}
        if temperature > 0:
            body["top_p"] = 0.9
        if json_schema is not None and self.response_formats:
            body["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": "reply", "schema": json_schema, "strict": True}}
                if self.response_formats[0] == "json_schema" else {"type": "json_object", "schema": json_schema})
        return body

    def _generate(self, body, messages, on_text, served, model_id, adapter) -> Generation:
        started = time.perf_counter()
        self.calls += 1
        for attempt in range(self.retries + 1):
            pieces: list[str] = []
            try:
                finish, usage = self._stream(body, pieces, on_text)
                break
            except _AdapterGone as error:  # the server restarted and lost it: load it again, once
                if pieces or attempt == self.retries or adapter is None:
                    raise LMUnavailable(f"The LM server at {self.url} does not know the adapter {served}.") from error
                log.warning("The LM server at %s lost the LoRA adapter %s; loading it again", self.url, served)
                try:
                    self.lora.load(served, self.adapter_paths.on_server(adapter))
                except ModelUnavailable as failure:
                    raise LMUnavailable(str(failure)) from failure
            except (httpx.TransportError, _Retryable) as error:
                if pieces or attempt == self.retries:
                    raise LMUnavailable(self._failure(error, attempt + 1)) from error
                log.warning("LM server at %s: %s; retrying", self.url, error)
                time.sleep(self.backoff_seconds * 2 ** attempt)
        text = "".join(pieces)
        return Generation(text=tidy(text, cut_unfinished=finish == "length"), model_id=model_id,
                          # Servers that send no usage: the estimate, as for the history budget.
                          prompt_tokens=usage.get("prompt_tokens") or sum(self.count_tokens(m["content"])
                                                                          for m in messages),
                          new_tokens=usage.get("completion_tokens", len(pieces)),
                          seconds=time.perf_counter() - started)

    def _stream(self, body: dict, pieces: list[str], on_text: TextCallback | None) -> tuple[str | None, dict]:
        finish, usage = None, {}
        with self._client.stream("POST", "/chat/completions", json=body) as response:
            if "response_format" in body and not self._format_taken and response.status_code in (400, 422, 500):
                response.read()  # llama-cpp-python's server answers an unknown form with a 500
                raise _FormatRefused(f"HTTP {response.status_code} {response.text[:200]}")
            if response.status_code in RETRIED_STATUSES:
                raise _Retryable(f"HTTP {response.status_code}")
            if response.status_code == 404 and body["model"] != self.model:
                response.read()
                raise _AdapterGone(response.text[:200])
            if "response_format" in body and response.status_code == 200:
                self._format_taken = True
            if response.status_code != 200:
                response.read()
                raise LMUnavailable(f"The LM server at {self.url} refused the request: HTTP "
                                    f"{response.status_code} {response.text[:300]}")
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[len("data:"):].strip()
                if data == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except ValueError as error:
                    raise LMUnavailable(f"The LM server at {self.url} sent a malformed event: {data[:200]}") from error
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", [])[:1]:
                    finish = choice.get("finish_reason") or finish
                    piece = (choice.get("delta") or {}).get("content") or ""
                    if not pieces or not "".join(pieces).strip():
                        piece = piece.lstrip()  # the answer's leading whitespace, as `tidy` drops it
                    if piece:
                        pieces.append(piece)
                        if on_text:
                            on_text(piece)
        return finish, usage

    def _failure(self, error: Exception, attempts: int) -> str:
        return (f"The LM server at {self.url} did not answer ({type(error).__name__}: {error}) after "
                f"{attempts} attempt(s). Check HELPDESK_LM_URL and that the server is running.")


class _Retryable(Exception):
    """An answer worth asking again for (overloaded or restarting server)."""


class _FormatRefused(Exception):
    """The server refused the request's `response_format` (it takes no JSON schema)."""


class _AdapterGone(Exception):
    """The server answered 404 for the adapter's name: it was restarted since the adapter was loaded."""
