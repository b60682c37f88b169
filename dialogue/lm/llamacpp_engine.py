"""Continuous batching over one llama.cpp context: many replies decoded together, prompt prefixes kept.

One engine thread owns the llama.cpp context. Each request gets a sequence (a "slot") of the context;
every step puts the next token of every replying slot, plus a chunk of any new prompt, into one
`llama_decode` call, so eight customers cost little more per step than one (a 135M model on a CPU is
bound by memory traffic, not arithmetic). A finished slot keeps its tokens' KV: the next request goes to
the free slot sharing the longest prefix with its prompt (at least the system instructions), and only the
rest of the prompt is computed.

ctypes releases the GIL during `llama_decode`, so the event loop and FAQ answers keep running meanwhile.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

import llama_cpp

from dialogue.lm.cpu_pressure import CpuPressure
from dialogue.lm.requests import EngineStats, Finished, Request, Scores

log = logging.getLogger(__name__)

PROMPT_CHUNK = 512  # prompt tokens per step at most, so replying slots are not stalled by a long prompt


@dataclass
class _Slot:
    seq: int
    cached: list[int] = field(default_factory=list)  # tokens whose KV this sequence holds, in order
    request: Request | None = None
    pending: list[int] = field(default_factory=list)  # prompt tokens still to compute
    next_token: int | None = None  # sampled, not yet computed
    generated: int = 0
    reused: int = 0
    sampler: object | None = None
    last_used: int = 0


class BatchedEngine:
    def __init__(self, model, *, slots: int, slot_tokens: int, threads: int, prompt_threads: int):
        self.model = model  # llama_cpp._internals.LlamaModel
        self.slot_tokens = slot_tokens
        # Steps that compute prompt tokens are arithmetic-bound, steps that only decode memory-bound: they may
        # want different thread counts (HELPDESK_LM_PROMPT_THREADS; docs/generation.md has the figures).
        # All the prompt threads only while the CPU is not contended (dialogue/lm/cpu_pressure.py).
        self.threads, self.prompt_threads = threads, prompt_threads
        self.pressure = CpuPressure()
        self._threads_now = threads
        self.stats = EngineStats()
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = slots * slot_tokens
        params.n_seq_max = slots
        params.n_batch = params.n_ubatch = PROMPT_CHUNK + slots
        params.n_threads = params.n_threads_batch = threads
        # One KV stream per sequence: the slots share no more than the system prompt, and llama.cpp
        # attends faster over separate streams then (see kv_unified in llama.h).
        params.kv_unified = False
        params.no_perf = True
        self._vocab = llama_cpp.llama_model_get_vocab(model.model)
        self._ctx = llama_cpp.llama_init_from_model(model.model, params)
        if self._ctx is None:
            raise RuntimeError("llama.cpp could not create a context (out of memory?)")
        self._memory = llama_cpp.llama_get_memory(self._ctx)
        self._batch = llama_cpp.llama_batch_init(params.n_batch, 0, 1)
        self._slots = [_Slot(seq) for seq in range(slots)]
        self._waiting: list[Request] = []
        self._wake = threading.Condition()
        self._clock = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="llama-engine", daemon=True)
        self._thread.start()

    def submit(self, request: Request) -> Request:
        if len(request.prompt) + 1 > self.slot_tokens:
            raise ValueError(f"The prompt has {len(request.prompt)} tokens; a slot holds {self.slot_tokens} "
                             "(HELPDESK_LM_SLOT_TOKENS).")
        with self._wake:
            if self._closed:
                raise RuntimeError("The llama.cpp engine is closed.")
            self._waiting.append(request)
            self._wake.notify()
        return request

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self._ctx)

    # -- the engine thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._closed and not self._waiting and not self._busy():
                    self._wake.wait()
                if self._closed:
                    break
                self._admit()
            try:
                self._step()
            except Exception as error:  # a failed decode ends the replies in it, not the engine
                log.exception("llama.cpp decoding failed")
                for slot in self._slots:
                    if slot.request is not None:
                        slot.request.tokens.put(error)
                        self._release(slot, keep_cache=False)
        for slot in self._slots:
            if slot.request is not None:
                slot.request.tokens.put(RuntimeError("The llama.cpp engine was closed."))

    def _busy(self) -> bool:
        return any(slot.request is not None for slot in self._slots)

    def _admit(self) -> None:
        """Waiting requests into free slots, each to the one sharing the longest prefix with its prompt."""
        while self._waiting:
            free = [slot for slot in self._slots if slot.request is None]
            if not free:
                return
            request = self._waiting.pop(0)
            try:
                sampler = _sampler(request, self._vocab)
            except ValueError as error:  # a grammar llama.cpp refuses fails its request, not the engine
                request.tokens.put(error)
                continue
            slot = max(free, key=lambda s: (_common_prefix(s.cached, request.prompt), -s.last_used))
            keep = min(_common_prefix(slot.cached, request.prompt), len(request.prompt) - 1)
            llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, keep, -1)
            self._clock += 1
            slot.cached, slot.pending = slot.cached[:keep], request.prompt[keep:]
            slot.request, slot.next_token, slot.generated, slot.reused = request, None, 0, keep
            slot.sampler, slot.last_used = sampler, self._clock
            self.stats.requests += 1
            self.stats.prompt_tokens += len(request.prompt)
            self.stats.reused_tokens += keep

    def _step(self) -> None:
        batch, wanted = self._batch, []  # wanted: (slot, index in the batch whose logits we sample)
        batch.n_tokens = 0
        for slot in self._slots:
            if slot.request is not None and slot.request.cancelled:
                slot.request.tokens.put(Finished(False, slot.reused))
                self._release(slot, keep_cache=not slot.pending)
            elif slot.request is not None and slot.next_token is not None:
                wanted.append((slot, self._add(slot, [slot.next_token], True)))
                slot.next_token = None
        decoding_only, room = True, PROMPT_CHUNK
        for slot in self._slots:
            if slot.request is not None and slot.pending and room > 0:
                chunk, slot.pending = slot.pending[:room], slot.pending[room:]
                room -= len(chunk)
                decoding_only = False
                index = self._add(slot, chunk, not slot.pending)
                if not slot.pending:
                    wanted.append((slot, index))
        if batch.n_tokens == 0:
            return
        threads = self.threads
        if not decoding_only and self.prompt_threads > self.threads and not self.pressure.busy():
            threads = self.prompt_threads
        if threads != self._threads_now:
            llama_cpp.llama_set_n_threads(self._ctx, threads, threads)  # a multi-token step uses the "batch" count
            self._threads_now = threads
        started = time.perf_counter()
        status = llama_cpp.llama_decode(self._ctx, batch)
        if status != 0:
            raise RuntimeError(f"llama_decode returned {status}")
        if decoding_only:
            self.stats.decode_seconds += time.perf_counter() - started
            self.stats.decode_tokens += batch.n_tokens
        self.stats.steps += 1
        self.stats.busiest_step = max(self.stats.busiest_step, len(wanted))
        for slot, index in wanted:
            if slot.request.score is not None:  # a yes/no judgement: the first token's logits, no reply
                logits = llama_cpp.llama_get_logits_ith(self._ctx, index)
                slot.request.tokens.put(Scores({token: float(logits[token]) for token in slot.request.score}))
                slot.request.tokens.put(Finished(True, slot.reused))
                self._release(slot, keep_cache=True)
                continue
            self._sampled(slot, llama_cpp.llama_sampler_sample(slot.sampler, self._ctx, index))

    def _add(self, slot: _Slot, tokens: list[int], logits_for_last: bool) -> int:
        batch = self._batch
        for token in tokens:
            i = batch.n_tokens
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, len(slot.cached), 1
            batch.seq_id[i][0], batch.logits[i] = slot.seq, False
            slot.cached.append(token)
            batch.n_tokens += 1
        batch.logits[batch.n_tokens - 1] = logits_for_last
        return batch.n_tokens - 1

    def _sampled(self, slot: _Slot, token: int) -> None:
        request = slot.request
        if llama_cpp.llama_vocab_is_eog(self.model.vocab, token):
            request.tokens.put(Finished(True, slot.reused))
            self._release(slot, keep_cache=True)
            return
        request.tokens.put(token)
        slot.generated += 1
        self.stats.new_tokens += 1
        if slot.generated >= request.max_new_tokens or len(slot.cached) + 1 >= self.slot_tokens:
            request.tokens.put(Finished(False, slot.reused))
            self._release(slot, keep_cache=True)
        else:
            slot.next_token = token

    def _release(self, slot: _Slot, keep_cache: bool) -> None:
        if not keep_cache:
            llama_cpp.llama_memory_seq_rm(self._memory, slot.seq, -1, -1)
            slot.cached = []
        if slot.sampler is not None:
            llama_cpp.llama_sampler_free(slot.sampler)
        slot.request, slot.sampler, slot.pending, slot.next_token = None, None, [], None


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _sampler(request: Request, vocab):
    """Greedy at temperature 0; else top-k 50, top-p 0.9 and temperature, like the transformers backend. A
    request's grammar comes first: only the tokens it allows are left to choose from, and once it is complete
    only the end of the text is."""
    temperature, seed = request.temperature, request.seed
    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if request.grammar is not None:
        grammar = llama_cpp.llama_sampler_init_grammar(vocab, request.grammar.encode(), b"root")
        if not grammar:
            llama_cpp.llama_sampler_free(chain)
            raise ValueError("llama.cpp could not parse the grammar")
        llama_cpp.llama_sampler_chain_add(chain, grammar)
    if temperature <= 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(50))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(0.9, 1))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(seed))
    return chain
