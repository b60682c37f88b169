"""Which LM runtime writes the replies (HELPDESK_LM_BACKEND), and how a LoRA adapter is served with each.

- `auto` (default): `transformers` when PyTorch sees a GPU (batched, bf16), `llamacpp` otherwise.
- `llamacpp`: the GGUF file in llama.cpp, batched, prefix cached (dialogue/lm/llamacpp_generator.py).
  A LoRA adapter from `helpdesk train lm` is a peft folder over the transformers weights; while one is
  served, replies go through the transformers backend (loaded on demand), and back to llama.cpp when the
  adapter is dropped. llama.cpp can apply LoRA adapters, but only in its own GGUF format, and the converter
  (llama.cpp's convert_lora_to_gguf.py) is not part of the llama-cpp-python package.
- `transformers`: the model in PyTorch (any HF model or folder; what training uses), replies written
  together (dialogue/lm/batching.py), adapters per reply (dialogue/lm/adapters.py).
- `openai`: an OpenAI-compatible server (dialogue/lm/openai_generator.py); adapters are loaded into a vLLM
  server through its runtime LoRA API (dialogue/lm/lora_server.py).
"""

import importlib.util
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.devices import choose_device
from core.errors import ModelUnavailable
from dialogue.lm.generator import ChatMessages, Generation, Generator, TextCallback
from dialogue.lm.transformers_generator import TransformersGenerator

log = logging.getLogger(__name__)

Backend = Literal["auto", "llamacpp", "transformers", "openai"]
LLAMACPP_SLOTS = 8  # llamacpp replies at once when HELPDESK_LM_SLOTS is 0


@dataclass(frozen=True)
class LMConfig:
    backend: Backend
    model: str
    models_dir: Path
    adapter: Path | None = None
    device: str = "auto"
    slots: int = 0  # replies decoded together; 0: 8 on a CPU, 64 on a GPU
    slot_tokens: int = 2048  # prompt + reply tokens one reply may hold
    queue: int = 64  # transformers: replies waiting for a slot before the next one gets the fallback
    compile: bool = True  # transformers on CUDA: one reply alone through a compiled step (dialogue/lm/solo.py)
    dtype: str = "auto"  # transformers: auto, float32 or bfloat16 (core/devices.py lm_dtype)
    threads: int = 1  # llamacpp
    prompt_threads: int | None = None  # llamacpp: for steps that compute prompt tokens; None: `threads`
    weights: str = "auto"  # llamacpp: tensor type the GGUF is re-written to once (dialogue/lm/gguf_weights.py)
    url: str = ""  # openai
    api_key: str | None = None
    timeout_seconds: float = 30.0
    retries: int = 2
    adapters_dir: Path | None = None  # openai: the registry folder, as this process sees it
    server_adapters_dir: str = ""  # openai: the same folder as the inference server sees it ("": same path)


@dataclass(frozen=True)
class BackendChoice:
    """The runtime that writes replies, on which device, and why (shown by /health and at start-up)."""

    backend: Literal["llamacpp", "transformers", "openai"]
    device: str  # cpu, cuda, or "server" for openai
    reason: str


def choose_backend(config: LMConfig) -> BackendChoice:
    if config.backend == "openai":
        return BackendChoice("openai", "server", f"HELPDESK_LM_BACKEND=openai: the server at {config.url}")
    if config.backend == "llamacpp":
        return BackendChoice("llamacpp", "cpu", "HELPDESK_LM_BACKEND=llamacpp")
    device = choose_device(config.device)
    if config.backend == "transformers":
        return BackendChoice("transformers", device,
                             f"HELPDESK_LM_BACKEND=transformers, HELPDESK_DEVICE={config.device}")
    if device == "cuda":
        return BackendChoice("transformers", "cuda", "HELPDESK_LM_BACKEND=auto and PyTorch sees a CUDA GPU: "
                                                     "replies batched on it")
    why = "HELPDESK_DEVICE=cpu" if config.device == "cpu" else "PyTorch sees no CUDA GPU"
    if importlib.util.find_spec("llama_cpp") is None:  # scripts/install.sh compiles it in the background
        return BackendChoice("transformers", "cpu", f"HELPDESK_LM_BACKEND=auto and {why}, but llama.cpp is not "
                                                    "installed yet (scripts/install.sh builds it in the background, "
                                                    "log in data/llamacpp-build.log): restart when it is built")
    return BackendChoice("llamacpp", "cpu", f"HELPDESK_LM_BACKEND=auto and {why}: llama.cpp is the fastest on a CPU")


def default_threads() -> int:
    """All cores but one: llama.cpp's threads spin while they wait for each other, and on a small machine a
    core left free is what keeps FAQ answers (the query embedding) fast while replies are written."""
    return max(1, (os.cpu_count() or 1) - 1)


def default_prompt_threads() -> int:
    """Every core: a prompt is computed in one burst before the first token, and on a quiet 2-core machine
    two threads took the first text from 547 to 297 ms (bench/chat_latency.py, docs/generation.md). Between
    bursts the cores are free again for FAQ answers (p50 22 ms while 8 replies were written)."""
    return max(1, len(os.sched_getaffinity(0)))


def build_generator(config: LMConfig, choice: BackendChoice | None = None) -> Generator:
    """Constructs the backend `choice` (default: `choose_backend(config)`); nothing is loaded until `warm_up()`."""
    choice = choice or choose_backend(config)
    if choice.backend == "transformers":
        return transformers_generator(config, config.adapter, choice.device)
    if choice.backend == "openai":
        from dialogue.lm.lora_server import AdapterPaths
        from dialogue.lm.openai_generator import OpenAIGenerator

        if not config.url:
            raise ModelUnavailable("HELPDESK_LM_BACKEND=openai needs HELPDESK_LM_URL (e.g. http://host:8000/v1).")
        paths = AdapterPaths(config.adapters_dir, config.server_adapters_dir)
        return OpenAIGenerator(config.url, config.model, api_key=config.api_key, timeout_seconds=config.timeout_seconds,
                               retries=config.retries, adapter=config.adapter, adapter_paths=paths)
    return LlamaCppWithAdapters(config)


def transformers_generator(config: LMConfig, adapter: Path | None, device: str) -> TransformersGenerator:
    return TransformersGenerator(config.model, config.models_dir, adapter, device, slots=config.slots,
                                 queue_limit=config.queue, context_tokens=config.slot_tokens,
                                 solo=None if config.compile else False, dtype=config.dtype)


class LlamaCppWithAdapters:
    """llama.cpp for the base model; transformers while a LoRA adapter is served (see the module doc)."""

    def __init__(self, config: LMConfig):
        from dialogue.lm.llamacpp_generator import LlamaCppGenerator

        self.config = config
        self.fast = LlamaCppGenerator(config.model, config.models_dir, slots=config.slots or LLAMACPP_SLOTS,
                                      slot_tokens=config.slot_tokens, threads=config.threads,
                                      prompt_threads=config.prompt_threads, weights=config.weights)
        self.adapted: TransformersGenerator | None = None
        self._active: Generator = self.fast
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        return self._active.model_id

    @property
    def base_model_id(self) -> str:
        return self.fast.base_model_id

    @property
    def calls(self) -> int:
        return self.fast.calls + (self.adapted.calls if self.adapted else 0)

    @property
    def adapter(self) -> Path | None:
        return self.adapted.adapter if self._active is self.adapted else None

    def warm_up(self) -> None:
        self.fast.warm_up()
        if self.config.adapter is not None and self.adapted is None:
            self.use_adapter(self.config.adapter)

    def use_adapter(self, adapter: Path | None) -> str:
        """Serve `adapter` (through transformers) or the bare base model (through llama.cpp) from the next reply."""
        self.fast.warm_up()
        with self._lock:
            if adapter is None:
                self._active = self.fast
            else:
                if self.adapted is None:
                    self.adapted = transformers_generator(self.config, None, choose_device(self.config.device))
                self.adapted.use_adapter(adapter)
                self._active = self.adapted
        log.info("Now serving %s", self.model_id)
        return self.model_id

    def count_tokens(self, text: str) -> int:
        return self._active.count_tokens(text)

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None, json_schema: dict | None = None) -> Generation:
        return self._active.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature,
                                     on_text=on_text, json_schema=json_schema)

    def choice_probabilities(self, messages: ChatMessages, choices: tuple[str, ...]) -> dict[str, float]:
        return self._active.choice_probabilities(messages, choices)

    def close(self) -> None:
        self.fast.close()
        if self.adapted is not None:
            self.adapted.close()
