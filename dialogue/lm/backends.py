"""Which LM runtime writes the replies (HELPDESK_LM_BACKEND), and how a LoRA adapter is served with each.

- `llamacpp` (default): the GGUF file in llama.cpp, batched, prefix cached (dialogue/lm/llamacpp_generator.py).
  A LoRA adapter from `helpdesk train lm` is a peft folder over the transformers weights; while one is
  served, replies go through the transformers backend (loaded on demand), and back to llama.cpp when the
  adapter is dropped. llama.cpp can apply LoRA adapters, but only in its own GGUF format, and the converter
  (llama.cpp's convert_lora_to_gguf.py) is not part of the llama-cpp-python package.
- `transformers`: the model in PyTorch (any HF model or folder; what training uses).
- `openai`: an OpenAI-compatible server (dialogue/lm/openai_generator.py); no adapters here.
"""

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from core.errors import ModelUnavailable
from dialogue.lm.generator import ChatMessages, Generation, Generator, TextCallback
from dialogue.lm.transformers_generator import TransformersGenerator

log = logging.getLogger(__name__)

Backend = Literal["llamacpp", "transformers", "openai"]


@dataclass(frozen=True)
class LMConfig:
    backend: Backend
    model: str
    models_dir: Path
    adapter: Path | None = None
    device: str = "auto"
    slots: int = 8  # llamacpp: replies decoded together
    slot_tokens: int = 2048  # llamacpp: prompt + reply tokens one slot holds
    threads: int = 1  # llamacpp
    prompt_threads: int | None = None  # llamacpp: for steps that compute prompt tokens; None: `threads`
    weights: str = "f16"  # llamacpp: tensor type the GGUF is re-written to once ("original" keeps it)
    url: str = ""  # openai
    api_key: str | None = None
    timeout_seconds: float = 30.0
    retries: int = 2


def default_threads() -> int:
    """All cores but one: llama.cpp's threads spin while they wait for each other, and on a small machine a
    core left free is what keeps FAQ answers (the query embedding) fast while replies are written."""
    return max(1, (os.cpu_count() or 1) - 1)


def default_prompt_threads() -> int:
    """Every core: a prompt is computed in one burst before the first token, and on a quiet 2-core machine
    two threads took the first text from 547 to 297 ms (bench/chat_latency.py, docs/generation.md). Between
    bursts the cores are free again for FAQ answers (p50 22 ms while 8 replies were written)."""
    return max(1, len(os.sched_getaffinity(0)))


def build_generator(config: LMConfig) -> Generator:
    """Constructs the backend; nothing is loaded until its `warm_up()`."""
    if config.backend == "transformers":
        return TransformersGenerator(config.model, config.models_dir, config.adapter, config.device)
    if config.backend == "openai":
        from dialogue.lm.openai_generator import OpenAIGenerator

        if not config.url:
            raise ModelUnavailable("HELPDESK_LM_BACKEND=openai needs HELPDESK_LM_URL (e.g. http://host:8000/v1).")
        if config.adapter is not None:
            raise ModelUnavailable(
                f"The openai LM backend cannot apply the LoRA adapter {config.adapter}: serve it on the inference "
                "server, and unset HELPDESK_LM_ADAPTER or set HELPDESK_LOAD_PROMOTED_MODELS=false.")
        return OpenAIGenerator(config.url, config.model, api_key=config.api_key,
                               timeout_seconds=config.timeout_seconds, retries=config.retries)
    return LlamaCppWithAdapters(config)


class LlamaCppWithAdapters:
    """llama.cpp for the base model; transformers while a LoRA adapter is served (see the module doc)."""

    def __init__(self, config: LMConfig):
        from dialogue.lm.llamacpp_generator import LlamaCppGenerator

        self.config = config
        self.fast = LlamaCppGenerator(config.model, config.models_dir, slots=config.slots,
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
                    self.adapted = TransformersGenerator(self.config.model, self.config.models_dir, None,
                                                         self.config.device)
                self.adapted.use_adapter(adapter)
                self._active = self.adapted
        log.info("Now serving %s", self.model_id)
        return self.model_id

    def count_tokens(self, text: str) -> int:
        return self._active.count_tokens(text)

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None) -> Generation:
        return self._active.generate(messages, max_new_tokens=max_new_tokens, temperature=temperature,
                                     on_text=on_text)

    def close(self) -> None:
        self.fast.close()
