"""`helpdesk`: serve the bot, chat in a terminal, import and export FAQs."""

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

SAMPLE_FAQS = Path(__file__).parent / "sample" / "faqs.yaml"
BATCH = 64


def _offline_by_default() -> None:
    # Models are embedded or local; never wait on a hub that locked-down servers cannot reach.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _started_services(with_lm: bool = True):
    from bot.services import StartupError, build_services
    from bot.settings import get_settings
    from core.errors import ModelUnavailable

    try:
        services = build_services(get_settings())
        services.start(with_lm=with_lm)
    except (StartupError, ModelUnavailable) as error:
        raise click.ClickException(str(error)) from None
    return services


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """Self-hosted customer-service chatbot. Configure with HELPDESK_* environment variables."""
    _offline_by_default()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is not news


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--sample-kb", is_flag=True, help="Load the sample Nimbus Home FAQs (updates, never duplicates).")
def serve(host: str, port: int, sample_kb: bool) -> None:
    """Run the HTTP server (widget demo page at /, chat webhooks, admin API, OpenAPI docs at /docs)."""
    import uvicorn

    from bot.app import create_app

    services = _started_services()
    if sample_kb:
        _import(services, SAMPLE_FAQS)
    click.echo(f"Helpdesk bot on http://{host}:{port}  (chat widget demo: http://{host}:{port}/ , "
               f"API docs: http://{host}:{port}/docs)")
    uvicorn.run(create_app(services.settings, services), host=host, port=port, log_level="info")


@main.command()
@click.option("--sender", default=lambda: f"terminal-{os.getenv('USER', 'user')}", show_default="terminal-$USER",
              help="Who you are to the bot: the same sender is remembered across sessions.")
def chat(sender: str) -> None:
    """Talk to the bot in this terminal, on the same engine as the server. Ctrl-D to quit."""
    from dialogue.errors import InvalidMessage
    from dialogue.messages import InboundMessage

    services = _started_services()
    click.echo("Chatting with the bot. Type /restart to start a new conversation, Ctrl-D to quit.")

    async def loop() -> None:
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                click.echo()
                return
            try:
                replies = await services.manager.respond(InboundMessage("cli", sender, text))
            except InvalidMessage as error:
                click.echo(f"(not sent: {error})")
                continue
            for reply in replies:
                sources = "".join(f"\n     [{s.id}] {s.title}" for s in reply.sources)
                click.echo(f"bot ({reply.kind.value})> {reply.text}{sources}")

    asyncio.run(loop())


@main.group()
def faq() -> None:
    """Import and export FAQ entries."""


@faq.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def faq_import(file: Path) -> None:
    """Add FAQs from a CSV, JSON or YAML FILE; an existing question is updated, not duplicated."""
    services = _started_services(with_lm=False)
    if not _import(services, file):
        sys.exit(1)


def _import(services, file: Path) -> bool:
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

    services = _started_services(with_lm=False)
    faqs, count = services.knowledge.page(0, 10**9)
    try:
        write_faq_file(file, faqs)
    except UnreadableFaqFile as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Exported {count} FAQs to {file}.")


@main.command()
@click.argument("eval_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--target-precision", default=0.95, show_default=True, help="Wanted precision of verbatim answers.")
def calibrate(eval_file: Path, target_precision: float) -> None:
    """Suggest HELPDESK_FAQ_THRESHOLD / HELPDESK_GENERATE_THRESHOLD from a labelled EVAL_FILE (YAML).

    The file has `in_scope` ({query, faq}), `partial` ({query, faqs}) and `out_of_scope` (strings) lists;
    FAQs are named by their question. bot/sample/eval.yaml is the example for the sample knowledge base.
    """
    from training.calibration import calibrate as fit, load_eval_set, score_queries

    services = _started_services(with_lm=False)

    def best_hit(query: str) -> tuple[float, str]:
        hits = services.knowledge.search(query, top_k=1)
        return (hits[0].score, hits[0].faq.question) if hits else (0.0, "")

    result = fit(score_queries(load_eval_set(eval_file), best_hit), target_precision)
    click.echo(f"queries: {result.counts}")
    click.echo(f"top-1 accuracy (in scope): {result.top1_accuracy}")
    click.echo(f"HELPDESK_FAQ_THRESHOLD={result.faq_threshold}  (precision {result.faq_precision}, "
               f"answers {result.faq_coverage:.0%} of in-scope queries verbatim)")
    click.echo(f"HELPDESK_GENERATE_THRESHOLD={result.generate_threshold}  (keeps {result.answerable_recall:.0%} of "
               f"answerable queries, sends {result.out_of_scope_rejected:.0%} of out-of-scope ones to fallback)")


@main.group()
def telegram() -> None:
    """Set up the Telegram channel (docs/channels.md)."""


@telegram.command("set-webhook")
@click.argument("public_url")
@click.option("--new-secret", is_flag=True,
              help="Generate a new secret token even when HELPDESK_TELEGRAM_SECRET_TOKEN is already set.")
def telegram_set_webhook(public_url: str, new_secret: bool) -> None:
    """Tell Telegram to send this bot's updates to PUBLIC_URL (the bot's public https:// address).

    Registers PUBLIC_URL/webhooks/telegram/webhook with a secret token that Telegram sends back in every
    request; the bot refuses requests without it. A new token is generated unless one is configured.
    """
    import secrets

    from bot.connectors.delivery import DeliveryFailed
    from bot.connectors.telegram import TelegramApi, set_webhook
    from bot.settings import get_settings

    settings = get_settings()
    if settings.telegram_bot_token is None or not settings.telegram_bot_token.get_secret_value():
        raise click.ClickException("Set HELPDESK_TELEGRAM_BOT_TOKEN (the token @BotFather gave you) first.")
    configured = settings.telegram_secret_token.get_secret_value() if settings.telegram_secret_token else ""
    secret = configured if configured and not new_secret else secrets.token_urlsafe(32)
    if not public_url.startswith("https://"):
        click.echo("Note: Telegram only delivers to https:// URLs.", err=True)
    api = TelegramApi(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url)

    async def register() -> str:
        try:
            return await set_webhook(api, public_url, secret)
        finally:
            await api.aclose()

    try:
        url = asyncio.run(register())
    except DeliveryFailed as error:
        raise click.ClickException(f"Telegram did not accept the webhook: {error}") from None
    click.echo(f"Telegram now sends updates to {url}")
    if secret != configured:
        click.echo("Give the bot this secret token and restart it:\n"
                   f"  HELPDESK_TELEGRAM_SECRET_TOKEN={secret}")


# Knowledge-base commands (documents, evaluation, API keys) live in their own module.
from bot.cli_knowledge import docs, evaluate, keys

main.add_command(evaluate, "eval")
main.add_command(docs)
main.add_command(keys)



def _add_learning_commands() -> None:
    """Register train/eval/model/export; a group that already exists (e.g. `eval`) gains the subcommands."""
    from bot.cli_learning import commands

    for command in commands:
        existing = main.commands.get(command.name)
        if isinstance(existing, click.Group) and isinstance(command, click.Group):
            for sub in command.commands.values():
                existing.add_command(sub)
        else:
            main.add_command(command)


_add_learning_commands()


if __name__ == "__main__":
    main()
