"""The classifier's blend (logistic regression, nearest-neighbour vote, or cosine alone) is chosen per
knowledge base on its own held-out questions, and survives a snapshot."""

import numpy as np
import pytest

from retrieval.blend_choice import BLENDS, answer_weights, choose_blend, choose_lexical, lexical_weights
from retrieval.classifier import FaqClassifier
from retrieval.entries import faq_entry
from retrieval.learned_state import load_learned, with_chosen_blend
from retrieval.self_calibration import calibrate


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _fold(truth: list[int], cosine, logistic, vote, times: int = 10, answer=None,
          lexical=None) -> tuple[tuple, np.ndarray]:
    """The same questions `times` over: a blend must win on enough questions to be chosen."""
    labels = np.array([10, 20])
    rows = [np.tile(np.array(m, dtype=float), (times, 1)) if m is not None else None
            for m in (cosine, logistic, vote, answer, lexical)]
    return (labels, *rows), np.tile(np.array(truth), times)


def _blend_of(folds) -> tuple[float, float]:
    return choose_blend(folds, (0.0,))[0][:2]


@pytest.mark.unit
def test_a_classifier_that_misleads_is_replaced_by_cosine_alone():
    # Cosine ranks both questions right; the classifier is sure of the wrong FAQ every time.
    fold = _fold([10, 20], cosine=[[0.8, 0.7], [0.7, 0.8]], logistic=[[0.0, 1.0], [1.0, 0.0]],
                 vote=[[0.0, 1.0], [1.0, 0.0]])
    chosen, top1, _ = choose_blend([fold], (0.0,))
    assert chosen == (0.0, 0.0, 0.0)
    assert top1["0/0"] == 1.0 and top1["1/0"] == 0.0


@pytest.mark.unit
def test_the_vote_is_chosen_only_when_it_ranks_more_questions_right():
    # The logistic regression gets the second question wrong; the neighbours get both right.
    fold = _fold([10, 20], cosine=[[0.6, 0.6], [0.6, 0.6]], logistic=[[0.9, 0.1], [0.8, 0.2]],
                 vote=[[1.0, 0.0], [0.0, 1.0]])
    assert _blend_of([fold]) in {(1.0, 0.5), (1.0, 0.75)}
    # On two questions alone that is no evidence: the plain logistic regression stays.
    few = _fold([10, 20], cosine=[[0.6, 0.6], [0.6, 0.6]], logistic=[[0.9, 0.1], [0.8, 0.2]],
                vote=[[1.0, 0.0], [0.0, 1.0]], times=1)
    assert _blend_of([few]) == BLENDS[0]
    # When both rank the same, the plain logistic regression stays.
    tie = _fold([10, 20], cosine=[[0.6, 0.6], [0.6, 0.6]], logistic=[[0.9, 0.1], [0.2, 0.8]],
                vote=[[1.0, 0.0], [0.0, 1.0]])
    assert _blend_of([tie]) == BLENDS[0]


@pytest.mark.unit
def test_the_answers_weigh_in_the_ranking_as_much_as_the_held_out_questions_show():
    # The questions' cosine and the classifier lean to the wrong FAQ; the answers point to the right one.
    helps = _fold([10, 20], cosine=[[0.6, 0.65], [0.65, 0.6]], logistic=[[0.5, 0.5], [0.5, 0.5]], vote=None,
                  answer=[[0.7, 0.2], [0.2, 0.7]])
    chosen, _, answer_top1 = choose_blend([helps], answer_weights(1.0))
    assert chosen[2] == 1.0 and answer_top1 == {"1": 1.0, "0.5": 1.0, "0": 0.0, "2": 1.0, "3": 1.0}
    # Answers that mislead are not used, however strongly configured.
    misleads = _fold([10, 20], cosine=[[0.7, 0.6], [0.6, 0.7]], logistic=[[0.5, 0.5], [0.5, 0.5]], vote=None,
                     answer=[[0.2, 0.9], [0.9, 0.2]])
    assert choose_blend([misleads], answer_weights(1.0))[0][2] == 0.0
    assert answer_weights(0.0) == (0.0,)


@pytest.mark.unit
def test_answers_may_weigh_more_than_configured_where_that_ranks_clearly_better():
    # multilingual-e5's cosines crowd together (docs/languages.md): the questions lean to the wrong FAQ by 0.2,
    # the answers to the right one by 0.1, so only three times the configured weight ranks them right.
    crowded = _fold([10, 20], cosine=[[0.6, 0.8], [0.8, 0.6]], logistic=[[0.5, 0.5], [0.5, 0.5]], vote=None,
                    answer=[[0.8, 0.7], [0.7, 0.8]])
    chosen, _, answer_top1 = choose_blend([crowded], answer_weights(1.0))
    assert chosen[2] == 3.0 and answer_top1["3"] == 1.0 and answer_top1["1"] == 0.0
    # On a few questions that is no evidence: the configured weight stays.
    few = _fold([10, 20], cosine=[[0.6, 0.8], [0.8, 0.6]], logistic=[[0.5, 0.5], [0.5, 0.5]], vote=None,
                answer=[[0.8, 0.7], [0.7, 0.8]], times=1)
    assert choose_blend([few], answer_weights(1.0))[0][2] == 1.0


@pytest.mark.unit
def test_bm25_weighs_as_much_as_the_held_out_questions_show():
    # An embedder that does not read the language (MiniLM over Chinese): the cosine leans to the wrong FAQ by 0.2,
    # BM25 (scaled to 1 for the query's best) points to the right one; only 1 or 2 outweighs the cosine.
    blind = _fold([10, 20], cosine=[[0.5, 0.7], [0.7, 0.5]], logistic=None, vote=None,
                  lexical=[[1.0, 0.7], [0.7, 1.0]])
    chosen, top1 = choose_lexical([blind], (1.0, 0.0, 0.0), lexical_weights(0.2))
    assert chosen == (1.0, 0.0, 0.0, 1.0) and top1 == {"0.2": 0.0, "0.5": 0.0, "1": 1.0, "2": 1.0}
    # BM25 that misleads is never raised; on a few questions the configured weight stays.
    misleads = _fold([10, 20], cosine=[[0.6, 0.55], [0.55, 0.6]], logistic=None, vote=None,
                     lexical=[[0.0, 1.0], [1.0, 0.0]])
    assert choose_lexical([misleads], (1.0, 0.0, 0.0), lexical_weights(0.2))[0][3] == 0.2
    few = _fold([10, 20], cosine=[[0.5, 0.7], [0.7, 0.5]], logistic=None, vote=None,
                lexical=[[1.0, 0.7], [0.7, 1.0]], times=1)
    assert choose_lexical([few], (1.0, 0.0, 0.0), lexical_weights(0.2))[0][3] == 0.2
    assert lexical_weights(0.0) == (0.0,)


@pytest.mark.integration
def test_calibration_raises_bm25_where_the_embedding_cannot_tell_the_faqs_apart():
    """Vectors that say nothing (noise) over texts that share a word per FAQ (and one of their own): BM25 ranks the
    held-out questions, searched in a BM25 index of their fold (retrieval/fold_lexical.py)."""
    rng = np.random.default_rng(3)
    topics = ["rechnung", "passwort", "lieferung", "kündigung", "gutschein", "adresse"]
    texts = [f"{topic} wort{i}{n}" for i, topic in enumerate(topics) for n in range(10)]
    labels = np.repeat(np.array([faq_entry(n) for n in range(1, 7)]), 10)
    vectors = _unit(rng.normal(size=(60, 32)))
    off_topic = _unit(rng.normal(size=(20, 32)))
    without = calibrate(vectors, labels, off_topic, lexical_weight=0.2)
    assert without.lexical_weight == 0.2 and without.lexical_top1 == {}  # no texts: the configured weight
    calibrated = calibrate(vectors, labels, off_topic, texts=texts, lexical_weight=0.2)
    assert calibrated.lexical_weight in (1.0, 2.0) and calibrated.held_out_top1 > 0.9
    assert calibrated.lexical_top1[f"{calibrated.lexical_weight:g}"] > 0.9 > calibrated.lexical_top1["0.2"]


@pytest.mark.unit
def test_the_vote_counts_the_nearest_questions_of_each_faq():
    rng = np.random.default_rng(0)
    centres = _unit(rng.normal(size=(3, 16)))
    vectors = _unit(np.repeat(centres, 8, axis=0) + 0.05 * rng.normal(size=(24, 16)))
    labels = np.repeat(np.array([101, 102, 103]), 8)
    classifier = FaqClassifier.train(vectors, labels).blended(0.5)
    vote = classifier.vote(centres)
    assert vote.shape == (3, 3)
    np.testing.assert_allclose(vote.sum(axis=1), 1.0, rtol=1e-5)
    assert (vote.argmax(axis=1) == np.arange(3)).all()
    probabilities = classifier.probabilities(centres)
    logistic = classifier.logistic(centres)
    np.testing.assert_allclose(probabilities, 0.5 * logistic + 0.5 * vote, rtol=1e-5)
    assert np.all(classifier.blended(0.0, scale=0.0).probabilities(centres) == 0)


@pytest.mark.unit
def test_calibration_reports_the_blend_it_chose_and_the_classifier_applies_it():
    rng = np.random.default_rng(1)
    centres = _unit(rng.normal(size=(6, 32)))
    vectors = _unit(np.repeat(centres, 10, axis=0) + 0.35 * rng.normal(size=(60, 32)))
    labels = np.repeat(np.arange(1, 7) * 7, 10)
    off_topic = _unit(rng.normal(size=(20, 32)))
    calibrated = calibrate(vectors, labels, off_topic)
    assert calibrated is not None
    assert set(calibrated.blend_top1) == {f"{s:g}/{w:g}" for s, w in BLENDS}
    assert (calibrated.classifier_scale, calibrated.neighbour_weight) in BLENDS
    best = max(calibrated.blend_top1.values())
    assert calibrated.blend_top1[f"{calibrated.classifier_scale:g}/{calibrated.neighbour_weight:g}"] >= best - 0.002
    classifier = with_chosen_blend(FaqClassifier.train(vectors, labels), calibrated)
    assert classifier.neighbour_weight == calibrated.neighbour_weight
    assert classifier.scale == calibrated.classifier_scale


@pytest.mark.integration
def test_the_blend_and_the_questions_survive_a_snapshot(services, tmp_path):
    calibrator = services.knowledge.calibrator
    learned = calibrator.current
    assert learned.classifier is not None and learned.classifier.texts is not None
    calibrator._save_snapshot(learned)
    loaded = load_learned(calibrator.folder, learned.key)
    assert loaded.calibrated == learned.calibrated
    query = learned.classifier.texts[:3]
    np.testing.assert_allclose(loaded.classifier.probabilities(query), learned.classifier.probabilities(query),
                               atol=2e-3)  # the questions are stored as float16
    assert loaded.classifier.neighbour_weight == learned.calibrated.neighbour_weight
