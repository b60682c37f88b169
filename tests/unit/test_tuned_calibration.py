"""Thresholds for a fine-tuned embedder come from a copy of it trained without the questions they are set on
(training/embedder_calibration.py), not from its own training questions."""

import numpy as np
import pytest

from retrieval.self_calibration import calibrate
from retrieval.tuned_calibration import (
    CALIBRATION_FILE, HeldOutFold, ModelCalibration, calibrate_held_out, load_model_calibration,
    save_model_calibration,
)
from training.embedder_calibration import FOLDS, folds_needed, held_out_split


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.unit
def test_the_held_out_folds_hold_every_faq_out_once_and_every_question_once():
    groups = {f"faq:{i}": [f"q{i}", *[f"q{i} alt {j}" for j in range(i % 7)]] for i in range(30)}
    everything = sorted(text for texts in groups.values() for text in texts)
    asked_overall, whole_overall = [], []
    for fold in range(FOLDS):
        split = held_out_split(groups, seed=3, fold=fold)
        assert held_out_split(groups, seed=3, fold=fold) == split  # the same every time
        assert len(groups) - len(split.training) == 6  # a fifth of the FAQs held out whole
        trained = [text for texts in split.training.values() for text in texts]
        asked = [text for text, _ in split.queries]
        assert sorted(trained + asked + split.uncovered) == everything  # nothing lost, nothing twice
        assert all(texts[0] == groups[label][0] for label, texts in split.training.items())  # questions stay
        assert all(label in split.training and text in groups[label] for text, label in split.queries)
        asked_overall += asked
        whole_overall += [label for label in groups if label not in split.training]
    assert sorted(whole_overall) == sorted(groups)  # every FAQ held out whole exactly once
    assert len(asked_overall) == len(set(asked_overall))  # no question asked twice across the folds
    assert folds_needed(groups, seed=3) == FOLDS  # ~15 questions a fold: a small knowledge base takes them all
    big = {f"faq:{i}": [f"q{i}", *[f"q{i} alt {j}" for j in range(60)]] for i in range(20)}
    assert folds_needed(big, seed=3) == 1  # 16 FAQs × 12 questions is plenty


def _clusters(rng, faqs: int, per_faq: int, noise: float, dim: int = 32) -> tuple[np.ndarray, np.ndarray]:
    centres = _unit(rng.normal(size=(faqs, dim)))
    vectors = _unit(np.repeat(centres, per_faq, axis=0) + noise * rng.normal(size=(faqs * per_faq, dim)))
    return vectors, np.repeat(np.arange(faqs), per_faq)


@pytest.mark.unit
def test_a_held_out_calibration_is_measured_on_new_questions_not_on_the_memorised_ones():
    rng = np.random.default_rng(4)
    off_topic = _unit(rng.normal(size=(40, 32)))
    # What a tuned model does to the texts it trained on: every one sits next to its FAQ...
    memorised, labels = _clusters(np.random.default_rng(5), 10, 8, noise=0.05)
    # ...while new questions of the same FAQs, and of FAQs it has never seen, are as far off as ever.
    centres = memorised.reshape(10, 8, 32).mean(axis=1)
    queries = _unit(np.repeat(centres, 4, axis=0) + 0.45 * rng.normal(size=(40, 32)))
    query_labels = np.repeat(np.arange(10), 4)
    uncovered = _unit(rng.normal(size=(30, 32)) * 0.6 + np.repeat(centres[:3], 10, axis=0) * 0.4)

    own = calibrate(memorised, labels, off_topic)
    held = calibrate_held_out([HeldOutFold(memorised, labels, queries, query_labels, uncovered, off_topic)], 10, 80)
    assert own is not None and held is not None
    assert own.method == "cross-validation" and held.method == "held-out model"
    assert own.held_out_top1 == 1.0 and held.held_out_top1 < own.held_out_top1
    assert held.held_out == 40 and 0 < held.uncovered_rejected and held.faqs == 10
    # A knowledge base too small to hold whole FAQs out still calibrates, on the other two samples.
    no_uncovered = calibrate_held_out([HeldOutFold(memorised, labels, queries, query_labels, np.zeros((0, 32)),
                                                   off_topic)], 10, 80)
    assert no_uncovered is not None and no_uncovered.uncovered_rejected == 0.0
    assert no_uncovered.faq_threshold <= held.faq_threshold  # nothing uncovered to guard against
    # Too few questions to hold out says nothing: no calibration rather than a guess.
    assert calibrate_held_out([HeldOutFold(memorised, labels, queries[:5], query_labels[:5], uncovered,
                                           off_topic)], 10, 80) is None
    # Two folds pool their questions.
    two = calibrate_held_out([HeldOutFold(memorised, labels, queries[:20], query_labels[:20], uncovered, off_topic),
                              HeldOutFold(memorised, labels, queries[20:], query_labels[20:], uncovered, off_topic)],
                             10, 80)
    assert two is not None and two.held_out == 40


@pytest.mark.unit
def test_the_calibration_file_round_trips_and_a_broken_one_is_ignored(tmp_path):
    rng = np.random.default_rng(6)
    vectors, labels = _clusters(rng, 6, 10, noise=0.35)
    calibrated = calibrate(vectors, labels, _unit(rng.normal(size=(20, 32))))
    save_model_calibration(tmp_path, ModelCalibration(calibrated))
    assert load_model_calibration(tmp_path) == ModelCalibration(calibrated)
    save_model_calibration(tmp_path, ModelCalibration(None, "3 FAQs: too few"))
    assert load_model_calibration(tmp_path) == ModelCalibration(None, "3 FAQs: too few")
    (tmp_path / CALIBRATION_FILE).write_text('{"calibrated": {"faq_threshold": 1.2}}')  # fields missing
    assert load_model_calibration(tmp_path) is None
    assert load_model_calibration(tmp_path / "nowhere") is None
