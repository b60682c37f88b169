"""`helpdesk eval retrieval|thresholds|generation`: measure search, the decision thresholds and trained LMs.

Evaluations that build a knowledge base of their own do it in a throwaway copy (`_scratch_services`), so
they never touch the configured one. `helpdesk calibrate EVAL_FILE` is a hidden alias of
`helpdesk eval thresholds EVAL_FILE`, kept for scripts that use the older name.
"""

from contextlib import contextmanager
from pathlib import Path

import click

from bot.cli.serve import SAMPLE_EVAL, SAMPLE_FAQS
from bot.cli.startup import started_services

MOBILE_OPERATOR = Path(__file__).parent.parent.parent / "training" / "eval_sets" / "mobile_operator"
# `eval quality` without --kb: the sample shop, and a mobile operator written after the settings were chosen
DEFAULT_EVAL_FILES = [("sample shop", SAMPLE_FAQS, SAMPLE_EVAL),
                      ("mobile operator", MOBILE_OPERATOR / "faqs.yaml", MOBILE_OPERATOR / "eval.yaml")]


@click.group("eval")
def evaluate() -> None:
    """Measure retrieval, the decision thresholds and trained models."""


@evaluate.command("retrieval")
@click.option("--csv", "csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Queries with columns `query,expected_id` (an FAQ id, faq:ID or document:ID) to search the "
                   "configured knowledge base with.")
@click.option("--banking77", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with the Banking77 train.csv/test.csv: train utterances become 77 FAQs in a "
                   "temporary knowledge base, test utterances are the queries.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-out"),
              show_default=True, help="Where retrieval.json, retrieval.md and retrieval.png go.")
@click.option("--intents", type=int, default=None, help="Banking77: only the first N intents (quick runs).")
@click.option("--per-intent", type=int, default=None, help="Banking77: at most N test queries per intent.")
@click.option("--lexical-weight", "weights", type=float, multiple=True,
              help="Also score hybrid with this BM25 weight (repeatable), to tune HELPDESK_LEXICAL_WEIGHT.")
def eval_retrieval(csv_file: Path | None, banking77: Path | None, out: Path, intents: int | None,
                   per_intent: int | None, weights: tuple[float, ...]) -> None:
    """Top-1, recall@5 and MRR of dense, BM25 and hybrid search, side by side in one run."""
    from retrieval.eval_queries import UnreadableEvalFile, read_eval_csv
    from retrieval.retrieval_report import write_report
    from retrieval.evaluation import evaluate as run

    if (csv_file is None) == (banking77 is None):
        raise click.UsageError("give exactly one of --csv FILE or --banking77 FOLDER")
    if csv_file is not None:
        try:
            queries = read_eval_csv(csv_file)
        except UnreadableEvalFile as error:
            raise click.ClickException(str(error)) from None
        services = started_services(with_lm=False)
        report = run(services.knowledge, queries, csv_file.name, extra_lexical_weights=weights)
    else:
        report = _eval_banking77(banking77, intents, per_intent, weights)
    paths = write_report(report, out)
    click.echo(report.markdown())
    click.echo("Wrote " + ", ".join(str(path) for path in paths))


@contextmanager
def _scratch_services(with_lm: bool = False, **settings_update):
    """Started services on a throwaway SQLite knowledge base, so evaluations never touch the configured one."""
    import tempfile

    from bot.services import build_services
    from bot.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="helpdesk-eval-") as scratch:
        settings = get_settings().model_copy(update={"data_dir": Path(scratch), "database_url": "", **settings_update})
        services = build_services(settings)
        services.start(with_lm=with_lm)
        try:
            yield services
        finally:
            services.knowledge.close()
            services.engine.dispose()


def _with_tuned(measure, tune: bool, with_lm: bool = False, **settings_update) -> list:
    """`measure(services)` on a scratch knowledge base; with `tune`, the embedder is then fine-tuned on that
    knowledge base through the learning loop's job and `measure` runs again on a fresh one served by it."""
    from training.embedder_job import run_train_embeddings, trained_embedder_lines
    from training.registry import Registry
    from training.train_embeddings import EmbeddingTrainingArguments

    with _scratch_services(with_lm=with_lm, **settings_update) as services:
        reports = measure(services)
        if not tune:
            return reports
        click.echo("  fine-tuning the embedder on it (helpdesk train embeddings)...")
        card = run_train_embeddings(services, EmbeddingTrainingArguments(device=services.settings.device),
                                    show_progress=False)
        for line in trained_embedder_lines(card):
            click.echo(f"  {line}")
        tuned = {**settings_update, "embedding_model": str(Registry(services.settings.resolved_registry_dir)
                                                             .path(card.id))}
        with _scratch_services(with_lm=with_lm, **tuned) as tuned_services:
            return reports + measure(tuned_services)


def _eval_banking77(folder: Path, intents: int | None, per_intent: int | None, weights: tuple[float, ...]):
    from retrieval.banking77 import load_banking77
    from retrieval.eval_queries import EvalQuery
    from retrieval.evaluation import evaluate as run

    data = load_banking77(folder, intents=intents, max_test_per_intent=per_intent)
    with _scratch_services() as services:
        click.echo(f"Embedding {sum(len(d.searchable_texts) for d in data.drafts)} training utterances "
                   f"as {len(data.drafts)} FAQs...")
        faqs = services.knowledge.create_many(data.drafts)
        faq_of_intent = {intent: faq.id for intent, faq in zip(data.intents, faqs)}
        queries = [EvalQuery(text, f"faq:{faq_of_intent[intent]}") for text, intent in data.queries]
        click.echo(f"Searching {len(queries)} test utterances three ways...")
        return run(services.knowledge, queries, f"Banking77 ({folder.name})", extra_lexical_weights=weights)


@evaluate.command("thresholds")
@click.argument("eval_file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--holdout", default=0.2, show_default=True,
              help="Share of FAQs held out as out-of-scope queries (without EVAL_FILE).")
@click.option("--seed", default=0, show_default=True, help="Seed of the first split (without EVAL_FILE).")
@click.option("--repeats", default=5, show_default=True,
              help="Pool the scores of this many seeded splits (without EVAL_FILE).")
@click.option("--target-precision", default=0.95, show_default=True, help="Wanted precision of verbatim answers.")
def eval_thresholds(eval_file: Path | None, holdout: float, seed: int, repeats: int,
                    target_precision: float) -> None:
    """Suggest the faq/generate thresholds from a labelled EVAL_FILE, or from held-out FAQs.

    EVAL_FILE (YAML) has `in_scope` ({query, faq}), `partial` ({query, faqs}) and `out_of_scope` (strings) lists;
    FAQs are named by their question. bot/sample/eval.yaml is the example for the sample knowledge base.

    Without EVAL_FILE, the knowledge base's own questions are split: held-out FAQs' questions are
    out-of-scope queries; one held-out alternative question per kept FAQ is an in-scope query; the rest is
    searched in a throwaway copy exactly as chat searches. The scores of `--repeats` splits are pooled
    (training/holdout_calibration.py).
    """
    if eval_file is not None:
        _thresholds_from_file(eval_file, target_precision)
    else:
        _thresholds_from_holdout(holdout, seed, repeats, target_precision)


@click.command("calibrate", hidden=True)
@click.argument("eval_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target-precision", default=0.95, show_default=True, help="Wanted precision of verbatim answers.")
def calibrate(eval_file: Path, target_precision: float) -> None:
    """Suggest HELPDESK_FAQ_THRESHOLD / HELPDESK_GENERATE_THRESHOLD from a labelled EVAL_FILE (YAML).

    The former name of `helpdesk eval thresholds EVAL_FILE`, whose help describes the file.
    """
    _thresholds_from_file(eval_file, target_precision)


def _thresholds_from_file(eval_file: Path, target_precision: float) -> None:
    from training.calibration import calibrate as fit
    from training.calibration import load_eval_set, score_queries

    services = started_services(with_lm=False)

    def best_hit(query: str) -> tuple[float, str]:
        hits = services.knowledge.search(query, top_k=1)
        return (hits[0].confidence, hits[0].title) if hits else (0.0, "")

    result = fit(score_queries(load_eval_set(eval_file), best_hit), target_precision)
    click.echo(f"queries: {result.counts}")
    _show_thresholds(result)


def _thresholds_from_holdout(holdout: float, seed: int, repeats: int, target_precision: float) -> None:
    from training.calibration import calibrate as fit
    from training.calibration import score_queries
    from training.holdout_calibration import holdout_split

    faqs, _ = started_services(with_lm=False).knowledge.page(0, 10**9)
    scored = []
    for split_seed in range(seed, seed + repeats):
        split = holdout_split(faqs, holdout, split_seed)
        with _scratch_services() as services:
            services.knowledge.create_many(split.kept)

            def best_hit(query: str, services=services) -> tuple[float, str]:
                hits = services.knowledge.search(query, top_k=1)
                return (hits[0].confidence, hits[0].title) if hits else (0.0, "")

            scored += score_queries(split.queries, best_hit)
    result = fit(scored, target_precision)
    click.echo(f"queries: {result.counts} (from {len(faqs)} FAQs, {holdout:.0%} held out, "
               f"{repeats} splits from seed {seed})")
    _show_thresholds(result)


def _show_thresholds(result) -> None:
    click.echo(f"top-1 accuracy (in scope): {result.top1_accuracy}")
    click.echo(f"HELPDESK_FAQ_THRESHOLD={result.faq_threshold}  (precision {result.faq_precision}, "
               f"answers {result.faq_coverage:.0%} of in-scope queries verbatim)")
    click.echo(f"HELPDESK_GENERATE_THRESHOLD={result.generate_threshold}  (keeps {result.answerable_recall:.0%} of "
               f"answerable queries, sends {result.out_of_scope_rejected:.0%} of out-of-scope ones to fallback)")


@evaluate.command("generation")
@click.argument("adapter", required=False)
@click.option("--limit", type=int, default=None, help="Evaluate only this many test prompts.")
@click.option("--max-new-tokens", type=int, default=None, help="Default: HELPDESK_MAX_NEW_TOKENS.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder; default data_dir/reports.")
def eval_generation(adapter, limit, max_new_tokens, out) -> None:
    """Base model vs ADAPTER (default: the newest) on its test split: JSON + Markdown report, scores on its card."""
    from training.errors import TrainingError
    from training.lm_eval_job import run_eval_generation

    services = started_services(with_lm=True)
    settings = services.settings
    try:
        report, json_path, md_path = run_eval_generation(
            settings, services.generator, adapter, limit, max_new_tokens or settings.max_new_tokens,
            out or settings.data_dir / "reports")
    except TrainingError as error:
        raise click.ClickException(str(error)) from None
    click.echo(md_path.read_text().split("## First replies")[0].strip())
    click.echo(f"\nReport: {md_path} and {json_path}")


@evaluate.command("quality")
@click.option("--data-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder with the public datasets (banking77/, banking77_oos/, hwu64/, "
                   "bitext_customer_support_4514/); without it only the eval files (--kb) are measured.")
@click.option("--dataset", "datasets", multiple=True,
              type=click.Choice(["banking77", "banking77-oos", "hwu64", "bitext"]),
              help="Only these datasets (repeatable; default: all four).")
@click.option("--split", "splits", multiple=True, type=click.Choice(["valid", "test"]),
              help="Questions to measure on (repeatable; default valid; Banking77 has only test). Choose settings "
                   "on valid; report test once.")
@click.option("--kb", "knowledge_bases", multiple=True, nargs=2,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FAQS EVAL_FILE",
              help="A knowledge base (an FAQ file as `helpdesk faq import` reads) and its labelled eval file "
                   "(the format of bot/sample/eval.yaml, with optional multi-turn `conversations:`); "
                   "repeatable. Default: the sample shop and training/eval_sets/mobile_operator.")
@click.option("--generate", "generate_limit", type=int, default=0, show_default=True,
              help="Answer this many generate-band questions of each eval file, and its conversations, with the "
                   "real LM and reply check.")
@click.option("--answer-all", "answer_every", is_flag=True,
              help="Answer every question of each eval file, and its conversations, through the real answering path "
                   "with the configured LM (HELPDESK_LM_MODEL) and its reply check: answered correctly, wrong "
                   "answers sent per 100 questions and the latency per answered question, for that model.")
@click.option("--alternatives", type=click.Choice(["keep", "drop", "both"]), default="keep", show_default=True,
              help="drop: measure each knowledge base as plain questions, its alternative questions dropped (and, for "
                   "an eval file's, asked as the split `alternatives`); both: as written and plain, side by side.")
@click.option("--enrich", is_flag=True,
              help="With --alternatives drop or both: measure each plain knowledge base again after the configured LM "
                   "wrote paraphrases of its FAQs (`helpdesk faq enrich`), side by side. With --language, or a --kb "
                   "whose questions are in another language than its FAQs: measure that knowledge base again after the "
                   "LM translated its FAQs' questions into the questions' language (`helpdesk faq enrich --language`).")
@click.option("--embedding-model", "embedders", multiple=True,
              help="Also run everything with this embedder (a folder, e.g. a tuned one from `helpdesk train "
                   "embeddings`), side by side with the configured one (repeatable).")
@click.option("--tune-embedder", is_flag=True,
              help="Also fine-tune the embedder on each knowledge base as `helpdesk train embeddings` does (the "
                   "learning loop; about twice the training time, for the thresholds' held-out model) and run "
                   "its report again with the tuned model, beside the base one.")
@click.option("--language", "languages", multiple=True, metavar="CODE",
              help="Also measure HWU64 in this language (repeatable; our translations of a subset, "
                   "training/eval_sets/hwu64_languages/): the knowledge base and questions in that language, and the "
                   "English subset asked in it, beside the English subset. Needs --data-dir; without --dataset "
                   "and --kb, only these are measured.")
@click.option("--intents", type=int, default=None, help="Only the first N intents per dataset (quick runs).")
@click.option("--per-intent", type=int, default=None, help="At most N questions per intent (quick runs).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("eval-out"), show_default=True,
              help="Where quality.md, quality.json and quality.png go.")
def eval_quality(data_dir, datasets, splits, knowledge_bases, generate_limit, answer_every, alternatives, enrich,
                 embedders, tune_embedder, languages, intents, per_intent, out) -> None:
    """The whole answer-quality report: retrieval, decisions, generation; each knowledge base calibrates itself."""
    import json
    from dataclasses import replace

    from retrieval.benchmarks import DATASETS, DatasetMissing, load_benchmark, out_of_domain, without_alternatives
    from training.eval_file_benchmark import eval_file_benchmark
    from training.quality import QualityReport, eval_file_report, markdown, plot

    report = QualityReport()
    named = ([(faqs.parent.name, faqs, eval_file) for faqs, eval_file in knowledge_bases]
             or (DEFAULT_EVAL_FILES if not languages else []))
    keep, drop = alternatives in ("keep", "both"), alternatives in ("drop", "both")
    chosen_splits = list(dict.fromkeys(splits or ["valid"]))
    for embedder in (None, *embedders):
        extra = {"embedding_model": embedder} if embedder else {}
        for name, faqs, eval_file in named:
            def measure(services, name=name, faqs=faqs, eval_file=eval_file):
                click.echo(f"{name} ({services.embedder.model_id})...")
                return [eval_file_report(services, name, faqs, eval_file, generate_limit, answer_every)]
            if keep:
                report.datasets += _with_tuned(measure, tune_embedder, with_lm=generate_limit > 0 or answer_every,
                                               **extra)
            if enrich and keep and (asked_in := _asked_in(faqs, eval_file)):  # the FAQs translated into it
                translated = replace(eval_file_benchmark(name, faqs, eval_file), asked_in=asked_in)
                report.datasets += _with_tuned(_benchmark_measure(translated, ["eval"], {}, True), tune_embedder,
                                               with_lm=True, **extra)
            if drop:  # its eval questions, and its own alternative questions (those the plain copy lost)
                plain = without_alternatives(eval_file_benchmark(name, faqs, eval_file))
                report.datasets += _with_tuned(_benchmark_measure(plain, ["eval", "alternatives"], {}, enrich),
                                               tune_embedder, with_lm=enrich, **extra)
        for name in (datasets or (DATASETS if not languages else ())) if data_dir else ():
            wanted = ["test"] if name == "banking77" else chosen_splits
            try:
                benchmark = load_benchmark(name, data_dir, intents, per_intent)
                ood = {split: out_of_domain(data_dir, split, per_intent and per_intent * 10)
                       for split in wanted} if name.startswith("banking77") else {}
            except DatasetMissing as error:
                raise click.ClickException(str(error)) from None
            for variant in [benchmark] * keep + [without_alternatives(benchmark)] * drop:
                measure = _benchmark_measure(variant, wanted, ood, enrich and variant is not benchmark)
                report.datasets += _with_tuned(measure, tune_embedder, with_lm=enrich, **extra)
        for benchmark in _translated(data_dir, languages):  # with --enrich: the English FAQs translated too
            translate = enrich and benchmark.asked_in is not None
            report.datasets += _with_tuned(_benchmark_measure(benchmark, chosen_splits, {}, translate), tune_embedder,
                                           with_lm=translate, **extra)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quality.json").write_text(json.dumps(report.as_dict(), indent=2) + "\n")
    (out / "quality.md").write_text(markdown(report))
    plot(report, out / "quality.png")
    click.echo(markdown(report))
    click.echo(f"Wrote {out / 'quality.md'}, {out / 'quality.json'}, {out / 'quality.png'}")


def _asked_in(faqs: Path, eval_file: Path) -> str | None:
    """The language most of the eval file's questions are in, where it is not the one most FAQs are in."""
    from collections import Counter

    from core.language_detection import shared_detector
    from retrieval.faq_files import read_faq_file
    from training.calibration import load_eval_set

    detector = shared_detector()

    def most(texts: list[str]) -> str | None:
        found = Counter(d.code for text in texts if (d := detector.detect(text)) is not None and d.confidence >= 0.5)
        return found.most_common(1)[0][0] if found else None

    questions = most([query.query for query in load_eval_set(eval_file)])
    return questions if questions != most([draft.question for draft in read_faq_file(faqs).drafts]) else None


def _translated(data_dir: Path | None, languages: tuple[str, ...]) -> list:
    """The English HWU64 subset, then each language's own and cross-lingual benchmark."""
    from retrieval.benchmarks import DatasetMissing
    from training.translated_benchmarks import english_subset, translated_benchmarks

    if not languages:
        return []
    if data_dir is None:
        raise click.ClickException("--language needs --data-dir (the folder that holds hwu64/)")
    try:
        return [english_subset(data_dir), *(b for code in languages for b in translated_benchmarks(data_dir, code))]
    except DatasetMissing as error:
        raise click.ClickException(str(error)) from None


def _benchmark_measure(benchmark, splits: list[str], ood: dict, enrich: bool = False):
    """`measure(services)` for `_with_tuned`: the benchmark's report on each of `splits`; with `enrich`, again
    after the configured LM enriched its FAQs."""
    from training.quality import benchmark_reports

    def measure(services):
        click.echo(f"{benchmark.name} ({services.embedder.model_id}): {len(benchmark.drafts)} FAQs; "
                   f"{', '.join(splits)}...")
        enrich_with = (services.generator, services.settings.company_name) if enrich else None
        return benchmark_reports(services.knowledge, services.manager.thresholds, benchmark, splits, ood, enrich_with)
    return measure
