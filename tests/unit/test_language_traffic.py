"""The running means of questions per language (retrieval/language_traffic.py), and the language a question is asked
across (retrieval/lexical.py `foreign_language`)."""

import numpy as np
import pytest

from bot.migrate import upgrade_database
from core.database import make_engine, make_session_factory
from retrieval.entries import faq_entry
from retrieval.language_traffic import MIN_QUESTIONS, WINDOW, LanguageTraffic, shifted
from retrieval.lexical import LexicalIndex

pytestmark = pytest.mark.unit


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'traffic.db'}")
    upgrade_database(engine)
    yield make_session_factory(engine)
    engine.dispose()


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_a_language_has_a_mean_once_enough_questions_were_asked(sessions):
    traffic = LanguageTraffic(sessions, "e5")
    for _ in range(MIN_QUESTIONS - 1):
        traffic.observe("de", unit(1, 0, 0))
    assert traffic.mean("de") is None
    traffic.observe("de", unit(0, 1, 0))
    expected = np.asarray([MIN_QUESTIONS - 1, 1, 0]) / MIN_QUESTIONS
    assert np.allclose(traffic.mean("de"), expected, atol=1e-6)
    assert traffic.mean("zh") is None


def test_every_process_sees_the_questions_of_the_others_and_a_restart_keeps_them(sessions):
    first = LanguageTraffic(sessions, "e5")
    for _ in range(MIN_QUESTIONS + 3):
        first.observe("zh", unit(0, 0, 1))
    first.flush()
    second = LanguageTraffic(sessions, "e5")  # another process, or this one after a restart
    assert second.counts() == {"zh": MIN_QUESTIONS + 3}
    assert np.allclose(second.mean("zh"), unit(0, 0, 1), atol=1e-6)
    assert LanguageTraffic(sessions, "MiniLM").mean("zh") is None  # each embedder's space is its own


def test_the_mean_follows_the_last_questions(sessions):
    traffic = LanguageTraffic(sessions, "e5")
    for _ in range(WINDOW):
        traffic.observe("de", unit(1, 0))
    for _ in range(WINDOW):
        traffic.observe("de", unit(0, 1))
    traffic.flush()
    assert traffic.counts()["de"] == WINDOW
    assert traffic.mean("de")[1] > 0.6  # an exponential mean: the older questions weigh e^-1 after WINDOW new
    for _ in range(2 * WINDOW):
        traffic.observe("de", unit(0, 1))
    mean = traffic.mean("de")
    assert mean[1] > 0.94 and mean[0] < 0.06, mean


def test_a_replayed_question_is_measured_without_itself(sessions):
    traffic = LanguageTraffic(sessions, "e5")
    questions = [(f"q{i}", "de", unit(1, 0)) for i in range(MIN_QUESTIONS)] + [("odd", "de", unit(0, 1))]
    traffic.replay(questions)
    assert np.allclose(traffic.mean("de", "odd"), unit(1, 0), atol=1e-6)  # the others only
    assert traffic.mean("de", "odd")[1] == 0
    assert traffic.mean("de")[1] > 0  # anyone else's question counts it
    assert traffic.mean("de", "q1") is not None and traffic.mean("de", "q1")[1] > 0


def test_a_question_is_moved_from_its_languages_mean_to_the_knowledge_bases():
    question, german, english = unit(1, 0, 1), unit(0, 0, 1), unit(0, 1, 0)
    moved = shifted(question, german, english)
    assert np.isclose(np.linalg.norm(moved), 1.0)
    assert moved[2] < question[2] and moved[1] > question[1]


def test_a_question_is_foreign_only_where_nothing_is_written_in_its_language():
    english = LexicalIndex()
    english.upsert_many([(faq_entry(1), ["How do I return a device?", "Can I send back an opened product?"]),
                         (faq_entry(2), ["Where is my parcel?", "How long does shipping take?"])])
    assert english.foreign_language("Wie kann ich mein Gerät zurückgeben?") == "de"
    assert english.foreign_language("我的订单在哪里？") == "zh"
    assert english.foreign_language("How can I return my camera?") is None
    assert english.foreign_language("ok") is None  # not sure of it
    english.upsert_many([(faq_entry(3), ["Wie lange dauert der Versand nach Österreich?"])])
    assert english.foreign_language("Wie kann ich mein Gerät zurückgeben?") is None  # German is written now
    assert LexicalIndex().foreign_language("Wie kann ich mein Gerät zurückgeben?") is None  # nothing indexed
