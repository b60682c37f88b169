"""The whole answer-quality report on knowledge bases nobody here wrote: retrieval, decisions, generation.

For each dataset (retrieval/benchmarks.py) a throwaway knowledge base is built, the bot calibrates its
thresholds on it as in production (no labels), and then:
- **retrieval**: top-1 / recall@5 / MRR of every ranking mode on the split's questions;
- **decisions** with the thresholds in force: *answered correctly* (not sent to fallback and the right FAQ
  ranked first), *verbatim right* and *verbatim precision* (answered with the curated answer: right ones
  among all curated answers, counting uncovered and out-of-domain questions answered verbatim as wrong),
  *uncovered → fallback* (in-domain questions no FAQ answers), *out-of-domain → fallback* (HWU64
  questions sent to a bank's bot) and *wrong answers sent per 100 questions* (an answer resting on the
  wrong FAQ, or any answer to a question nothing answers; in brackets the curated ones given verbatim);
- on a knowledge base with a labelled eval file (the sample shop; the held-out mobile operator of
  training/eval_sets/), the same, the generated replies of its generate band and its multi-turn
  conversations through the real answering path: how many were stopped by the reply check, and whether
  any sentence no single snippet supports, or any number no snippet states, reached the customer; with
  `answer_every`, all its questions through that path, scored per reply model (training/end_to_end.py).
"""

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from dialogue.policy import Decision, Thresholds, decide, suggestions
from retrieval.benchmarks import Benchmark
from retrieval.eval_queries import EvalQuery
from retrieval.evaluation import evaluate
from retrieval.knowledge_base import KnowledgeBase
from retrieval.retrieval_report import RetrievalReport
from training.end_to_end import AnswerScores, answer_all
from training.enrichment import EnrichmentConfig, enrich
from training.reply_scores import generation_scores


@dataclass
class DecisionScores:
    questions: int
    answered_correctly: float
    verbatim_right: float
    verbatim_precision: float
    uncovered: int = 0
    uncovered_to_fallback: float | None = None
    out_of_domain: int = 0
    out_of_domain_to_fallback: float | None = None
    # Answers the decision would send that rest on the wrong FAQ, or answer a question nothing in the knowledge
    # base answers, per 100 questions asked (in scope, partial, uncovered, out of domain): a generate-band
    # one counts as sent (an upper bound: the reply check may still stop it); `wrong_verbatim_per_100` are
    # the curated answers of a wrong FAQ among them, which nothing stops.
    wrong_per_100: float = 0.0
    wrong_verbatim_per_100: float = 0.0
    asked: int = 0
    # The fallback's suggestions (dialogue/policy.py `suggestions`): in-scope questions sent to the fallback with
    # their FAQ among the ones it suggests (of all in-scope questions), and the share of uncovered and
    # out-of-domain questions whose fallback suggests anything at all.
    suggested_right: float = 0.0
    nothing_answers_suggested: float | None = None


@dataclass
class DatasetReport:
    dataset: str
    split: str
    embedding_model: str
    thresholds: dict
    calibration: dict | None
    retrieval: RetrievalReport
    decisions: DecisionScores
    seconds: float
    generation: dict | None = None
    conversations: dict | None = None  # multi-turn conversations of an eval file (conversation_eval.py)
    answers: AnswerScores | None = None  # every question of an eval file, answered for real (end_to_end.py)
    enrichment: dict | None = None  # what enrichment did before this was measured (training/enrichment.py)
    # Questions counted as asked before measuring: those across languages, each measured with the others counted
    # but not itself (KnowledgeBase.replay_questions, retrieval/language_traffic.py).
    replayed: int = 0
    # The eval file's conversations as chat searches them, without the LM (conversation_eval.searched_conversations).
    conversation_search: dict | None = None


@dataclass
class QualityReport:
    datasets: list[DatasetReport] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"datasets": [asdict(d) for d in self.datasets]}


def load_into(knowledge: KnowledgeBase, benchmark: Benchmark) -> dict[str, int]:
    """Create the benchmark's FAQs; returns the FAQ id of each intent. Calibrates before returning."""
    faqs = knowledge.create_many(benchmark.drafts)
    knowledge.calibrator.train_now()
    return {draft.tags[-1]: faq.id for draft, faq in zip(benchmark.drafts, faqs)}


def decision_scores(knowledge: KnowledgeBase, thresholds: Thresholds, questions: list[tuple[str, int]],
                    uncovered: list[str], out_of_domain: list[str],
                    partial: list[tuple[str, frozenset[int]]] = ()) -> DecisionScores:
    """`questions`: (text, FAQ id that answers it); `partial`: (text, FAQs that each answer part of it), counted
    like uncovered ones for verbatim precision and as wrong only when answered from none of their FAQs."""
    suggested: dict[str, set[int]] = {}  # what the fallback suggests for each question sent to it

    def best(text: str) -> tuple[Decision, int | None]:
        hits = knowledge.search(text, top_k=5)
        top = hits[0].faq.id if hits and hits[0].faq is not None else None
        decision = decide(hits, thresholds)
        if decision is Decision.FALLBACK:
            suggested[text] = {hit.faq.id for hit in suggestions(hits, thresholds)}
        return decision, top

    answered = verbatim_right = verbatim_all = wrong = wrong_verbatim = suggested_right = 0
    labelled = [(text, frozenset([faq]), True) for text, faq in questions]
    for text, expected, in_scope in [*labelled, *((text, faqs, False) for text, faqs in partial)]:
        decision, top = best(text)
        answered += in_scope and decision is not Decision.FALLBACK and top in expected
        suggested_right += in_scope and bool(suggested.get(text, set()) & expected)
        verbatim_right += in_scope and decision is Decision.FAQ and top in expected
        verbatim_all += decision is Decision.FAQ
        wrong += decision is not Decision.FALLBACK and top not in expected
        wrong_verbatim += decision is Decision.FAQ and top not in expected
    uncovered_decisions = [best(text)[0] for text in uncovered]
    ood_decisions = [best(text)[0] for text in out_of_domain]
    nothing_answers = [*uncovered_decisions, *ood_decisions]
    nothing_suggested = [bool(suggested.get(text)) for text in [*uncovered, *out_of_domain]]
    verbatim_all += sum(d is Decision.FAQ for d in nothing_answers)
    wrong += sum(d is not Decision.FALLBACK for d in nothing_answers)
    wrong_verbatim += sum(d is Decision.FAQ for d in nothing_answers)
    count, asked = max(len(questions), 1), len(questions) + len(partial) + len(nothing_answers)
    return DecisionScores(
        questions=len(questions), answered_correctly=round(answered / count, 4),
        verbatim_right=round(verbatim_right / count, 4),
        verbatim_precision=round(verbatim_right / verbatim_all, 4) if verbatim_all else 1.0,
        uncovered=len(uncovered), uncovered_to_fallback=_share(uncovered_decisions, Decision.FALLBACK),
        out_of_domain=len(out_of_domain), out_of_domain_to_fallback=_share(ood_decisions, Decision.FALLBACK),
        wrong_per_100=round(100 * wrong / max(asked, 1), 2),
        wrong_verbatim_per_100=round(100 * wrong_verbatim / max(asked, 1), 2), asked=asked,
        suggested_right=round(suggested_right / count, 4),
        nothing_answers_suggested=round(sum(nothing_suggested) / len(nothing_suggested), 4)
        if nothing_suggested else None,
    )


def _share(decisions: list[Decision], wanted: Decision) -> float | None:
    return round(sum(d is wanted for d in decisions) / len(decisions), 4) if decisions else None


def benchmark_reports(knowledge: KnowledgeBase, thresholds_of, benchmark: Benchmark, splits: list[str],
                      out_of_domain: dict[str, list[str]], enrich_with: tuple | None = None) -> list[DatasetReport]:
    """One knowledge base, calibrated once, measured on each split. `thresholds_of()`: the thresholds chat
    would use now (DialogueManager.thresholds). With `enrich_with` ((generator, company name)), its FAQs are
    then enriched by that LM (training/enrichment.py), calibrated again and measured again, named so: a
    cross-lingual benchmark's FAQs are translated into the questions' language, any other's paraphrased."""
    started = time.perf_counter()
    faq_of = load_into(knowledge, benchmark)
    reports = _split_reports(knowledge, thresholds_of, benchmark, faq_of, splits, out_of_domain, benchmark.name,
                             started)
    if enrich_with is not None:
        generator, company = enrich_with
        began = time.perf_counter()
        config = EnrichmentConfig(paraphrases=0, languages=(benchmark.asked_in,)) if benchmark.asked_in \
            else EnrichmentConfig()
        outcome = enrich(knowledge, generator, knowledge.page(0, 10**9)[0], config, company)
        knowledge.calibrator.train_now()
        translated = outcome.translated.get(benchmark.asked_in or "", {})
        summary = {"model": generator.model_id, "enriched": len(outcome.enriched) + len(translated),
                   "failed": len(outcome.failed) + len(outcome.translation_failed.get(benchmark.asked_in or "", {})),
                   "generated_questions": sum(map(len, [*outcome.enriched.values(), *translated.values()])),
                   "seconds": round(time.perf_counter() - began, 1)}
        done = f"translated into {benchmark.asked_in}" if benchmark.asked_in else "enriched"
        name = f"{benchmark.name}, {done} by {Path(generator.model_id).name}"
        # A translated benchmark may also ask its questions in the knowledge base's language ("valid (en)"):
        # what the translations cost the customers who already found their FAQ.
        also = [f"{split} (en)" for split in splits if benchmark.asked_in and f"{split} (en)" in benchmark.questions]
        reports += [replace(report, enrichment=summary) for report in _split_reports(
            knowledge, thresholds_of, benchmark, faq_of, [*splits, *also], out_of_domain, name, time.perf_counter())]
    return reports


def _split_reports(knowledge: KnowledgeBase, thresholds_of, benchmark: Benchmark, faq_of: dict[str, int],
                   splits: list[str], out_of_domain: dict[str, list[str]], name: str,
                   started: float) -> list[DatasetReport]:
    learned = knowledge.learned
    reports = []
    for split in splits:
        questions = [(text, faq_of[intent]) for text, intent in benchmark.questions[split]]
        replayed = knowledge.replay_questions([text for text, _ in questions] + benchmark.uncovered.get(split, [])
                                              + out_of_domain.get(split, []))
        retrieval = evaluate(knowledge, [EvalQuery(text, f"faq:{faq}") for text, faq in questions],
                             f"{name} {split}", extra_answer_weights=(0.0,))
        thresholds = thresholds_of()
        decisions = decision_scores(knowledge, thresholds, questions, benchmark.uncovered.get(split, []),
                                    out_of_domain.get(split, []))
        reports.append(DatasetReport(name, split, knowledge.embedder.model_id, _thresholds(thresholds),
                                     learned.calibrated.as_dict() if learned.calibrated else None, retrieval,
                                     decisions, round(time.perf_counter() - started, 1), replayed=replayed))
    return reports


def _thresholds(thresholds: Thresholds) -> dict:
    return {"faq": thresholds.faq, "generate": thresholds.generate, "source": thresholds.source}


def markdown(report: QualityReport) -> str:
    lines = ["# Answer quality", "",
             "| dataset | split | embedder | dense top-1 | BM25 top-1 | RRF top-1 | hybrid without answers top-1 | "
             "hybrid top-1 | hybrid MRR | answered correctly | wrong sent / 100 (verbatim) | verbatim right | "
             "verbatim precision | uncovered → fallback | out-of-domain → fallback | fallback, right FAQ suggested | "
             "nothing answers, suggested | thresholds (faq / generate) |",
             "| --- | --- | --- |" + " ---: |" * 15]
    for d in report.datasets:
        top1 = {m.mode: m for m in d.retrieval.modes}
        s = d.decisions
        lines.append(
            f"| {d.dataset} | {d.split} | {Path(d.embedding_model).name} | "
            + " | ".join(f"{top1[m].top1:.3f}" if m in top1 else "–"
                         for m in ("dense", "lexical", "rrf", "hybrid@answer=0", "hybrid"))
            + f" | {top1['hybrid'].mrr:.3f} | {s.answered_correctly:.3f} | "
            f"{s.wrong_per_100:.1f} ({s.wrong_verbatim_per_100:.1f}) | {s.verbatim_right:.3f} | "
            f"{s.verbatim_precision:.3f} | {_cell(s.uncovered_to_fallback)} | {_cell(s.out_of_domain_to_fallback)} | "
            f"{s.suggested_right:.3f} | {_cell(s.nothing_answers_suggested)} | "
            f"{d.thresholds['faq']:.2f} / {d.thresholds['generate']:.2f} ({_origin(d)}) |")
    lines += _answers_table(report)
    for d in report.datasets:
        if d.generation:
            lines += ["", f"Generated replies on {d.dataset} ({d.split}): {d.generation}"]
        if d.conversation_search:
            lines += ["", f"Conversation turns of {d.dataset} ({d.split}), searched without the LM: "
                          f"{d.conversation_search}"]
        if d.conversations:
            summary = {k: v for k, v in d.conversations.items() if k != "wrong_turns"}
            lines += ["", f"Conversations of {d.dataset} ({d.split}): {summary}"]
            lines += [f"- wrong: {turn}" for turn in d.conversations["wrong_turns"]]
        if d.enrichment:
            lines += ["", f"Enrichment before {d.dataset} ({d.split}): {d.enrichment}"]
        if d.answers and d.answers.wrong:
            lines += ["", f"Wrong answers sent on {d.dataset} ({d.split}, {d.answers.lm_model}):"]
            lines += [f"- {wrong}" for wrong in d.answers.wrong]
    return "\n".join(lines) + "\n"


def _answers_table(report: QualityReport) -> list[str]:
    """Every question of an eval file through the real answering path, per reply model (`--answer-all`)."""
    rows = [d for d in report.datasets if d.answers]
    if not rows:
        return []
    lines = ["", "| knowledge base | LM | embedder | questions | answered correctly | wrong sent / 100 | fallback | "
                 "fallback, right FAQ suggested | p50 / p90 ms per answer | p50 ms per generated answer | "
                 "generated sent / stopped |",
             "| --- | --- | --- |" + " ---: |" * 8]
    for d in rows:
        a = d.answers
        lines.append(f"| {d.dataset} | {Path(a.lm_model).name} | {Path(d.embedding_model).name} | {a.questions} | "
                     f"{a.answered_correctly:.3f} | {a.wrong_per_100:.1f} | {a.fallback_share:.3f} | "
                     f"{a.suggested_right:.3f} | "
                     f"{_cell(a.p50_ms_answered, '.0f')} / {_cell(a.p90_ms_answered, '.0f')} | "
                     f"{_cell(a.p50_ms_generated, '.0f')} | {a.generation['sent_as_generated']} / "
                     f"{a.generation['rejected']} |")
    return lines


def _short_name(embedding_model: str) -> str:
    """A plot label: "tuned" for a model of the registry (`helpdesk train embeddings`), else its folder name."""
    name = Path(embedding_model).name
    return "tuned" if name.startswith("embeddings-") else name[:20]


def _origin(d: DatasetReport) -> str:
    """Where the thresholds came from: the settings, the defaults, or which calibration."""
    if d.thresholds["source"] == "calibrated" and d.calibration:
        return d.calibration.get("method", "cross-validation")
    return d.thresholds["source"]


def _cell(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def plot(report: QualityReport, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{d.dataset}\n{d.split}" + ("" if d.embedding_model == report.datasets[0].embedding_model
                                          else f"\n{_short_name(d.embedding_model)}")
             for d in report.datasets]
    series = {
        "dense top-1": [{m.mode: m.top1 for m in d.retrieval.modes}["dense"] for d in report.datasets],
        "hybrid top-1": [{m.mode: m.top1 for m in d.retrieval.modes}["hybrid"] for d in report.datasets],
        "answered correctly": [d.decisions.answered_correctly for d in report.datasets],
        "wrong answers sent (share)": [d.decisions.wrong_per_100 / 100 for d in report.datasets],
        "uncovered → fallback": [d.decisions.uncovered_to_fallback for d in report.datasets],
        "out-of-domain → fallback": [d.decisions.out_of_domain_to_fallback for d in report.datasets],
    }
    figure, axes = plt.subplots(figsize=(max(7, 2.2 * len(names)), 4.2))
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series.items()):
        bars = axes.bar([x + i * width for x in range(len(names))], [v or 0 for v in values], width, label=label)
        axes.bar_label(bars, labels=["" if v is None else f"{v:.2f}" for v in values], fontsize=6, rotation=90,
                       padding=2)  # no label where a dataset has no such questions
    axes.set_xticks([x + width * (len(series) - 1) / 2 for x in range(len(names))], names, fontsize=8)
    axes.set_ylim(0, 1.12)
    axes.set_title("Answer quality on knowledge bases nobody here tuned on")
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def eval_file_report(services, name: str, faqs_file: Path, eval_file: Path,
                     generate_limit: int = 0, answer_every: bool = False) -> DatasetReport:
    """A knowledge base from an FAQ file, measured on its labelled eval file. With `generate_limit`, that many
    questions of the generate band, and every multi-turn conversation of the file, are answered through the
    real DialogueManager (LM, reply check) and scored (training/conversation_eval.py); with `answer_every`,
    every question of the file is (training/end_to_end.py)."""
    import asyncio

    from dialogue.messages import InboundMessage
    from retrieval.faq_files import read_faq_file
    from training.calibration import load_eval_set
    from training.conversation_eval import (
        answer_conversations,
        conversation_scores,
        load_conversations,
        searched_conversations,
    )

    started = time.perf_counter()
    knowledge = services.knowledge
    faqs = knowledge.create_many(read_faq_file(faqs_file).drafts)
    knowledge.calibrator.train_now()
    faq_of = {faq.question: faq.id for faq in faqs}
    labelled = load_eval_set(eval_file)
    in_scope = [(q.query, faq_of[next(iter(q.expected))]) for q in labelled if q.group == "in_scope"]
    partial = [(q.query, frozenset(faq_of[f] for f in q.expected)) for q in labelled if q.group == "partial"]
    out_of_scope = [q.query for q in labelled if q.group == "out_of_scope"]
    replayed = knowledge.replay_questions([q.query for q in labelled])
    retrieval = evaluate(knowledge, [EvalQuery(text, f"faq:{faq}") for text, faq in in_scope], f"{name} eval",
                         extra_answer_weights=(0.0,))
    thresholds = services.manager.thresholds()
    decisions = decision_scores(knowledge, thresholds, in_scope, out_of_scope, [], partial)
    generation = conversations = answers = None
    if generate_limit:
        band = [t for t in [t for t, _ in partial] + [t for t, _ in in_scope]
                if decide(knowledge.search(t, top_k=5), thresholds) is Decision.GENERATE][:generate_limit]

        async def answer_band():
            return [(t, (await services.manager.respond(InboundMessage("eval", f"eval-{i}", t)))[0])
                    for i, t in enumerate(band)]

        generation = generation_scores(asyncio.run(answer_band()))
    dialogues = load_conversations(eval_file)
    searched = searched_conversations(services.manager.answering, dialogues, faq_of) if dialogues else None
    if (generate_limit or answer_every) and dialogues:
        conversations = conversation_scores(answer_conversations(services.manager, dialogues), faq_of)
    if answer_every:
        answers = answer_all(services.manager, labelled, faq_of, services.generator.model_id)
    learned = knowledge.learned
    return DatasetReport(name, eval_file.name, knowledge.embedder.model_id, _thresholds(thresholds),
                         learned.calibrated.as_dict() if learned.calibrated else None, retrieval, decisions,
                         round(time.perf_counter() - started, 1), generation, conversations, answers,
                         replayed=replayed, conversation_search=searched)
