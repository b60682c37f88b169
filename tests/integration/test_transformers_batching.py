"""The transformers backend writes concurrent replies together (dialogue/lm/batching.py), on the embedded
SmolLM2 on the CPU: the same greedy replies as one at a time, each customer's text streamed in order, a
reader that goes away dropped, a bound on waiting replies, prompts fitted to the context, out-of-memory
failing only the newest replies, and LoRA adapters of base and adapted customers in one batch."""

import threading
import time

import pytest
import torch

from core.errors import LMUnavailable
from dialogue.lm.requests import Overloaded
from dialogue.lm.sources import resolve_lm_source
from dialogue.lm.transformers_generator import TransformersGenerator
from tests.integration.test_llamacpp_backend import SYSTEM, ask
from tests.support.lm_models import random_lora_adapter, tiny_llama

pytestmark = pytest.mark.integration

QUESTIONS = ["How long do I have to return a device?", "Can I return a device I opened?",
             "Do you sell gift cards?", "Is a return free?"]
TOKENS = 16


@pytest.fixture(scope="module")
def batched(models_dir) -> TransformersGenerator:
    # fp32: replies written together are then exactly those written alone (the masks and positions are exact).
    # In bf16 (HELPDESK_LM_DTYPE=auto on a CPU with native bf16) the rounding depends on the batch's shape.
    generator = TransformersGenerator("default", models_dir, device="cpu", slots=4, queue_limit=8, dtype="float32")
    generator.warm_up()
    yield generator
    generator.close()


@pytest.fixture(scope="module")
def alone(batched) -> dict[str, str]:
    """Each question's greedy reply from the base model, written with nothing else in the batch."""
    batched.use_adapter(None)
    return {question: batched.generate(ask(question), max_new_tokens=TOKENS, temperature=0).text
            for question in QUESTIONS}


def at_once(generator, jobs: list, **kwargs) -> list:
    """Runs `generator.generate(messages, **kwargs | job kwargs)` for each job from its own thread, released
    together; returns the Generation or the exception of each."""
    results: list = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def run(index: int) -> None:
        messages, extra = jobs[index]
        start.wait()
        try:
            results[index] = generator.generate(messages, **(kwargs | extra))
        except Exception as error:  # noqa: BLE001 (the test looks at what each caller got)
            results[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return results


def test_replies_written_together_are_the_replies_written_alone(batched, alone):
    before = batched.engine.stats.busiest_step
    results = at_once(batched, [(ask(q), {}) for q in QUESTIONS], max_new_tokens=TOKENS, temperature=0)
    assert [run.text for run in results] == [alone[q] for q in QUESTIONS]
    assert batched.engine.stats.busiest_step >= 3 > before  # they shared decoding steps
    assert all(run.new_tokens <= TOKENS for run in results)


def test_each_customer_sees_their_own_reply_streamed_in_order(batched, alone):
    seen: dict[int, list[tuple[float, str]]] = {0: [], 1: [], 2: []}

    def collector(index):
        return {"on_text": lambda piece: seen[index].append((time.perf_counter(), piece))}

    started = time.perf_counter()
    results = at_once(batched, [(ask(QUESTIONS[i]), collector(i)) for i in range(3)], max_new_tokens=TOKENS,
                      temperature=0)
    for index, run in enumerate(results):
        streamed = "".join(piece for _, piece in seen[index])
        assert run.text == alone[QUESTIONS[index]]
        assert streamed.startswith(run.text) or streamed.strip() == run.text
        assert seen[index][0][0] - started < run.seconds  # shown while the reply was still being written
        assert [at for at, _ in seen[index]] == sorted(at for at, _ in seen[index])


def test_a_reader_that_goes_away_is_dropped_and_the_others_are_not_disturbed(batched, alone):
    class Gone(Exception):
        pass

    def hang_up(piece: str) -> None:
        raise Gone("the customer closed the page")

    before = batched.engine.stats.new_tokens
    results = at_once(batched, [(ask(QUESTIONS[0]), {"on_text": hang_up}), (ask(QUESTIONS[1]), {})],
                      max_new_tokens=40, temperature=0)
    assert isinstance(results[0], Gone)
    kept = batched.generate(ask(QUESTIONS[1]), max_new_tokens=40, temperature=0)
    assert results[1].text == kept.text
    written_for_the_gone = batched.engine.stats.new_tokens - before - results[1].new_tokens - kept.new_tokens
    assert written_for_the_gone < 20  # stopped within a few steps of the first shown word, not at 40


def test_out_of_memory_fails_only_the_newest_replies_and_the_batch_shrinks(batched, alone, caplog):
    """A device with room for two replies at once: the third one in a step fails, the rest are answered."""
    def out_of_memory(module, args, kwargs):
        hidden = args[0] if args else kwargs["hidden_states"]
        if hidden.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (a device with room for two replies)")

    hook = batched.engine.model.model.layers[0].register_forward_pre_hook(out_of_memory, with_kwargs=True)
    try:
        results = at_once(batched, [(ask(q), {}) for q in QUESTIONS], max_new_tokens=TOKENS, temperature=0)
        failed = [run for run in results if isinstance(run, LMUnavailable)]
        answered = {QUESTIONS[i]: run.text for i, run in enumerate(results) if not isinstance(run, Exception)}
        assert len(failed) == 1 and "out of memory" in str(failed[0])
        assert answered == {q: alone[q] for q in answered} and len(answered) == 3
        assert batched.engine.slots == 2
        assert "the 1 newest get the fallback" in caplog.text
    finally:
        hook.remove()
        batched.engine.slots = 4


@pytest.fixture(scope="module")
def adapters(batched, tmp_path_factory) -> tuple:
    """Two LoRA adapters with random weights over the embedded model: replies visibly differ from the base's."""
    base_folder = resolve_lm_source("default", batched.models_dir)[0]
    folder = tmp_path_factory.mktemp("adapters")
    yield random_lora_adapter(base_folder, folder / "lm-first", seed=1), random_lora_adapter(
        base_folder, folder / "lm-second", seed=2)
    batched.use_adapter(None)


def while_writing(generator, messages, change, tokens: int, late_tokens: int) -> tuple:
    """A reply with `tokens` new tokens; once its first word is shown, `change()` (a promotion or rollback),
    then a second reply while the first is still being written. Returns both Generations."""
    shown, results = threading.Event(), {}
    thread = threading.Thread(target=lambda: results.update(early=generator.generate(
        messages, max_new_tokens=tokens, temperature=0, on_text=lambda piece: shown.set())))
    generator.engine.stats.busiest_step = 0
    thread.start()
    assert shown.wait(timeout=300)
    change()
    late = generator.generate(messages, max_new_tokens=late_tokens, temperature=0)
    thread.join(timeout=300)
    return results["early"], late


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four replies and three adapter loads: minutes on a shared 2-core machine
def test_a_promotion_during_a_reply_lets_it_finish_with_its_adapter_in_batches_with_the_new_one(batched, adapters):
    first, second = adapters
    try:
        batched.use_adapter(first)
        early, late = while_writing(batched, ask(QUESTIONS[0]), lambda: batched.use_adapter(second), 32, 8)
        assert batched.engine.stats.busiest_step == 2  # a row of each adapter in one step
        assert early.model_id == f"{batched.base_model_id}+lm-first"
        assert late.model_id == batched.model_id == f"{batched.base_model_id}+lm-second"
        batched.use_adapter(first)
        assert early.text == batched.generate(ask(QUESTIONS[0]), max_new_tokens=32, temperature=0).text
        batched.use_adapter(second)
        assert late.text == batched.generate(ask(QUESTIONS[0]), max_new_tokens=8, temperature=0).text
    finally:
        batched.use_adapter(None)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_a_rollback_during_a_reply_serves_the_base_model_next_and_deletes_unused_adapters(batched, adapters, alone):
    _, second = adapters
    try:
        batched.use_adapter(second)
        early, late = while_writing(batched, ask(QUESTIONS[0]), lambda: batched.use_adapter(None), 32, TOKENS)
        assert batched.engine.stats.busiest_step == 2  # the adapted and the base reply in one step
        assert late.model_id == batched.base_model_id and late.text == alone[QUESTIONS[0]]
        assert early.model_id == f"{batched.base_model_id}+lm-second"
        assert early.text != alone[QUESTIONS[0]]
        batched.use_adapter(second)
        assert batched.generate(ask(QUESTIONS[0]), max_new_tokens=32, temperature=0).text == early.text
        assert len(batched._router.loaded) <= 2  # adapters no reply uses any more were deleted
    finally:
        batched.use_adapter(None)


@pytest.fixture(scope="module")
def tight(models_dir) -> TransformersGenerator:
    """One reply at a time, one more waiting, 384 tokens of context."""
    generator = TransformersGenerator("default", models_dir, device="cpu", slots=1, queue_limit=1,
                                      context_tokens=384)
    generator.warm_up()
    yield generator
    generator.close()


def test_over_the_queue_bound_a_reply_is_refused_at_once(tight):
    first_word = threading.Event()
    results = {}
    writing = threading.Thread(target=lambda: results.update(first=tight.generate(
        ask(QUESTIONS[0]), max_new_tokens=60, temperature=0, on_text=lambda piece: first_word.set())))
    writing.start()
    assert first_word.wait(timeout=300)
    waiting = threading.Thread(target=lambda: results.update(second=tight.generate(
        ask(QUESTIONS[1]), max_new_tokens=8, temperature=0)))
    waiting.start()
    while not tight.engine.waiting:  # the second reply is queued behind the first
        time.sleep(0.01)
    started = time.perf_counter()
    with pytest.raises(Overloaded, match="HELPDESK_LM_QUEUE=1"):
        tight.generate(ask(QUESTIONS[2]), max_new_tokens=8, temperature=0)
    assert time.perf_counter() - started < 1.0
    writing.join(timeout=300)
    waiting.join(timeout=300)
    assert results["first"].text and results["second"].text
    assert tight.engine.stats.overloaded == 1


def test_a_prompt_longer_than_the_context_loses_its_oldest_turns_and_is_answered(tight):
    history = []
    for i in range(12):
        history += [{"role": "user", "content": f"Old question number {i} about my order and its delivery?"},
                    {"role": "assistant", "content": f"Old answer number {i}: it ships within two days."}]
    messages = [SYSTEM, *history, ask("How long do I have to return a device?")[1]]
    run = tight.generate(messages, max_new_tokens=24, temperature=0)
    assert run.text and run.prompt_tokens <= 384 - 24
    prompt, _ = tight.prompt_tokens(messages, 24)
    text = tight._tokenizer.decode(prompt)
    assert "Old question number 11 " in text and "Old question number 0 " not in text
    assert "How long do I have to return a device?" in text and SYSTEM["content"][:60] in text


def test_one_reply_alone_goes_through_the_static_cache_and_hands_over_to_the_batch(models_dir, tmp_path):
    """The GPU fast path (dialogue/lm/solo.py), run eagerly on the CPU: a reply written alone, then joined by
    others half-way, gives the same tokens as the batch alone does."""
    from transformers import AutoTokenizer

    folder = tmp_path / "tiny"
    tiny_llama(vocabulary=49152).save_pretrained(folder)
    AutoTokenizer.from_pretrained(resolve_lm_source("default", models_dir)[0]).save_pretrained(folder)
    solo = TransformersGenerator(str(folder), models_dir, device="cpu", solo=True, context_tokens=512,
                                 dtype="float32")
    plain = TransformersGenerator(str(folder), models_dir, device="cpu", solo=False, context_tokens=512,
                                  dtype="float32")
    try:
        solo.warm_up()
        plain.warm_up()
        assert solo.compile_seconds is not None and plain.compile_seconds is None
        messages = [[{"role": "user", "content": f"Question {i}: " + "word " * (5 + 7 * i)}] for i in range(3)]
        expected = [plain.generate(m, max_new_tokens=30, temperature=0).text for m in messages]
        assert solo.generate(messages[0], max_new_tokens=30, temperature=0).text == expected[0]
        joined = threading.Event()
        results = {}

        def first():
            results[0] = solo.generate(messages[0], max_new_tokens=30, temperature=0,
                                       on_text=lambda piece: joined.set())

        thread = threading.Thread(target=first)
        thread.start()
        assert joined.wait(timeout=60)
        later = at_once(solo, [(messages[1], {}), (messages[2], {})], max_new_tokens=30, temperature=0)
        thread.join(timeout=60)
        assert [results[0].text, later[0].text, later[1].text] == expected
        assert solo.engine.stats.busiest_step >= 2
    finally:
        solo.close()
        plain.close()
