"""Embedder fine-tuning on the knowledge base: batches, registry entry with held-out scores, serving it
re-embeds the index."""

import random

import pytest

from bot.cli import SAMPLE_FAQS
from bot.services import build_services
from retrieval.faq_files import read_faq_file
from tests.conftest import make_settings
from training.errors import DatasetError
from training.jobs import run_train_embeddings
from training.registry import Registry
from training.train_embeddings import EmbeddingTrainingArguments, check_groups, epoch_batches, hold_out


@pytest.mark.unit
def test_batches_never_pair_two_texts_of_one_group_with_each_other_as_negatives():
    groups = {f"g{i}": [f"g{i} text {j}" for j in range(2 + i % 5)] for i in range(12)}
    batches = epoch_batches(groups, 8, random.Random(0))
    anchors = [a for batch in batches for a, _ in batch]
    assert sorted(anchors) == sorted(t for texts in groups.values() for t in texts)  # each text once
    for batch in batches:
        labels = [a.split()[0] for a, _ in batch]
        assert len(labels) == len(set(labels)) and len(batch) <= 8
        assert all(a != p and a.split()[0] == p.split()[0] for a, p in batch)


@pytest.mark.unit
def test_groups_without_paraphrases_are_a_clear_error():
    with pytest.raises(DatasetError, match="at least 2 groups"):
        check_groups({"faq:1": ["only one question"], "faq:2": ["a", "b"]})
    kept, held = hold_out({"faq:1": ["q", "alt 1", "alt 2"], "faq:2": ["p", "alt"]}, seed=0)
    assert held.queries and held.queries[0][1] == "faq:1" and held.queries[0][0].startswith("alt")
    assert held.queries[0][0] not in kept["faq:1"] and kept["faq:2"] == ["p", "alt"]


@pytest.fixture(scope="module")
def kb_services(tmp_path_factory, models_dir, embedder, generator):
    data_dir = tmp_path_factory.mktemp("embeddings")
    settings = make_settings(data_dir, f"sqlite:///{data_dir / 'helpdesk.db'}", models_dir)
    services = build_services(settings, embedder=embedder, generator=generator)
    services.start(with_lm=False)
    services.knowledge.upsert_many(read_faq_file(SAMPLE_FAQS).drafts)
    yield services
    services.engine.dispose()


@pytest.mark.integration
@pytest.mark.slow
def test_fine_tuned_embedder_is_registered_promoted_and_served(kb_services):
    args = EmbeddingTrainingArguments(max_steps=2, batch_size=8, learning_rate=1e-4, seed=1, device="cpu")
    card = run_train_embeddings(kb_services, args, show_progress=False)
    registry = Registry(kb_services.settings.resolved_registry_dir)
    path = registry.path(card.id)
    assert (path / "modules.json").is_file() and registry.get(card.id).kind == "embeddings"
    assert card.base_model == "all-MiniLM-L6-v2" and card.training["steps"] == 2
    scores = card.scores["models"]
    assert set(scores) == {"base", card.id}
    assert card.data["held_out_queries"] == 40 and 0.5 < scores["base"]["top1"] <= 1.0
    assert 0.5 < scores[card.id]["top1"] <= 1.0

    registry.promote(card.id, force=True)
    served = build_services(kb_services.settings, generator=kb_services.generator)
    assert served.embedder.model_name == str(path)
    served.start(with_lm=False)
    query = "Can I send back a camera I bought last week?"
    hits = served.knowledge.search(query, top_k=3)
    assert "How do I return a device?" in [hit.faq.question for hit in hits]
    assert hits[0].matched_text != query
    # The stored vectors were re-embedded by the fine-tuned model: its own cosine is the search score.
    tuned = served.embedder.embed([query, hits[0].matched_text])
    stock = kb_services.embedder.embed([query, hits[0].matched_text])
    assert hits[0].score == pytest.approx(float(tuned[0] @ tuned[1]), abs=1e-4)
    assert abs(float(stock[0] @ stock[1]) - hits[0].score) > 1e-3
    served.engine.dispose()
