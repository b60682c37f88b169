"""`helpdesk eval retrieval`: dense, BM25 and hybrid side by side, on a CSV and on a Banking77 subset."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.settings import get_settings
from retrieval.library import Upload
from tests.support.documents_fixtures import ARTICLE

pytestmark = pytest.mark.integration

BANKING77 = Path(__file__).resolve().parents[3] / "shared" / "data" / "banking77"


@pytest.fixture()
def cli_env(services, monkeypatch):
    """The CLI on the test database, as an operator would run it next to the server."""
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(services.settings.data_dir))
    monkeypatch.setenv("HELPDESK_DATABASE_URL", services.settings.resolved_database_url)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def read_report(folder: Path) -> dict:
    report = json.loads((folder / "retrieval.json").read_text())
    assert (folder / "retrieval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (folder / "retrieval.md").read_text()
    assert "| dense (FAISS) |" in table and "| BM25 (Tantivy) |" in table \
        and "| hybrid (cosine + BM25 + classifier) |" in table and "| RRF (before 2026-12) |" in table
    return report


@pytest.mark.skipif(not BANKING77.exists(), reason="../shared/data/banking77 is not checked out beside the repo")
def test_banking77_subset_scores_three_retrievers_in_one_run(cli_env, tmp_path):
    result = cli_env.invoke(main, ["eval", "retrieval", "--banking77", str(BANKING77), "--intents", "6",
                                   "--per-intent", "8", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    report = read_report(tmp_path)
    assert (report["queries"], report["entries"]) == (48, 6)
    scores = {mode["mode"]: mode for mode in report["modes"]}
    assert set(scores) == {"dense", "lexical", "rrf", "hybrid"}
    for mode in scores.values():
        assert 0 <= mode["top1"] <= mode["recall_at_5"] <= 1 and mode["top1"] <= mode["mrr"] <= 1
    # Six intents are easy to tell apart; a broken ranking or id mapping would score near 1/6.
    assert scores["dense"]["top1"] >= 0.8 and scores["hybrid"]["top1"] >= 0.8


def test_csv_of_queries_and_expected_ids_runs_against_the_configured_knowledge(cli_env, services, tmp_path):
    faqs = {faq.question: faq.id for faq in services.knowledge.page(0, 1000)[0]}
    report = services.knowledge.documents.ingest(Upload("solar-kit.md", ARTICLE.encode()))
    try:
        csv_file = tmp_path / "queries.csv"
        csv_file.write_text(
            "query,expected_id\n"
            f"What is the return policy for devices?,{faqs['How do I return a device?']}\n"
            f"When will I get my money back?,faq:{faqs['When will I receive my refund?']}\n"
            f"Which bolts hold the solar panel on the roof?,document:{report.document.id}\n"
        )
        result = cli_env.invoke(main, ["eval", "retrieval", "--csv", str(csv_file), "--out", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        scores = {mode["mode"]: mode for mode in read_report(tmp_path / "out")["modes"]}
        assert scores["dense"]["recall_at_5"] == 1.0 and scores["hybrid"]["recall_at_5"] == 1.0
    finally:
        services.knowledge.documents.delete(report.document.id)

    csv_file.write_text("question,answer\nhello,1\n")
    bad = cli_env.invoke(main, ["eval", "retrieval", "--csv", str(csv_file)])
    assert bad.exit_code == 1 and "expected_id" in bad.output


@pytest.mark.unit
def test_holdout_split_never_leaks_a_query_into_the_knowledge_it_is_searched_in():
    from datetime import UTC, datetime

    from retrieval.faqs import Faq
    from training.holdout_calibration import holdout_split

    faqs = [Faq(i, f"question {i}?", f"answer {i}.", [f"alt {i}.{j}" for j in range(i % 3)], [], 1,
                datetime.now(UTC)) for i in range(1, 21)]
    split = holdout_split(faqs, holdout=0.25, seed=3)
    assert split == holdout_split(faqs, holdout=0.25, seed=3)  # seeded: the same split every run
    kept_texts = {text for draft in split.kept for text in draft.searchable_texts}
    out_of_scope = [q for q in split.queries if q.group == "out_of_scope"]
    in_scope = [q for q in split.queries if q.group == "in_scope"]
    assert len(out_of_scope) == 5 and len(split.kept) == 15
    assert len(in_scope) == sum(1 for faq in faqs if faq.alt_questions and faq.question in kept_texts)
    assert not {q.query for q in split.queries} & kept_texts
    assert all(next(iter(q.expected)) in kept_texts for q in in_scope)


def test_eval_thresholds_calibrates_on_the_knowledge_base_itself(cli_env):
    result = cli_env.invoke(main, ["eval", "thresholds", "--repeats", "1"])
    assert result.exit_code == 0, result.output
    assert "out_of_scope': 8" in result.output  # 20% of the 40 sample FAQs
    faq = float(result.output.split("HELPDESK_FAQ_THRESHOLD=")[1].split()[0])
    generate = float(result.output.split("HELPDESK_GENERATE_THRESHOLD=")[1].split()[0])
    assert 0.3 <= generate <= faq <= 2.0  # confidences: cosine + classifier probability
