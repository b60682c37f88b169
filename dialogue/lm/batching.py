"""Continuous batching for the transformers backend: replies written at the same time share forward passes.

One engine thread owns the model. Between two decoding steps it admits a waiting request (up to `slots`
replies at once): its prompt is computed in chunks of at most `PROMPT_CHUNK` tokens, one chunk per step, and
then it joins the batch (dialogue/lm/batch_cache.py keeps the rows' KV); every step computes the next token
of every reply in one forward pass. Each request has its own `max_new_tokens`, temperature and LoRA adapter
(dialogue/lm/adapters.py routes each row through its own). A request whose reader has gone (its
`cancelled` flag, set by the generator when the reader fails) leaves the batch at the next step.

The leading tokens of a prompt that many requests share (the system message) are kept per adapter: their
KV is copied instead of computed again (`PREFIXES` kept, least recently used dropped).

Bounded: more than `queue_limit` requests waiting is `Overloaded` at once (the customer gets the fallback),
never a hang. An out-of-memory error fails the newest replies of the batch only, and the batch is limited
to what fitted from then on. transformers' own continuous batching (`generate_batch`) was measured on this
CPU first: 110 s for 4 replies that `generate` wrote one after another in 23 s (docs/generation.md).
"""

import atexit
import inspect
import logging
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import torch

from core.errors import LMUnavailable
from dialogue.lm.batch_cache import BatchCache, decode_mask, prompt_mask
from dialogue.lm.cpu_pressure import CpuPressure
from dialogue.lm.requests import EngineStats, Finished, Overloaded, Request
from dialogue.lm.sampling import pick
from dialogue.lm.solo import SoloPath

log = logging.getLogger(__name__)

PROMPT_CHUNK = 512  # prompt tokens per step at most, so replies being written are not stalled by a long prompt
PREFIXES = 4  # shared prompt prefixes (system messages) whose KV is kept
OUT_OF_MEMORY = (torch.OutOfMemoryError,)
# Engines still running when the interpreter exits are closed first: a daemon thread woken during shutdown
# is unwound through PyTorch's C++ frames, which aborts the process ("terminate called without an active
# exception") and turns a clean exit into status 134.
_RUNNING: "weakref.WeakSet[BatchingEngine]" = weakref.WeakSet()


@dataclass
class _Row:
    request: Request
    position: int  # the next token's position in the reply's sequence (prompt + tokens written)
    next_token: int = 0
    generated: int = 0
    reused: int = 0
    sampler: torch.Generator | None = None


@dataclass
class _Prefill:
    request: Request
    cache: BatchCache
    done: int  # prompt tokens whose KV is in `cache`
    reused: int


@dataclass
class _Command:
    run: Callable[[], object]
    result: Future = field(default_factory=Future)


class BatchingEngine:
    """The engine thread and its queue. `route(names)` (from dialogue/lm/adapters.py) is called before every
    forward pass with each row's adapter name, or is None while no adapter was ever loaded."""

    def __init__(self, model, *, slots: int, queue_limit: int, eos: set[int], context_tokens: int,
                 route: Callable[[list[str | None]], None] | None = None, solo: SoloPath | None = None):
        self.model = model
        self.slots, self.queue_limit, self.eos, self.context_tokens = slots, queue_limit, eos, context_tokens
        self.route = route
        self.solo = solo  # dialogue/lm/solo.py: one base-model reply alone through a compiled step (GPU)
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        # On a contended CPU a step's threads wait for each other: a batch-8 step took 4.3 s on 2 threads and
        # 0.5 s on one (load ~25 on 2 cores). As the llama.cpp engine does, one thread while the CPU is busy.
        self.threads = torch.get_num_threads()
        self.pressure = CpuPressure() if self.device.type == "cpu" and self.threads > 1 else None
        names = inspect.signature(type(model).forward).parameters
        self._cache_argument = "cache" if "cache" in names else "past_key_values"  # transformers >= 5.2x: cache
        self.stats = EngineStats()
        self._waiting: deque[Request] = deque()
        self._rows: list[_Row] = []
        self._batch: BatchCache | None = None
        self._prefill: _Prefill | None = None
        self._prefixes: OrderedDict[tuple, list] = OrderedDict()
        self._commands: list[_Command] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lm-batching", daemon=True)
        self._thread.start()
        _RUNNING.add(self)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def submit(self, request: Request) -> Request:
        with self._wake:
            if self._closed:
                raise LMUnavailable("The LM engine is closed.")
            if len(self._waiting) >= self.queue_limit:
                self.stats.overloaded += 1
                raise Overloaded(f"{len(self._waiting)} replies are already waiting for the LM "
                                 f"(HELPDESK_LM_QUEUE={self.queue_limit}); this one gets the fallback.")
            self._waiting.append(request)
            self._wake.notify()
        return request

    def between_steps(self, run: Callable[[], object]) -> object:
        """Runs `run` on the engine thread between two steps (the model is not in use) and returns its result."""
        command = _Command(run)
        with self._wake:
            if self._closed:
                return run()
            self._commands.append(command)
            self._wake.notify()
        return command.result.result()

    def forget_prefixes(self, adapter: str | None) -> None:
        for key in [key for key in self._prefixes if key[0] == adapter]:
            del self._prefixes[key]

    def adapters_in_use(self) -> set[str | None]:
        """The adapters of the replies being written or waiting (call between steps, see `between_steps`)."""
        with self._wake:
            requests = [row.request for row in self._rows] + list(self._waiting)
        if self._prefill is not None:
            requests.append(self._prefill.request)
        return {request.adapter for request in requests}

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=30)

    # -- the engine thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._wake:
                    while not (self._closed or self._waiting or self._rows or self._prefill or self._commands):
                        self._wake.wait()
                    if self._closed:
                        break
                    commands, self._commands = self._commands, []
                for command in commands:
                    _run_command(command)
                try:
                    self._step()
                except Exception as error:  # a failed step ends the replies in it, not the engine
                    log.exception("Generating replies failed")
                    self._fail_active(error)
        self._fail_active(LMUnavailable("The LM engine was closed."))
        with self._wake:
            waiting, self._waiting = list(self._waiting), deque()
        for request in waiting:
            request.tokens.put(LMUnavailable("The LM engine was closed."))

    def _step(self) -> None:
        self._drop_cancelled()
        if self.pressure is not None and (wanted := 1 if self.pressure.busy() else self.threads) != \
                torch.get_num_threads():
            torch.set_num_threads(wanted)
        if self._alone():
            with self._wake:
                request = self._waiting.popleft()
            try:
                self._write_alone(request)
            except OUT_OF_MEMORY as error:
                self._out_of_memory([request], error)
            except Exception as error:  # the fast path is an optimisation: without it, replies use the batch
                log.exception("The one-reply fast path failed; every reply goes through the batch from now on")
                self.solo = None
                request.tokens.put(error)
            return
        if self._prefill is None and self._waiting and len(self._rows) < self.slots:
            self._prefill = self._start(self._waiting.popleft())
        if self._prefill is not None:
            try:
                self._prefill_chunk()
            except OUT_OF_MEMORY as error:
                self._prefill_out_of_memory(error)
        if self._rows:
            try:
                self._decode()
            except OUT_OF_MEMORY as error:
                self._decode_out_of_memory(error)

    def _start(self, request: Request) -> _Prefill:
        self.stats.requests += 1
        self.stats.prompt_tokens += len(request.prompt)
        key = (request.adapter, tuple(request.prompt[: request.prefix]))
        prefix = self._prefixes.get(key) if 0 < request.prefix < len(request.prompt) else None
        if prefix is None:
            return _Prefill(request, BatchCache.empty(self.model.config, 1, self.dtype, self.device), 0, 0)
        self._prefixes.move_to_end(key)
        self.stats.reused_tokens += request.prefix
        return _Prefill(request, BatchCache.from_prefix(prefix, len(request.prompt) - request.prefix + 64),
                        request.prefix, request.prefix)

    def _prefill_chunk(self) -> None:
        job = self._prefill
        request = job.request
        end = min(job.done + PROMPT_CHUNK, len(request.prompt))
        if job.done < request.prefix < end:
            end = request.prefix  # stop at the shared prefix once, to keep its KV
        ids = torch.tensor([request.prompt[job.done: end]], device=self.device)
        positions = torch.arange(job.done, end, device=self.device)[None, :]
        mask = prompt_mask(job.cache, end - job.done, self.dtype)
        try:
            logits = self._forward(ids, positions, mask, job.cache, [request.adapter])
        finally:
            job.cache.settle()
        job.done = end
        if end == request.prefix and end < len(request.prompt):
            self._keep_prefix((request.adapter, tuple(request.prompt[:end])), job.cache.prefix(end))
        if end < len(request.prompt):
            return
        self._prefill = None
        row = _Row(request, position=len(request.prompt), reused=job.reused,
                   sampler=_sampler(request, self.device))
        if not self._emit(row, pick(logits, [request.temperature], [row.sampler])[0]):
            self._batch = job.cache if self._batch is None else self._batch.joined(job.cache)
            self._rows.append(row)

    def _alone(self) -> bool:
        return (self.solo is not None and not self._rows and self._prefill is None and len(self._waiting) == 1
                and self._waiting[0].adapter is None and len(self._waiting[0].prompt) < self.context_tokens - 1)

    def _write_alone(self, request: Request) -> None:
        """The only reply: through the solo path until it ends, or until another request arrives or its reader
        goes; then it continues in the batch from its KV."""
        self.stats.requests += 1
        self.stats.prompt_tokens += len(request.prompt)
        row = _Row(request, position=len(request.prompt) - 1)
        done = False

        def on_token(token: int) -> None:
            nonlocal done
            if not done:
                row.position += 1
                done = self._emit(row, token)

        if self.route is not None:
            self.route([None])
        kv = self.solo.generate(request, on_token, lambda: done or request.cancelled or bool(self._waiting))
        self.stats.steps += row.generated
        if done:
            return
        room = request.max_new_tokens - row.generated + 64
        self._batch = BatchCache.from_prefix([(k[:, :, : row.position], v[:, :, : row.position]) for k, v in kv], room)
        row.sampler = _sampler(request, self.device)
        self._rows.append(row)

    def _keep_prefix(self, key: tuple, kv: list) -> None:
        self._prefixes[key] = kv
        while len(self._prefixes) > PREFIXES:
            self._prefixes.popitem(last=False)

    def _decode(self) -> None:
        rows = self._rows
        ids = torch.tensor([[row.next_token] for row in rows], device=self.device)
        positions = torch.tensor([[row.position] for row in rows], device=self.device)
        mask = decode_mask(self._batch, self.dtype)
        started = time.perf_counter()
        try:
            logits = self._forward(ids, positions, mask, self._batch, [row.request.adapter for row in rows])
        finally:
            self._batch.settle()
        tokens = pick(logits, [row.request.temperature for row in rows], [row.sampler for row in rows])
        self.stats.decode_seconds += time.perf_counter() - started
        self.stats.decode_tokens += len(rows)
        self.stats.steps += 1
        self.stats.busiest_step = max(self.stats.busiest_step, len(rows))
        done = []
        for index, (row, token) in enumerate(zip(rows, tokens)):
            row.position += 1
            if self._emit(row, token):
                done.append(index)
        self._remove(done)

    def _forward(self, ids, positions, mask, cache: BatchCache, adapters: list[str | None]) -> torch.Tensor:
        if self.route is not None:
            self.route(adapters)
        output = self.model(input_ids=ids, position_ids=positions, attention_mask=mask, use_cache=True,
                            logits_to_keep=1, **{self._cache_argument: cache.cache})
        cache.after_forward(ids.shape[1])
        return output.logits[:, -1, :].float()

    def _emit(self, row: _Row, token: int) -> bool:
        """Hands `token` to the reader; True when the reply is finished."""
        request = row.request
        if token in self.eos:
            request.tokens.put(Finished(True, row.reused))
            return True
        request.tokens.put(token)
        row.generated += 1
        self.stats.new_tokens += 1
        if row.generated >= request.max_new_tokens or row.position + 1 >= self.context_tokens:
            request.tokens.put(Finished(False, row.reused))
            return True
        row.next_token = token
        return False

    def _remove(self, indexes: list[int]) -> None:
        if not indexes:
            return
        keep = [i for i in range(len(self._rows)) if i not in set(indexes)]
        batch = self._batch.kept(keep) if keep else None
        self._rows, self._batch = [self._rows[i] for i in keep], batch

    def _drop_cancelled(self) -> None:
        gone = [i for i, row in enumerate(self._rows) if row.request.cancelled]
        for i in gone:
            self._rows[i].request.tokens.put(Finished(False, self._rows[i].reused))
        self._remove(gone)
        if self._prefill is not None and self._prefill.request.cancelled:
            self._prefill.request.tokens.put(Finished(False, 0))
            self._prefill = None
        with self._wake:
            self._waiting = deque(request for request in self._waiting if not request.cancelled)

    # -- faults ------------------------------------------------------------------------------------------

    def _prefill_out_of_memory(self, error: Exception) -> None:
        """The newest request is the one whose prompt was being computed: it fails, the batch stays as it is."""
        request, self._prefill = self._prefill.request, None
        self.slots = max(1, len(self._rows))
        self._out_of_memory([request], error)

    def _decode_out_of_memory(self, error: Exception) -> None:
        """The newer half of the batch fails (at least one reply); the batch is limited to what is left."""
        failed = max(1, len(self._rows) // 2)
        newest = list(range(len(self._rows) - failed, len(self._rows)))
        requests = [self._rows[i].request for i in newest]
        self._remove(newest)
        self.slots = max(1, len(self._rows))
        self._out_of_memory(requests, error)

    def _out_of_memory(self, requests: list[Request], error: Exception) -> None:
        self.stats.out_of_memory += len(requests)
        log.warning("Out of memory while writing %d replies at once: the %d newest get the fallback, and at most "
                    "%d replies are written together from now on (%s)", len(self._rows) + len(requests),
                    len(requests), self.slots, error)
        for request in requests:
            request.tokens.put(LMUnavailable(f"The LM ran out of memory with {self.slots + len(requests)} "
                                             "replies at once."))
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _fail_active(self, error: Exception) -> None:
        for row in self._rows:
            row.request.tokens.put(error)
        if self._prefill is not None:
            self._prefill.request.tokens.put(error)
        self._rows, self._batch, self._prefill = [], None, None


@atexit.register
def _close_running() -> None:
    for engine in list(_RUNNING):
        engine.close()


def _run_command(command: _Command) -> None:
    try:
        command.result.set_result(command.run())
    except Exception as error:
        command.result.set_exception(error)


def _sampler(request: Request, device: torch.device) -> torch.Generator | None:
    if request.temperature <= 0:
        return None
    return torch.Generator(device=device).manual_seed(request.seed)
