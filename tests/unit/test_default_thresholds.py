"""The thresholds in force without a classifier (dialogue/policy.py): the defaults on cosine + lead, with their own
point for a stopped reply's curated answer, and what an operator's settings change."""

import json
from dataclasses import replace

import numpy as np
import pytest

from dialogue.policy import (
    DEFAULT_CURATED_THRESHOLD, DEFAULT_FAQ_THRESHOLD, DEFAULT_GENERATE_THRESHOLD, ThresholdSettings,
)
from retrieval.learned_state import Learned, load_learned, save_learned
from retrieval.self_calibration import calibratable

pytestmark = pytest.mark.unit
NOTHING_LEARNED = Learned("plain", -1, None, None, "too few alternative questions to calibrate on")


def test_the_defaults_send_a_stopped_replys_curated_answer_from_their_own_point():
    thresholds = ThresholdSettings().in_force(NOTHING_LEARNED)
    assert (thresholds.faq, thresholds.generate, thresholds.source) == (
        DEFAULT_FAQ_THRESHOLD, DEFAULT_GENERATE_THRESHOLD, "default")
    assert thresholds.generate < thresholds.curated == DEFAULT_CURATED_THRESHOLD < thresholds.faq
    assert thresholds.curated > (thresholds.generate + thresholds.faq) / 2  # halfway let wrong answers through


@pytest.mark.parametrize("settings", [ThresholdSettings(faq=1.3), ThresholdSettings(generate=0.7),
                                      ThresholdSettings(faq=1.3, generate=0.7)])
def test_an_operators_threshold_puts_the_curated_point_back_halfway(settings):
    thresholds = settings.in_force(NOTHING_LEARNED)
    assert thresholds.source.startswith("settings")
    assert thresholds.curated == pytest.approx((thresholds.generate + thresholds.faq) / 2)


@pytest.mark.parametrize("floor, generate", [(None, DEFAULT_GENERATE_THRESHOLD), (0.41, DEFAULT_GENERATE_THRESHOLD),
                                             (0.92, 0.92), (1.3, DEFAULT_CURATED_THRESHOLD)])
def test_the_generate_threshold_rises_to_where_off_topic_questions_reach(floor, generate):
    """multilingual-e5's cosines sit higher than MiniLM's: a recipe question reaches 0.9 there."""
    thresholds = ThresholdSettings().in_force(replace(NOTHING_LEARNED, off_topic_floor=floor))
    assert thresholds.generate == pytest.approx(generate) and thresholds.faq == DEFAULT_FAQ_THRESHOLD
    assert ThresholdSettings(generate=0.5).in_force(replace(NOTHING_LEARNED, off_topic_floor=floor)).generate == 0.5


def test_the_floor_is_kept_in_the_snapshot_and_an_older_snapshot_is_learned_again(tmp_path):
    save_learned(tmp_path, replace(NOTHING_LEARNED, off_topic_floor=0.9235))
    assert load_learned(tmp_path, "plain").off_topic_floor == 0.9235
    meta = json.loads((tmp_path / "calibration.json").read_text())
    del meta["off_topic_floor"]  # written before the floor existed
    (tmp_path / "calibration.json").write_text(json.dumps(meta))
    assert load_learned(tmp_path, "plain") is None


def test_what_can_be_calibrated_on_is_counted_without_fitting_anything():
    plain = np.arange(40)  # forty FAQs, one text each: nothing to hold out
    assert not calibratable(plain)
    few = np.array([0, 0, 1, 1, 2] + list(range(3, 40)))  # 4 texts of FAQs that have a second
    assert not calibratable(few)
    enough = np.repeat(np.arange(10), 2)  # 20 texts, each held out once with its twin kept
    assert calibratable(enough) and not calibratable(np.repeat(np.arange(2), 10))  # but two FAQs are too few
