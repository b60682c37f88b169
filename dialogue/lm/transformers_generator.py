"""The transformers backend: a causal LM in this process, replies written together, LoRA adapters per reply.

Concurrent `generate` calls are decoded in one batch (dialogue/lm/batching.py); each reply may use another
adapter (dialogue/lm/adapters.py). The weights are bf16 on CUDA and on a CPU that multiplies bf16 natively, fp32
on other CPUs (`HELPDESK_LM_DTYPE`, core/devices.py `lm_dtype`).
"""

import logging
import queue
import random
import threading
import time
from pathlib import Path

from core.devices import choose_device, lm_dtype
from core.errors import LMUnavailable, ModelUnavailable
from dialogue.lm.adapters import AdapterRouter, check_adapter
from dialogue.lm.choices import choice_probabilities, choice_tokens
from dialogue.lm.context_fit import fit_prompt
from dialogue.lm.generator import ChatMessages, Generation, TextCallback, tidy
from dialogue.lm.requests import Finished, Request
from dialogue.lm.sources import resolve_lm_source
from dialogue.lm.text_pieces import TextPieces

log = logging.getLogger(__name__)

DEFAULT_SLOTS = {"cpu": 8, "cuda": 64}


class TransformersGenerator:
    """A transformers causal LM with LoRA adapters; `slots` replies at once, `queue_limit` more waiting."""

    def __init__(self, model: str, models_dir: Path, adapter: Path | None = None, device: str = "auto", *,
                 slots: int = 0, queue_limit: int = 64, context_tokens: int = 2048, solo: bool | None = None,
                 dtype: str = "auto"):
        self.model_name = model
        self.models_dir = models_dir
        self.adapter = adapter
        self.device_setting = device
        self.slots_setting, self.queue_limit, self.context_setting = slots, queue_limit, context_tokens
        self.solo_setting = solo  # None: on CUDA only (dialogue/lm/solo.py)
        self.dtype_setting = dtype  # auto, float32 or bfloat16
        self.dtype = ""  # what it was loaded in, once loaded
        self.compile_seconds: float | None = None  # how long compiling the one-reply step took at warm-up
        self.model_id = model
        self.calls = 0  # generations served; lets operators (and tests) see when the LM ran
        self.base_model_id = model
        self.engine = None
        self._adapter_name: str | None = None
        self._tokenizer = None
        self._router: AdapterRouter | None = None
        self._warm = threading.Lock()
        self._switching = threading.Lock()  # one adapter change at a time
        self._ready = False
        self._serving = threading.Lock()  # model_id, adapter and its name change together

    def warm_up(self) -> None:
        if self._ready:
            return
        with self._warm:
            if self.engine is None:
                self._load()
                if self.adapter is not None:
                    self._switch(self.adapter)
            self._ready = True

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from dialogue.lm.batching import BatchingEngine

        source, self.model_id = resolve_lm_source(self.model_name, self.models_dir)
        device = choose_device(self.device_setting)
        self.dtype, dtype_reason = lm_dtype(self.dtype_setting, device)
        dtype = getattr(torch, self.dtype)
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype).to(device)
        except OSError as error:
            raise ModelUnavailable(
                f"Cannot load LM {source!r}: {error}. Set HELPDESK_LM_MODEL to an existing folder, "
                "a .gguf file, or a model id available offline."
            ) from error
        model.eval()
        self.base_model_id = self.model_id
        self.device, self._tokenizer = device, tokenizer
        self.context_tokens = min(self.context_setting, getattr(model.config, "max_position_embeddings", None)
                                  or self.context_setting)
        self.slots = self.slots_setting or DEFAULT_SLOTS.get(device, 8)
        self._router = AdapterRouter(model)
        eos = _eos_ids(model, tokenizer)
        self.engine = BatchingEngine(model, slots=self.slots, queue_limit=self.queue_limit, eos=eos,
                                     context_tokens=self.context_tokens, route=self._router.route,
                                     solo=self._solo(model, eos))
        log.info("transformers serves %s on %s in %s (%s): up to %d replies at once, %d more waiting, %d tokens of "
                 "context", self.model_id, device, self.dtype, dtype_reason, self.slots, self.queue_limit,
                 self.context_tokens)

    def _solo(self, model, eos: set[int]):
        from dialogue.lm.solo import SoloPath

        if not (self.solo_setting if self.solo_setting is not None else self.device == "cuda"):
            return None
        solo = SoloPath(model, eos, self.context_tokens)
        try:
            self.compile_seconds = solo.warm_up()
        except Exception:  # compiling is an optimisation: without it every reply goes through the batch
            log.exception("The one-reply fast path could not be compiled; every reply goes through the batch")
            return None
        return solo

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()

    def use_adapter(self, adapter: Path | None) -> str:
        """Serve `adapter` (a peft LoRA folder), or the bare base model for None, from the next reply on.

        Replies in progress finish with the adapter they started with, in the same batches as the new ones:
        nothing waits for them. A failed load leaves the previous adapter serving. Returns the new model id.
        """
        self.warm_up()
        with self._switching:
            return self._switch(adapter)

    def _switch(self, adapter: Path | None) -> str:
        name = None
        if adapter is not None:
            check_adapter(adapter)
            name = self._router.load(adapter, self.engine.between_steps)
            self.engine.solo = None  # compiled steps and peft's per-row adapters are not combined: all batched
        with self._serving:
            self._adapter_name, self.adapter = name, adapter
            self.model_id = self.base_model_id + (f"+{adapter.name}" if adapter else "")

        def tidy_adapters() -> None:
            for deleted in self._router.delete_unused(self.engine.adapters_in_use() | {name}):
                self.engine.forget_prefixes(deleted)

        self.engine.between_steps(tidy_adapters)
        log.info("Now serving %s", self.model_id)
        return self.model_id

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_tokens(self, messages: ChatMessages, max_new_tokens: int) -> tuple[list[int], int]:
        """The prompt's tokens (fitted to the context, the oldest history first) and how many of them are the
        system message, which most prompts share."""
        limit = max(self.context_tokens - max_new_tokens, self.context_tokens // 2)
        prompt = fit_prompt(messages, self._render, limit)
        if not messages or messages[0]["role"] != "system":
            return prompt, 0
        system = self._tokenizer.apply_chat_template(messages[:1], tokenize=True, return_dict=True)["input_ids"]
        return prompt, len(system) if prompt[: len(system)] == system else 0

    def _render(self, messages: ChatMessages) -> list[int]:
        return self._tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                   return_dict=True)["input_ids"]

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None, json_schema: dict | None = None) -> Generation:
        # `json_schema` is not enforced here (no grammar sampling in this engine): the prompt asks for the form.
        self.warm_up()
        prompt, prefix = self.prompt_tokens(messages, max_new_tokens)
        started = time.perf_counter()
        with self._serving:  # submitted under the name it was read with: a switch then sees it in use
            model_id = self.model_id
            request = self.engine.submit(Request(prompt, max_new_tokens, temperature, random.getrandbits(31),
                                                 prefix=prefix, adapter=self._adapter_name))
        self.calls += 1
        ids: list[int] = []
        pieces = TextPieces(self._tokenizer)
        try:
            while not isinstance(item := self._next(request), Finished):
                if isinstance(item, Exception):
                    raise (item if isinstance(item, LMUnavailable) else
                           LMUnavailable(f"The LM failed while writing a reply: {item}")) from item
                ids.append(item)
                if (piece := pieces.add(ids)) and on_text:
                    on_text(piece)
            if (rest := pieces.finish(ids)) and on_text:
                on_text(rest)
        finally:
            request.cancelled = True  # a no-op once finished; drops the reply from the batch if the reader failed
        text = self._tokenizer.decode(ids, skip_special_tokens=True)
        return Generation(text=tidy(text, cut_unfinished=not item.end_of_text), model_id=model_id,
                          prompt_tokens=len(prompt), new_tokens=len(ids), seconds=time.perf_counter() - started)

    def choice_probabilities(self, messages: ChatMessages, choices: tuple[str, ...]) -> dict[str, float]:
        """How likely the reply to `messages` begins with each word of `choices` (dialogue/lm/choices.py): one
        forward pass over the prompt, on the engine thread between two steps, with the adapter being served."""
        self.warm_up()
        prompt, _ = self.prompt_tokens(messages, 1)
        tokens = choice_tokens(choices, lambda text: self._tokenizer(text, add_special_tokens=False)["input_ids"],
                               lambda token: self._tokenizer.decode([token]))
        wanted = sorted(frozenset().union(*tokens.values()))
        engine, adapter = self.engine, self._adapter_name

        def first_token_logits() -> dict[int, float]:
            import torch

            if engine.route is not None:
                engine.route([adapter])
            ids = torch.tensor([prompt], device=engine.device)
            logits = engine.model(input_ids=ids, use_cache=False, logits_to_keep=1).logits[0, -1].float()
            return dict(zip(wanted, logits[wanted].tolist(), strict=True))

        try:
            logits = engine.between_steps(first_token_logits)
        except Exception as error:  # out of memory, a closed engine: the judgement is "cannot tell"
            raise LMUnavailable(f"The LM failed while reading a judgement: {error}") from error
        self.calls += 1
        return choice_probabilities(logits.__getitem__, tokens)

    def _next(self, request: Request):
        while True:
            try:
                return request.tokens.get(timeout=1.0)
            except queue.Empty:
                if not self.engine.alive:
                    raise LMUnavailable("The LM engine thread has stopped; restart the bot.") from None


def _eos_ids(model, tokenizer) -> set[int]:
    ids = {tokenizer.eos_token_id}
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    return {int(i) for i in ids if i is not None}
