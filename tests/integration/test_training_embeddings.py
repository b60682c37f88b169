"""Embedder fine-tuning on the knowledge base: batches, registry entry with held-out scores, serving it
re-embeds the index."""

import random

import pytest

from bot.cli.serve import SAMPLE_FAQS
from bot.services import build_services
from retrieval.embedder import embedded_minilm_path
from retrieval.faq_files import read_faq_file
from retrieval.faqs import FaqDraft
from retrieval.tuned_calibration import CALIBRATION_FILE
from tests.conftest import make_settings
from training.errors import DatasetError
from training.embedder_job import run_train_embeddings
from training.registry import Registry
from training.embedding_batches import epoch_batches, group_batches
from training.proxy_loss import ProxyMarginLoss
from training.train_embeddings import EmbeddingTrainingArguments, check_groups, encoder, hold_out, train_embedder


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
def test_proxy_batches_hold_every_text_once_and_few_of_one_group():
    groups = {f"g{i}": [f"g{i} text {j}" for j in range(1 + i % 9)] for i in range(20)}
    batches = group_batches(groups, 16, 3, random.Random(0))
    seen = [(text, label) for batch in batches for text, label in batch]
    assert sorted(t for t, _ in seen) == sorted(t for texts in groups.values() for t in texts)
    assert all(text.split()[0] == label for text, label in seen)
    for batch in batches:
        labels = [label for _, label in batch]
        assert len(batch) <= 16 and max(labels.count(label) for label in labels) <= 3
    assert sum(len(batch) == 16 for batch in batches) >= len(batches) - 2  # full but for the tail


@pytest.mark.unit
def test_proxy_loss_rewards_the_own_group_by_more_than_the_margin():
    import torch

    proxies = torch.eye(3)
    loss = ProxyMarginLoss(proxies, {"a": 0, "b": 1, "c": 2}, scale=20.0, margin=0.2)
    on_a = torch.tensor([[1.0, 0.0, 0.0]])
    between = torch.tensor([[1.0, 0.9, 0.0]])  # nearer a than b, but by less than the margin after scaling
    assert loss(on_a, ["a"]) < loss(between, ["a"]) < loss(between, ["b"])
    assert loss(on_a, ["a"]) < loss(on_a, ["c"])
    no_margin = ProxyMarginLoss(proxies, {"a": 0, "b": 1, "c": 2}, scale=20.0, margin=0.0)
    assert no_margin(on_a, ["a"]) < loss(on_a, ["a"])  # the margin makes a right answer cost more


@pytest.mark.unit
def test_unknown_loss_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="loss must be one of proxy, mnrl"):
        EmbeddingTrainingArguments(loss="triplet")
    with pytest.raises(ValueError, match="texts_per_group"):
        EmbeddingTrainingArguments(texts_per_group=0)


@pytest.mark.integration
@pytest.mark.parametrize("loss", ["proxy", "mnrl"])
def test_each_loss_draws_paraphrases_together(embedder, loss):
    """A few steps on two groups must raise the cosine within a group relative to across groups."""
    groups = {"refund": ["I want my money back", "how do I get a refund", "refund my order please"],
              "password": ["I forgot my password", "reset my password", "cannot log in, lost password"]}
    args = EmbeddingTrainingArguments(loss=loss, max_steps=6, batch_size=6, texts_per_group=3, learning_rate=5e-4,
                                      seed=0, device="cpu")

    def gap(embed) -> float:
        vectors = embed(groups["refund"] + groups["password"])
        sims = vectors @ vectors.T
        within = (sims[:3, :3].sum() - 3 + sims[3:, 3:].sum() - 3) / 12
        return float(within - sims[:3, 3:].mean())

    model, stats = train_embedder(str(embedded_minilm_path()), groups, args, show_progress=False)
    assert stats.steps == 6 and stats.texts > 0
    assert gap(encoder(model)) > gap(embedder.embed) + 0.05


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

    # Its thresholds come from held-out copies trained without some of the questions, saved beside it.
    assert (path / CALIBRATION_FILE).is_file()
    calibration = card.data["calibration"]
    assert calibration["method"] == "held-out model" and calibration["held_out"] >= 100  # 5 folds of ~32

    registry.promote(card.id, force=True)
    served = build_services(kb_services.settings, generator=kb_services.generator)
    assert served.embedder.model_name == str(path)
    served.start(with_lm=False)
    in_force = served.manager.thresholds()
    assert served.knowledge.learned.calibrated.method == "held-out model"
    assert (in_force.faq, in_force.generate) == (calibration["faq_threshold"], calibration["generate_threshold"])
    query = "Can I send back a camera I bought last week?"
    hits = served.knowledge.search(query, top_k=3)
    assert "How do I return a device?" in [hit.faq.question for hit in hits]
    assert hits[0].matched_text != query
    # The stored vectors were re-embedded by the fine-tuned model: its own cosine is the search score.
    tuned = served.embedder.embed([query, hits[0].matched_text])
    stock = kb_services.embedder.embed([query, hits[0].matched_text])
    assert hits[0].score == pytest.approx(float(tuned[0] @ tuned[1]), abs=1e-4)
    assert abs(float(stock[0] @ stock[1]) - hits[0].score) > 1e-3
    # Its thresholds describe the 40 FAQs it was trained on: once a fifth more are added, /health says so.
    assert served.knowledge.learned.note == ""
    served.knowledge.create_many([FaqDraft(f"Do you deliver to island {i}?", f"Yes, island {i} is served.",
                                           [f"shipping to island {i}"]) for i in range(9)])
    learned = served.knowledge.calibrator.train_now()
    assert "calibrated on 40 FAQs and the knowledge base now has 49" in learned.note
    assert learned.calibrated.method == "held-out model"  # still in force: stricter than cross-validation's
    served.knowledge.close()
    served.engine.dispose()
