"""`helpdesk docs add|fetch|list|delete`: documents in the knowledge base (retrieval/library.py)."""

import sys
from pathlib import Path

import click

from bot.cli.startup import started_services


@click.group()
def docs() -> None:
    """Add, fetch, list and delete documents (Markdown, HTML, text, PDF, web pages)."""


@docs.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--tag", "tags", multiple=True, help="Tag every file (repeatable).")
def docs_add(files: tuple[Path, ...], tags: tuple[str, ...]) -> None:
    """Add FILES, or re-sync those added before under the same name (only changed chunks re-embed)."""
    from retrieval.library import Upload

    services = started_services(with_lm=False)
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

    services = started_services(with_lm=False)
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
    services = started_services(with_lm=False)
    documents, count = services.knowledge.documents.page(0, 10**9)
    for document in documents:
        click.echo(f"{document.id:>5}  {document.chunk_count:>4} chunks  {document.title}  ({document.source})")
    click.echo(f"{count} documents.")


@docs.command("delete")
@click.argument("document_id", type=int)
def docs_delete(document_id: int) -> None:
    """Delete a document and its chunks from the index."""
    from retrieval.errors import DocumentNotFound

    services = started_services(with_lm=False)
    try:
        services.knowledge.documents.delete(document_id)
    except DocumentNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Deleted document {document_id}.")
