"""The llama.cpp backend: the GGUF file served as it is (no conversion), batched, with the prompt prefix kept."""

import codecs
import functools
import json
import logging
import random
import time
from pathlib import Path

from core.errors import LMUnavailable, ModelUnavailable
from dialogue.lm.choices import ChoiceTokens, choice_probabilities, choice_tokens
from dialogue.lm.context_fit import fit_prompt
from dialogue.lm.generator import ChatMessages, Generation, TextCallback, tidy
from dialogue.lm.gguf_weights import auto_weights, file_type, retyped_gguf
from dialogue.lm.requests import Finished, Request, Scores
from dialogue.lm.sources import resolve_gguf

log = logging.getLogger(__name__)


class LlamaCppGenerator:
    """A GGUF model in llama.cpp; concurrent `generate` calls are decoded together (dialogue/lm/llamacpp_engine.py)."""

    def __init__(self, model: str, models_dir: Path, *, slots: int = 8, slot_tokens: int = 2048,
                 threads: int = 1, prompt_threads: int | None = None, weights: str = "auto"):
        self.model_name = model
        self.models_dir = models_dir
        self.weights = weights
        self.slots, self.slot_tokens, self.threads = slots, slot_tokens, threads
        self.prompt_threads = prompt_threads or threads  # for steps that compute prompt tokens
        self.model_id = self.base_model_id = model
        self.calls = 0  # generations served; lets operators (and tests) see when the LM ran
        self.engine = None
        self._model = None
        self._formatter = None

    def warm_up(self) -> None:
        if self.engine is not None:
            return
        from llama_cpp import llama_cpp as lib
        from llama_cpp._internals import LlamaModel
        from llama_cpp._logger import set_verbose
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        from dialogue.lm.llamacpp_engine import BatchedEngine

        # llama.cpp logs every graph it builds (dozens of lines a token) through a Python callback: errors only.
        set_verbose(False)
        path, model_id = resolve_gguf(self.model_name, self.models_dir)
        weights, why = self.weights, f"HELPDESK_LM_WEIGHTS={self.weights}"
        if weights == "auto":
            weights, why = auto_weights(file_type(path))
        if weights != "original":
            path = retyped_gguf(path, self.models_dir, weights)
        log.info("llama.cpp reads %s (%s)", path.name, why)
        params = lib.llama_model_default_params()
        try:
            model = LlamaModel(path_model=str(path), params=params, verbose=False)
        except ValueError as error:
            raise ModelUnavailable(f"llama.cpp cannot load {path}: {error}") from error
        metadata = model.metadata()
        template = metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelUnavailable(f"{path} carries no chat template (tokenizer.chat_template).")
        self._formatter = Jinja2ChatFormatter(
            template, eos_token=model.token_get_text(model.token_eos()),
            bos_token=model.token_get_text(model.token_bos()))
        self._model = model
        self.engine = BatchedEngine(model, slots=self.slots, slot_tokens=self.slot_tokens, threads=self.threads,
                                    prompt_threads=self.prompt_threads)
        self.model_id = self.base_model_id = model_id
        log.info("llama.cpp serves %s: %d slots of %d tokens, %d threads (%d for prompts)", model_id, self.slots,
                 self.slot_tokens, self.threads, self.prompt_threads)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.close()
            self.engine = None

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._model.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def prompt_tokens(self, messages: ChatMessages, max_new_tokens: int = 0) -> list[int]:
        """The chat template's text for `messages`, tokenized with its special tokens, and fitted into a slot
        next to `max_new_tokens` (the oldest history first, dialogue/lm/context_fit.py)."""
        self.warm_up()
        limit = max(self.slot_tokens - 1 - max_new_tokens, self.slot_tokens // 2)
        return fit_prompt(messages, self._render, limit)

    def _render(self, messages: ChatMessages) -> list[int]:
        prompt = self._formatter(messages=messages).prompt
        return self._model.tokenize(prompt.encode("utf-8"), add_bos=self._model.add_bos_token(), special=True)

    def generate(self, messages: ChatMessages, *, max_new_tokens: int, temperature: float,
                 on_text: TextCallback | None = None, json_schema: dict | None = None) -> Generation:
        prompt = self.prompt_tokens(messages, max_new_tokens)
        started = time.perf_counter()
        grammar = json_grammar(json.dumps(json_schema, sort_keys=True)) if json_schema is not None else None
        request = self.engine.submit(Request(prompt, max_new_tokens, temperature, random.getrandbits(31),
                                             grammar=grammar))
        self.calls += 1
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        new_tokens, started_text = 0, False
        try:
            while not isinstance(item := request.tokens.get(), Finished):
                if isinstance(item, Exception):
                    raise LMUnavailable(f"llama.cpp failed while writing a reply: {item}") from item
                new_tokens += 1
                piece = decoder.decode(self._model.detokenize([item]))
                if not started_text:  # the answer's leading whitespace is dropped, as `tidy` drops it
                    piece = piece.lstrip()
                    started_text = bool(piece)
                pieces.append(piece)
                if on_text and piece:
                    on_text(piece)
        finally:
            request.cancelled = True  # a no-op once finished; stops the slot if the reader failed
        text = "".join(pieces) + decoder.decode(b"", final=True)
        return Generation(text=tidy(text, cut_unfinished=not item.end_of_text), model_id=self.model_id,
                          prompt_tokens=len(prompt), new_tokens=new_tokens,
                          seconds=time.perf_counter() - started)

    def choice_probabilities(self, messages: ChatMessages, choices: tuple[str, ...]) -> dict[str, float]:
        """How likely the reply to `messages` begins with each word of `choices` (dialogue/lm/choices.py): one pass
        over the prompt in the engine, no token written."""
        prompt = self.prompt_tokens(messages, 1)
        tokens = self._choice_tokens(tuple(choices))
        request = self.engine.submit(Request(prompt, 1, 0.0, 0, score=frozenset().union(*tokens.values())))
        self.calls += 1
        scores = None
        while not isinstance(item := request.tokens.get(), Finished):
            if isinstance(item, Exception):
                raise LMUnavailable(f"llama.cpp failed while reading a judgement: {item}") from item
            if isinstance(item, Scores):
                scores = item
        if scores is None:
            raise LMUnavailable("llama.cpp handed back no scores for a judgement")
        return choice_probabilities(scores.logits.__getitem__, tokens)

    @functools.lru_cache(maxsize=8)  # noqa: B019 (one generator per process, a handful of choice sets)
    def _choice_tokens(self, choices: tuple[str, ...]) -> ChoiceTokens:
        return choice_tokens(choices, lambda text: self._model.tokenize(text.encode("utf-8"), add_bos=False,
                                                                        special=False),
                             lambda token: self._model.detokenize([token]).decode("utf-8", "replace"))


@functools.lru_cache(maxsize=16)
def json_grammar(schema: str) -> str:
    """llama.cpp's grammar (GBNF) for JSON of `schema`, by llama-cpp-python's own converter."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema)

