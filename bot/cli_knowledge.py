"""`helpdesk eval`, `helpdesk docs`, `helpdesk keys`: the knowledge base from the command line."""

import sys
from contextlib import contextmanager
from pathlib import Path

import click


def _started_services(with_lm: bool = True):
    from bot.cli import _started_services as started

    return started(with_lm)


@click.group("eval")
def evaluate() -> None:
    """Measure the knowledge base."""


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
    from retrieval.evaluation import UnreadableEvalFile, read_eval_csv, write_report
    from retrieval.evaluation import evaluate as run

    if (csv_file is None) == (banking77 is None):
        raise click.UsageError("give exactly one of --csv FILE or --banking77 FOLDER")
    if csv_file is not None:
        try:
            queries = read_eval_csv(csv_file)
        except UnreadableEvalFile as error:
            raise click.ClickException(str(error)) from None
        services = _started_services(with_lm=False)
        report = run(services.knowledge, queries, csv_file.name, extra_lexical_weights=weights)
    else:
        report = _eval_banking77(banking77, intents, per_intent, weights)
    paths = write_report(report, out)
    click.echo(report.markdown())
    click.echo("Wrote " + ", ".join(str(path) for path in paths))


@contextmanager
def _scratch_services():
    """Started services on a throwaway SQLite knowledge base, so evaluations never touch the configured one."""
    import tempfile

    from bot.services import build_services
    from bot.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="helpdesk-eval-") as scratch:
        settings = get_settings().model_copy(update={"data_dir": Path(scratch), "database_url": ""})
        services = build_services(settings)
        services.start(with_lm=False)
        try:
            yield services
        finally:
            services.knowledge.index.close()
            services.engine.dispose()


def _eval_banking77(folder: Path, intents: int | None, per_intent: int | None, weights: tuple[float, ...]):
    from retrieval.evaluation import EvalQuery, load_banking77
    from retrieval.evaluation import evaluate as run

    data = load_banking77(folder, intents=intents, max_test_per_intent=per_intent)
    with _scratch_services() as services:
        click.echo(f"Embedding {sum(len(d.searchable_texts) for d in data.drafts)} training utterances "
                   f"as {len(data.drafts)} FAQs...")
        faqs = services.knowledge.create_many(data.drafts)
        faq_of_intent = {draft.answer.strip("[]"): faq.id for draft, faq in zip(data.drafts, faqs)}
        queries = [EvalQuery(text, f"faq:{faq_of_intent[intent]}") for text, intent in data.queries]
        click.echo(f"Searching {len(queries)} test utterances three ways...")
        return run(services.knowledge, queries, f"Banking77 ({folder.name})", extra_lexical_weights=weights)


@evaluate.command("thresholds")
@click.option("--holdout", default=0.2, show_default=True, help="Share of FAQs held out as out-of-scope queries.")
@click.option("--seed", default=0, show_default=True)
@click.option("--repeats", default=5, show_default=True, help="Pool the scores of this many seeded splits.")
@click.option("--target-precision", default=0.95, show_default=True, help="Wanted precision of verbatim answers.")
def eval_thresholds(holdout: float, seed: int, repeats: int, target_precision: float) -> None:
    """Suggest the faq/generate thresholds from held-out splits of the knowledge base's own questions.

    Held-out FAQs' questions are out-of-scope queries; one held-out alternative question per kept FAQ is an
    in-scope query; the rest is searched in a throwaway copy exactly as chat searches. The scores of
    `--repeats` splits are pooled (training/holdout_calibration.py).
    """
    from training.calibration import calibrate as fit
    from training.calibration import score_queries
    from training.holdout_calibration import holdout_split

    faqs, _ = _started_services(with_lm=False).knowledge.page(0, 10**9)
    scored = []
    for split_seed in range(seed, seed + repeats):
        split = holdout_split(faqs, holdout, split_seed)
        with _scratch_services() as services:
            services.knowledge.create_many(split.kept)

            def best_hit(query: str, services=services) -> tuple[float, str]:
                hits = services.knowledge.search(query, top_k=1)
                return (hits[0].score, hits[0].title) if hits else (0.0, "")

            scored += score_queries(split.queries, best_hit)
    result = fit(scored, target_precision)
    click.echo(f"queries: {result.counts} (from {len(faqs)} FAQs, {holdout:.0%} held out, "
               f"{repeats} splits from seed {seed})")
    click.echo(f"top-1 accuracy (in scope): {result.top1_accuracy}")
    click.echo(f"HELPDESK_FAQ_THRESHOLD={result.faq_threshold}  (precision {result.faq_precision}, "
               f"answers {result.faq_coverage:.0%} of in-scope queries verbatim)")
    click.echo(f"HELPDESK_GENERATE_THRESHOLD={result.generate_threshold}  (keeps {result.answerable_recall:.0%} of "
               f"answerable queries, sends {result.out_of_scope_rejected:.0%} of out-of-scope ones to fallback)")


@click.group()
def docs() -> None:
    """Add, fetch, list and delete documents (Markdown, HTML, text, PDF, web pages)."""


@docs.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag every file (repeatable).")
def docs_add(files: tuple[Path, ...], tags: tuple[str, ...]) -> None:
    """Add FILES, or re-sync those added before under the same name (only changed chunks re-embed)."""
    from retrieval.library import Upload

    services = _started_services(with_lm=False)
    ok = _each(files, "Adding", lambda file: services.knowledge.documents.ingest(
        Upload(file.name, file.read_bytes(), "upload", None, tags)))
    sys.exit(0 if ok else 1)


@docs.command("fetch")
@click.argument("urls", nargs=-1)
@click.option("--sitemap", help="Also fetch every page a sitemap.xml lists.")
@click.option("--tag", "tags", multiple=True, help="Tag every page (repeatable).")
def docs_fetch(urls: tuple[str, ...], sitemap: str | None, tags: tuple[str, ...]) -> None:
    """Fetch web pages (URLS and/or a --sitemap) into the knowledge base."""
    from retrieval.errors import DocumentError
    from retrieval.fetch import Fetcher
    from retrieval.library import Upload

    services = _started_services(with_lm=False)
    fetcher = Fetcher(services.settings.fetch_timeout_seconds, services.settings.max_upload_bytes)
    pages = list(urls)
    if sitemap:
        try:
            pages += fetcher.sitemap_urls(sitemap)
        except DocumentError as error:
            raise click.ClickException(str(error)) from None
    if not pages:
        raise click.UsageError("give URLS or --sitemap")

    def fetch(url: str):
        page = fetcher.fetch(url)
        return services.knowledge.documents.ingest(Upload(url, page.data, "url", page.content_type, tags))

    sys.exit(0 if _each(list(dict.fromkeys(pages)), "Fetching", fetch) else 1)


def _each(items, verb: str, ingest) -> bool:
    """Ingest items one by one with a progress bar; a bad item is reported and the rest go on."""
    from tqdm import tqdm

    from retrieval.errors import DocumentError

    failed = 0
    with tqdm(total=len(items), desc=verb, unit="doc") as progress:
        for item in items:
            try:
                report = ingest(item)
                progress.write(f"{item}: document {report.document.id}, {report.added} chunks embedded, "
                               f"{report.unchanged} unchanged, {report.removed} removed")
            except DocumentError as error:
                failed += 1
                progress.write(f"{item}: rejected: {error}")
            progress.update(1)
    click.echo(f"{len(items) - failed} of {len(items)} ingested.")
    return failed == 0


@docs.command("list")
def docs_list() -> None:
    """Show every document with its id, chunk count and source."""
    services = _started_services(with_lm=False)
    documents, count = services.knowledge.documents.page(0, 10**9)
    for document in documents:
        click.echo(f"{document.id:>5}  {document.chunk_count:>4} chunks  {document.title}  ({document.source})")
    click.echo(f"{count} documents.")


@docs.command("delete")
@click.argument("document_id", type=int)
def docs_delete(document_id: int) -> None:
    """Delete a document and its chunks from the index."""
    from retrieval.errors import DocumentNotFound

    services = _started_services(with_lm=False)
    try:
        services.knowledge.documents.delete(document_id)
    except DocumentNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Deleted document {document_id}.")


@click.group()
def keys() -> None:
    """API keys for the admin API (roles: viewer, editor, admin)."""


def _database_sessions():
    from bot.migrate import upgrade_database
    from bot.services import StartupError, check_database
    from bot.settings import get_settings
    from core.database import make_engine, make_session_factory

    settings = get_settings()
    engine = make_engine(settings.resolved_database_url)
    try:
        check_database(engine, settings.resolved_database_url)
    except StartupError as error:
        raise click.ClickException(str(error)) from None
    upgrade_database(engine)
    return make_session_factory(engine)


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default="viewer", show_default=True)
def keys_create(name: str, role: str) -> None:
    """Create a key for NAME; the key is printed once and only its hash is stored."""
    from bot.api_keys import ApiKeyError, create_key

    try:
        token = create_key(_database_sessions(), name, role)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {role} key {name!r}. Send it as `Authorization: Bearer <key>`; it is not shown again:")
    click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """Show keys (names, roles, prefixes; never the keys)."""
    from bot.api_keys import list_keys

    for key in list_keys(_database_sessions()):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        click.echo(f"{key.name:<24} {key.role:<7} {key.prefix}…  {state}, {used}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key called NAME; it stops working at once."""
    from bot.api_keys import ApiKeyError, revoke_key

    try:
        revoke_key(_database_sessions(), name)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Revoked {name!r}.")
