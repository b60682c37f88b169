"""`helpdesk faq import|export`: FAQ files (CSV, JSON, YAML) in and out of the knowledge base."""

import sys
from pathlib import Path

import click

from bot.cli.startup import started_services

BATCH = 64


@click.group()
def faq() -> None:
    """Import and export FAQ entries."""


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
