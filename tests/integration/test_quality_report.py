"""The quality report on a knowledge base and eval file of one's own, multi-turn conversations included,
answered through the real DialogueManager (real embedder, classifier, calibration, LM and reply check)."""

import pytest
import yaml
from sqlalchemy import select

from bot.cli.evaluate import DEFAULT_EVAL_FILES
from bot.services import build_services
from dialogue.records import TurnRecord
from training.conversation_eval import load_conversations
from training.quality import QualityReport, eval_file_report, markdown

pytestmark = pytest.mark.integration

FAQS = DEFAULT_EVAL_FILES[1][1]  # the held-out mobile operator


@pytest.fixture()
def scratch(tmp_path, services):
    settings = services.settings.model_copy(update={"data_dir": tmp_path, "database_url": ""})
    fresh = build_services(settings, embedder=services.embedder, generator=services.generator)
    fresh.start()
    yield fresh
    fresh.knowledge.close()
    fresh.engine.dispose()


def test_the_report_answers_each_conversation_in_order_and_scores_its_turns(scratch, tmp_path):
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(yaml.safe_dump({
        "in_scope": [{"query": "How much is the Unlimited plan a month?",
                      "faq": "How much do the SIM-only plans cost?"}],
        "out_of_scope": ["Who won the football last night?"],
        "conversations": [
            {"turns": [{"query": "How much is the Plus plan?", "faq": "How much do the SIM-only plans cost?"},
                       {"query": "Is there a student discount?", "faq": "Is there a student discount?"}]},
            {"turns": [{"query": "Someone stole my phone, how do I block the SIM?",
                        "faq": "What should I do if my phone is lost or stolen?"},
                       {"query": "Write me a poem about the sea", "out_of_scope": True}]},
        ]}))
    report = eval_file_report(scratch, "mobile operator", FAQS, eval_file, generate_limit=1)

    scores = report.conversations
    assert (scores["conversations"], scores["turns"]) == (2, 4)
    assert sum(scores["kinds"].values()) == 4
    assert scores["out_of_scope_to_fallback"] == 1.0  # the poem request
    assert 0 <= scores["answered_correctly"] <= 1
    assert len(scores["wrong_turns"]) == round(3 * (1 - scores["answered_correctly"]))
    assert scores["generation"]["unsupported_sentences_sent"] == 0
    with scratch.sessions() as session:
        asked = session.scalars(select(TurnRecord.text).where(TurnRecord.role == "user")
                                .order_by(TurnRecord.id)).all()
    assert [q for q in asked if q.startswith(("How much is the Plus", "Is there a student"))] == [
        "How much is the Plus plan?", "Is there a student discount?"]
    assert "Conversations of mobile operator" in markdown(QualityReport([report]))
    # and as chat searches them, without the LM: the four turns, the poem request left to the fallback
    searched = report.conversation_search
    assert searched["turns"] == 4 and searched["searched_right"] >= 0.5 and searched["searched_wrong"] <= 0.25
    assert "searched without the LM" in markdown(QualityReport([report]))


def test_wrong_answers_sent_are_counted_per_100_questions_from_the_decision_and_for_real(scratch, tmp_path):
    """A question labelled with the wrong FAQ is a wrong answer whichever way it is sent: the decision's estimate
    counts it, and so does answering it through the real path, which names the reply model and times it."""
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text(yaml.safe_dump({
        "in_scope": [{"query": "Is there a student discount?", "faq": "Is there a student discount?"},
                     # mislabelled on purpose: the bot rightly answers with the student discount
                     {"query": "Is there a student discount?", "faq": "How much do the SIM-only plans cost?"}],
        "out_of_scope": ["Who won the football last night?", "Write me a poem about the sea"]}))
    report = eval_file_report(scratch, "mobile operator", FAQS, eval_file, answer_every=True)

    decisions = report.decisions
    assert decisions.asked == 4 and decisions.answered_correctly == 0.5
    assert decisions.wrong_per_100 == decisions.wrong_verbatim_per_100 == 25.0  # the mislabelled one, verbatim
    answers = report.answers
    assert answers.lm_model == scratch.generator.model_id and answers.questions == 4
    assert (answers.answered_correctly, answers.wrong_per_100) == (0.5, 25.0)
    assert answers.kinds == {"faq": 2, "fallback": 2}
    assert [w["query"] for w in answers.wrong] == ["Is there a student discount?"]
    assert 0 < answers.p50_ms_answered <= answers.p90_ms_answered and answers.p50_ms_generated is None
    table = markdown(QualityReport([report]))
    assert "| 0.500 | 25.0 (25.0) |" in table and f"| mobile operator | {scratch.generator.model_id} |" in table


def test_a_conversation_turn_without_an_expectation_is_refused(tmp_path):
    eval_file = tmp_path / "eval.yaml"
    eval_file.write_text("conversations:\n  - turns:\n      - query: hello\n")
    with pytest.raises(ValueError, match="conversation 1: a turn needs faq, faqs or out_of_scope"):
        load_conversations(eval_file)


def test_the_shipped_held_out_set_names_only_faqs_it_has():
    for _, faqs_file, eval_file in DEFAULT_EVAL_FILES:
        questions = {faq["question"] for faq in yaml.safe_load(faqs_file.read_text())}
        data = yaml.safe_load(eval_file.read_text())
        named = [q["faq"] for q in data["in_scope"]] + [f for q in data.get("partial", []) for f in q["faqs"]]
        named += [q for c in load_conversations(eval_file) for turn in c for q in turn.expected]
        assert set(named) <= questions


@pytest.mark.slow
def test_eval_quality_fine_tunes_the_embedder_and_reports_it_beside_the_base_one(services, monkeypatch, tmp_path):
    """`--tune-embedder`: the learning loop's job on each knowledge base, then the same report with its model,
    whose thresholds come from its held-out copies rather than from questions it was trained on."""
    import json

    from click.testing import CliRunner

    from bot.cli import main
    from bot.settings import get_settings

    monkeypatch.setenv("HELPDESK_DATA_DIR", str(tmp_path / "configured"))
    get_settings.cache_clear()
    out = tmp_path / "report"
    eval_file = DEFAULT_EVAL_FILES[1][2]
    try:
        result = CliRunner().invoke(main, ["eval", "quality", "--kb", str(FAQS), str(eval_file), "--tune-embedder",
                                           "--out", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    base, tuned = json.loads((out / "quality.json").read_text())["datasets"]
    assert base["embedding_model"] == "all-MiniLM-L6-v2" \
        and "/registry/embeddings/embeddings-" in tuned["embedding_model"]
    assert base["calibration"]["method"] == "cross-validation"
    assert tuned["calibration"]["method"] == "held-out model" and tuned["calibration"]["held_out"] >= 50
    assert tuned["thresholds"]["faq"] == tuned["calibration"]["faq_threshold"]
    assert base["retrieval"]["queries"] == tuned["retrieval"]["queries"]  # the same questions, both models
    table = (out / "quality.md").read_text()
    assert "(cross-validation) |" in table and "(held-out model) |" in table
    assert not (tmp_path / "configured").exists()  # a scratch knowledge base, never the configured one
