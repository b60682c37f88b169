"""FAQs written as plain questions are found through their answers too (retrieval/hybrid.py), and the answers'
index follows every edit, in the editing process, in another one without embedding, and across a restart."""

from dataclasses import replace

import pytest
import yaml
from fastapi.testclient import TestClient

from bot.app import create_app
from bot.cli.evaluate import DEFAULT_EVAL_FILES
from bot.services import build_services
from retrieval.entries import faq_entry
from retrieval.faqs import make_draft
from tests.integration.test_hybrid import CountingEmbedder

pytestmark = pytest.mark.integration

MOBILE_FAQS = DEFAULT_EVAL_FILES[1][1]


@pytest.fixture()
def plain(tmp_path, services):
    """A scratch knowledge base of the mobile operator's FAQs as plain questions, no alternatives."""
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": ""})
    fresh = build_services(settings, embedder=services.embedder, generator=services.generator)
    fresh.start(with_lm=False)
    fresh.knowledge.create_many([make_draft(faq["question"], faq["answer"], [], faq.get("tags"))
                                 for faq in yaml.safe_load(MOBILE_FAQS.read_text())])
    yield fresh
    fresh.knowledge.close()
    fresh.engine.dispose()


def top(services, query: str, **fusion) -> str:
    knowledge = services.knowledge
    return knowledge.search(query, top_k=1, fusion=replace(knowledge.index.fusion, **fusion))[0].faq.question


def answer_cosine(services, vector, entry: int) -> float:
    return services.knowledge.index.answers.best_scores(vector, [entry])[entry].score


@pytest.mark.parametrize("query, faq", [("My Direct Debit failed", "What happens if I miss a payment?"),
                                        ("How much is roaming in the EU?", "Can I use my phone abroad in Europe?")])
def test_a_paraphrase_that_shares_no_word_with_its_question_is_found_through_the_answer(plain, query, faq):
    assert top(plain, query, mode="dense") != faq
    assert top(plain, query, answer_weight=0.0) != faq  # hybrid as it was
    assert top(plain, query) == faq
    hit = plain.knowledge.search(query, top_k=1)[0]
    assert hit.scores.answer > hit.scores.dense
    # no classifier in a plain knowledge base: the confidence is the cosine plus how far the FAQ leads the next
    assert hit.scores.probability is None and hit.scores.lead > 0
    assert hit.confidence == pytest.approx(hit.scores.dense + hit.scores.lead)


def test_the_answers_follow_edits_in_another_process_without_embedding_and_after_a_restart(services, tmp_path):
    question = "Can I pay for my order with carrier pigeons?"
    other_settings = services.settings.model_copy(update={"data_dir": tmp_path / "worker-2"})
    other = build_services(other_settings, embedder=CountingEmbedder(services.embedder), generator=services.generator)
    other.start(with_lm=False)
    faq = services.knowledge.create(make_draft(question, "No, only cards and PayPal."))
    entry = faq_entry(faq.id)
    try:
        paypal = services.embedder.embed(["No, only cards and PayPal."])[0]
        assert answer_cosine(services, paypal, entry) == pytest.approx(1.0, abs=1e-4)
        embedded = other.embedder.texts
        other.knowledge.index.refresh(force=True)
        assert other.embedder.texts == embedded  # the answer's vector came with the change log
        assert answer_cosine(other, paypal, entry) == pytest.approx(1.0, abs=1e-4)

        services.knowledge.update(faq.id, make_draft(question, "Yes, if the pigeon is registered."))
        other.knowledge.index.refresh(force=True)
        pigeon = services.embedder.embed(["Yes, if the pigeon is registered."])[0]
        assert answer_cosine(other, pigeon, entry) == pytest.approx(1.0, abs=1e-4)
        other.knowledge.index.save()
        other.engine.dispose()

        restarted = build_services(other_settings, embedder=CountingEmbedder(services.embedder),
                                   generator=services.generator)
        report = restarted.knowledge.index.sync()  # the index alone: calibrating embeds its off-topic list
        assert report.loaded_snapshot and report.added == 0 and restarted.embedder.texts == 0
        assert entry in restarted.knowledge.index.answers
        restarted.engine.dispose()
    finally:
        services.knowledge.delete(faq.id)
    assert entry not in services.knowledge.index.answers


def test_admin_search_shows_how_far_the_first_faq_of_a_plain_knowledge_base_leads(plain, admin_headers):
    with TestClient(create_app(plain.settings, plain)) as client:
        response = client.post("/admin/search", json={"query": "How much is roaming in the EU?", "top_k": 3},
                               headers=admin_headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["thresholds"]["source"] == "default" and body["thresholds"]["generate"] >= 0.65
    first, *others = body["hits"]
    assert first["question"] == "Can I use my phone abroad in Europe?" and first["scores"]["probability"] is None
    assert first["scores"]["lead"] > 0 and first["confidence"] == pytest.approx(
        first["score"] + first["scores"]["lead"], abs=1e-3)
    assert all(hit["scores"]["lead"] == 0 and hit["confidence"] == hit["score"] for hit in others)
