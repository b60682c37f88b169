"""The dense index and its start-up sync, on the real embedder and a real SQLite database.

(Replaces the FaqIndex tests of the core loop: the index now holds FAQs and document chunks as entries.)
"""

import pytest

from bot.migrate import upgrade_database
from core.database import make_engine, make_session_factory
from retrieval.dense import DenseIndex
from retrieval.dense_snapshots import load_snapshot
from retrieval.entries import faq_entry
from retrieval.faqs import FaqRecord, make_draft
from retrieval.knowledge_base import KnowledgeBase

pytestmark = pytest.mark.integration


@pytest.fixture()
def knowledge(tmp_path, embedder):
    engine = make_engine(f"sqlite:///{tmp_path / 'kb.db'}")
    upgrade_database(engine)
    kb = KnowledgeBase(make_session_factory(engine), embedder, tmp_path / "index")
    kb.sync_index()
    yield kb
    engine.dispose()


def test_upsert_replaces_exactly_the_old_vectors(embedder):
    index = DenseIndex(embedder.dimension, embedder.model_id)
    texts = ["How do I return a device?", "send back my camera"]
    index.upsert(faq_entry(7), embedder.embed(texts))
    index.upsert(faq_entry(8), embedder.embed(["Where is my order?"]))
    assert len(index) == 3
    index.upsert(faq_entry(7), embedder.embed(["Can I get a refund?"]))
    assert len(index) == 2
    match = index.search(embedder.embed(["refund please"])[0], top_k=2)[0]
    assert (match.entry, match.position) == (faq_entry(7), 0)
    index.remove(faq_entry(7))
    assert [m.entry for m in index.search(embedder.embed(["refund please"])[0], 5)] == [faq_entry(8)]


def test_hits_are_grouped_per_faq(knowledge):
    knowledge.create(make_draft("How do I return a device?", "Within 30 days.",
                                ["return my camera", "return my hub", "send back a device"]))
    knowledge.create(make_draft("Where is my order?", "Track it in the app."))
    hits = knowledge.search("return my camera", top_k=5)
    assert [hit.faq.question for hit in hits] == ["How do I return a device?", "Where is my order?"]
    assert hits[0].matched_text == "return my camera" and hits[0].score > 0.99


def test_start_up_re_embeds_only_what_changed_while_down(knowledge, embedder, tmp_path):
    first = knowledge.create(make_draft("How do I return a device?", "Within 30 days."))
    knowledge.create(make_draft("Where is my order?", "Track it in the app."))
    assert knowledge.sync_index().added == 0  # nothing changed: the index in memory is kept

    # A restore or a manual fix edits the database behind the index's back (no change log entry).
    with knowledge.sessions() as session:
        record = session.get(FaqRecord, first.id)
        draft = make_draft("How can I send back a device?", "Within 30 days.")
        record.question, record.content_hash = draft.question, draft.content_hash
        session.commit()
    restarted = KnowledgeBase(knowledge.sessions, embedder, tmp_path / "index")
    report = restarted.sync_index()
    assert report.loaded_snapshot and (report.added, report.removed, report.unchanged) == (1, 1, 1)
    assert restarted.search("send back a device", 1)[0].matched_text == "How can I send back a device?"


def test_a_different_embedding_model_rebuilds_the_index(knowledge, embedder, tmp_path):
    knowledge.create(make_draft("Where is my order?", "Track it in the app."))
    knowledge.index.save()
    assert load_snapshot(tmp_path / "index", embedder.dimension, "another-model") is None
    assert load_snapshot(tmp_path / "index", embedder.dimension, embedder.model_id) is not None


def test_import_updates_instead_of_duplicating(knowledge):
    drafts = [make_draft("Where is my order?", "Track it in the app."), make_draft("Refunds?", "5 days.")]
    assert knowledge.upsert_many(drafts).created == 2
    report = knowledge.upsert_many([make_draft("where is my order?", "Track it in the Nimbus app."),
                                    make_draft("Refunds?", "5 days.")])
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    assert knowledge.page()[1] == 2
