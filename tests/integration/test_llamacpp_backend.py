"""The llama.cpp backend on the embedded GGUF: streaming, sampling settings, the prefix cache, batching,
adapters through transformers, and the bot answering through it over HTTP on both databases."""

import json
import threading
import time

import pytest
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from dialogue.lm.backends import LMConfig, LlamaCppWithAdapters
from dialogue.lm.llamacpp_generator import LlamaCppGenerator
from dialogue.judgement import VERIFY_INSTRUCTIONS, VERIFY_QUESTION
from dialogue.lm.sources import EMBEDDED_LM_ID
from dialogue.prompt import INSTRUCTIONS
from dialogue.records import TurnRecord
from retrieval.faq_files import read_faq_file
from tests.conftest import BACKENDS, make_settings
from dialogue.verdicts import ANSWER_SCHEMA
from tests.integration.test_streaming import GENERATED_QUESTION, sse_events
from tests.support.postgres import fresh_postgres_database

pytestmark = pytest.mark.integration

SYSTEM = {"role": "system", "content": INSTRUCTIONS.format(company="Nimbus Home")}


def ask(question: str) -> list[dict[str, str]]:
    return [SYSTEM, {"role": "user", "content": f"Knowledge snippets:\n[1] Returns\nDevices can be returned within "
                                                f"30 days.\n\nCustomer question: {question}"}]


@pytest.fixture(scope="module")
def llama(models_dir) -> LlamaCppGenerator:
    generator = LlamaCppGenerator("default", models_dir, slots=4, slot_tokens=1024, threads=1)
    generator.warm_up()
    yield generator
    generator.close()


def test_auto_weights_rewrite_the_embedded_q4_1_as_f16_and_keep_a_k_quant(tmp_path, caplog):
    from dialogue.lm.gguf_weights import auto_weights, file_type
    from dialogue.lm.sources import embedded_gguf_path

    assert file_type(embedded_gguf_path()) == 3  # Q4_1
    generator = LlamaCppGenerator("default", tmp_path, slots=1, slot_tokens=256)
    with caplog.at_level("INFO", logger="dialogue.lm.llamacpp_generator"):
        generator.warm_up()
    generator.close()
    assert (tmp_path / f"{embedded_gguf_path().stem}.f16.gguf").is_file()
    assert "Q4_1 has no fast prompt kernels" in caplog.text
    assert auto_weights(15)[0] == "original" and auto_weights(None)[0] == "original"  # 15: Q4_K_M


def test_reply_streams_before_it_is_finished_and_matches_the_final_text(llama):
    arrivals: list[tuple[float, str]] = []
    started = time.perf_counter()
    run = llama.generate(ask("How long do I have to return a device?"), max_new_tokens=40, temperature=0,
                         on_text=lambda piece: arrivals.append((time.perf_counter(), piece)))
    assert run.model_id == EMBEDDED_LM_ID and run.text and run.new_tokens > 3
    assert len(arrivals) >= 3
    assert arrivals[0][0] - started < run.seconds * 0.8  # the first piece came well before the end
    streamed = "".join(piece for _, piece in arrivals)
    assert streamed.startswith(run.text) or streamed.strip() == run.text


def test_max_new_tokens_is_honoured_and_an_unfinished_sentence_is_cut(llama):
    run = llama.generate(ask("Tell me everything about returns, in detail."), max_new_tokens=6, temperature=0)
    assert run.new_tokens == 6
    long = llama.generate(ask("Tell me everything about returns, in detail."), max_new_tokens=60, temperature=0)
    assert long.new_tokens > 6 and len(long.text) > len(run.text)


def test_greedy_is_repeatable_and_temperature_samples(llama):
    messages = ask("Can I return a device I opened?")
    greedy = {llama.generate(messages, max_new_tokens=20, temperature=0).text for _ in range(2)}
    assert len(greedy) == 1
    sampled = {llama.generate(messages, max_new_tokens=20, temperature=1.5).text for _ in range(4)}
    assert len(sampled) >= 2


def test_the_system_prompt_is_computed_once_and_the_cached_prefix_gives_the_same_reply(llama, models_dir):
    llama.generate(ask("Do you sell gift cards?"), max_new_tokens=4, temperature=0)
    before = (llama.engine.stats.prompt_tokens, llama.engine.stats.reused_tokens)
    question = ask("How long do I have to return a device?")
    cached = llama.generate(question, max_new_tokens=30, temperature=0)
    reused = llama.engine.stats.reused_tokens - before[1]
    system_tokens = len(llama.prompt_tokens([SYSTEM])) - 5  # the template's closing tokens may differ
    assert reused >= system_tokens
    assert llama.engine.stats.prompt_tokens - before[0] == cached.prompt_tokens
    fresh = LlamaCppGenerator("default", models_dir, slots=1, slot_tokens=1024, threads=1)
    try:
        assert fresh.generate(question, max_new_tokens=30, temperature=0).text == cached.text
        assert fresh.engine.stats.reused_tokens == 0
    finally:
        fresh.close()


def test_prompt_steps_on_more_threads_give_the_same_reply(llama, models_dir):
    question = ask("How long do I have to return a device?")
    expected = llama.generate(question, max_new_tokens=30, temperature=0).text
    two = LlamaCppGenerator("default", models_dir, slots=1, slot_tokens=1024, threads=1, prompt_threads=2)
    try:
        assert two.generate(question, max_new_tokens=30, temperature=0).text == expected
        assert two.engine.prompt_threads == 2 and two.engine._threads_now == 1  # decoding went back to one
    finally:
        two.close()


def test_concurrent_replies_are_decoded_together(llama):
    questions = ["Can I return a device?", "How long is the return window?", "Is a return free?",
                 "What do I need to return a device?"]
    alone = [llama.generate(ask(q), max_new_tokens=24, temperature=0).text for q in questions]
    together: dict[int, str] = {}

    def write(index: int) -> None:
        together[index] = llama.generate(ask(questions[index]), max_new_tokens=24, temperature=0).text

    threads = [threading.Thread(target=write, args=(i,)) for i in range(len(questions))]
    steps_before = llama.engine.stats.busiest_step
    llama.engine.stats.busiest_step = 0
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert llama.engine.stats.busiest_step >= 2, "no step decoded two replies at once"
    llama.engine.stats.busiest_step = max(steps_before, llama.engine.stats.busiest_step)
    assert all(together[i] for i in range(len(questions)))
    # Batched arithmetic may round differently, but the replies should start the same way.
    assert sum(together[i][:20] == alone[i][:20] for i in range(len(questions))) >= 3


def test_a_json_schema_holds_the_reply_to_its_form(llama):
    # The judge's answer form (dialogue/judgement.py). Not asked for it, SmolLM2 writes prose; held by the
    # grammar, it writes JSON from the first token, and with the form in the prompt JSON of the schema that
    # ends when the JSON does.
    unasked = [{"role": "system", "content": "Answer the customer from the snippet."}, ask("Is a return free?")[1]]
    assert not llama.generate(unasked, max_new_tokens=40, temperature=0).text.startswith("{")
    assert llama.generate(unasked, max_new_tokens=40, temperature=0, json_schema=ANSWER_SCHEMA).text.startswith("{")
    asked = [{"role": "system", "content": 'Answer the customer from the snippet. Reply with JSON only: '
                                           '{"answer": "<short answer>", "sources": [<snippet numbers>]}'},
             ask("Is a return free?")[1]]
    held = llama.generate(asked, max_new_tokens=120, temperature=0, json_schema=ANSWER_SCHEMA)
    data = json.loads(held.text)
    assert set(data) == {"answer", "sources"} and isinstance(data["answer"], str) and data["sources"] == [1]


YES_NO = [[{"role": "system", "content": VERIFY_INSTRUCTIONS},
           {"role": "user", "content": "Customer message: How do I send back my camera?\n\nFAQ question: How do I "
                                       "return a device?\nFAQ answer: Within 30 days.\n\n" + VERIFY_QUESTION}],
          [{"role": "user", "content": "Is the sky blue on a clear day? Answer yes or no."}],
          [{"role": "user", "content": "Is fire cold? Answer yes or no."}]]


def test_yes_no_probabilities_are_the_ones_transformers_computes(llama, models_dir):
    # The judge's "verify" step (dialogue/judgement.py) reads the first token's logits from the engine. Two
    # implementations of the same model must agree: llama.cpp on the GGUF, transformers on the safetensors.
    from dialogue.lm.transformers_generator import TransformersGenerator

    reference = TransformersGenerator("default", models_dir, device="cpu")
    try:
        for messages in YES_NO:
            ours = llama.choice_probabilities(messages, ("yes", "no"))
            theirs = reference.choice_probabilities(messages, ("yes", "no"))
            assert ours["yes"] + ours["no"] == pytest.approx(1.0)
            assert ours["yes"] == pytest.approx(theirs["yes"], abs=0.05), (messages, ours, theirs)
    finally:
        reference.close()


def test_a_judgement_between_replies_disturbs_neither(llama):
    alone = llama.generate(ask("How long is the return window?"), max_new_tokens=24, temperature=0).text
    judged_alone = llama.choice_probabilities(YES_NO[0], ("yes", "no"))
    written: dict[str, str] = {}
    thread = threading.Thread(target=lambda: written.setdefault("text", llama.generate(
        ask("How long is the return window?"), max_new_tokens=24, temperature=0).text))
    thread.start()
    judged = [llama.choice_probabilities(YES_NO[0], ("yes", "no")) for _ in range(3)]
    thread.join(timeout=120)
    assert written["text"][:20] == alone[:20]
    assert all(j["yes"] == pytest.approx(judged_alone["yes"], abs=0.01) for j in judged)
    assert llama.generate(ask("Is a return free?"), max_new_tokens=8, temperature=0).text  # the slots are free


def test_a_prompt_too_long_for_a_slot_keeps_its_end_and_is_answered(llama):
    """Never an error (dialogue/lm/context_fit.py): the message loses its start, the question at its end stays."""
    messages = [SYSTEM, {"role": "user", "content": "word " * 2000 + "\n\nCustomer question: Is a return free?"}]
    run = llama.generate(messages, max_new_tokens=4, temperature=0)
    assert 900 < run.prompt_tokens <= 1024 - 1 - 4  # as much as fits next to the reply
    kept = llama._model.detokenize(llama.prompt_tokens(messages, 4)).decode()
    assert "word \n\nCustomer question: Is a return free?" in kept and SYSTEM["content"][:60] in kept


def test_an_adapter_is_served_through_transformers_and_dropped_back_to_llama(models_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from dialogue.lm.sources import resolve_lm_source

    source, _ = resolve_lm_source("default", models_dir)
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(source),
                          LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    lora.save_pretrained(tmp_path / "lm-test-adapter")
    served = LlamaCppWithAdapters(LMConfig("llamacpp", "default", models_dir, slots=1, slot_tokens=1024,
                                           threads=2, device="cpu"))
    try:
        assert served.use_adapter(tmp_path / "lm-test-adapter") == f"{EMBEDDED_LM_ID}+lm-test-adapter"
        run = served.generate(ask("Can I return a device?"), max_new_tokens=8, temperature=0)
        assert run.model_id == f"{EMBEDDED_LM_ID}+lm-test-adapter" and served.adapted.calls == 1
        assert served.use_adapter(None) == EMBEDDED_LM_ID
        assert served.generate(ask("Can I return a device?"), max_new_tokens=8, temperature=0).model_id == \
            EMBEDDED_LM_ID
        assert served.fast.calls == 1
    finally:
        served.close()


@pytest.fixture(scope="module", params=BACKENDS)
def llama_app(request, tmp_path_factory, models_dir, embedder):
    data = tmp_path_factory.mktemp("llama-data")
    if request.param == "sqlite":
        url, drop = f"sqlite:///{data / 'helpdesk.db'}", None
    else:
        url, drop = fresh_postgres_database(request.getfixturevalue("postgres_server_url"))
    settings = make_settings(data, url, models_dir, lm_backend="llamacpp", lm_slots=2, lm_slot_tokens=2048,
                             max_new_tokens=48)
    services = build_services(settings, embedder=embedder)
    services.start()
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    with TestClient(create_app(settings, services)) as client:
        yield client, services
    services.generator.close()
    services.engine.dispose()
    if drop:
        drop()


def test_the_widget_streams_a_reply_written_by_llama_cpp(llama_app, sender):
    client, services = llama_app
    with client.stream("POST", "/widget/messages", json={"sender": "b" * 32, "message": GENERATED_QUESTION}) as r:
        events = sse_events(r.read().decode())
    name, reply = events[-1]
    assert name == "reply" and reply["text"]
    assert services.generator.fast.calls >= 1  # the LM ran, in llama.cpp
    with services.sessions() as session:
        turn = session.get(TurnRecord, reply["custom"]["turn_id"])
        assert turn.text == reply["text"]
        # Sent as written, or stopped by the reply check and kept for admins: either way it came from llama.cpp.
        assert turn.model_id == EMBEDDED_LM_ID
    assert client.get("/health").json()["lm_model"] == EMBEDDED_LM_ID
