"""The thresholds in force without a classifier (dialogue/policy.py): the defaults on cosine + lead, with their own
point for a stopped reply's curated answer, and what an operator's settings change."""

import pytest

from dialogue.policy import (
    DEFAULT_CURATED_THRESHOLD, DEFAULT_FAQ_THRESHOLD, DEFAULT_GENERATE_THRESHOLD, ThresholdSettings,
)
from retrieval.learned_state import Learned

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
