"""`helpdesk serve`: the HTTP server (bot/app.py), optionally with the sample knowledge base loaded."""

import os
from pathlib import Path

import click

from bot.cli.actions import SAMPLE_ACTIONS, import_actions
from bot.cli.faq import import_faqs
from bot.cli.multiprocess import default_workers, serve_workers
from bot.cli.startup import freeze_loaded, started_services, stop_signals_end_loading

SAMPLE_FAQS = Path(__file__).parent.parent / "sample" / "faqs.yaml"
SAMPLE_COMPANY = "Nimbus Home"
SAMPLE_EVAL = SAMPLE_FAQS.with_name("eval.yaml")  # held out: never loaded into the knowledge base


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--sample-kb", is_flag=True, help="Load the sample Nimbus Home FAQs and actions (updates, never "
                                                "duplicates).")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Server processes on the port; each loads its own models. [default: one per core, at most 8]")
def serve(host: str, port: int, sample_kb: bool, workers: int | None) -> None:
    """Run the HTTP server (widget demo page at /, chat webhooks, admin API, OpenAPI docs at /docs)."""
    from bot.settings import get_settings

    if sample_kb:  # the sample shop's name on the demo page and in the prompt, unless the operator named one
        os.environ.setdefault("HELPDESK_COMPANY_NAME", SAMPLE_COMPANY)
    workers = workers or default_workers()
    # Answers in progress get this long after SIGTERM; then their connections are closed (a client that
    # stalls mid-request held a worker for minutes before).
    grace = get_settings().shutdown_grace_seconds
    if workers > 1:
        serve_workers(host, port, workers, SAMPLE_FAQS if sample_kb else None, grace)
        return
    import uvicorn

    from bot.app import create_app

    with stop_signals_end_loading(until_served=True):
        services = started_services(with_lm=True)
        if sample_kb:
            import_faqs(services, SAMPLE_FAQS)
            import_actions(services, SAMPLE_ACTIONS)  # run by `helpdesk actions serve-sample` (docs/actions.md)
    click.echo(f"Helpdesk bot on http://{host}:{port}  (chat widget demo: http://{host}:{port}/ , "
               f"API docs: http://{host}:{port}/docs)")
    app = create_app(services.settings, services)
    freeze_loaded()
    uvicorn.run(app, host=host, port=port, log_level="info", timeout_graceful_shutdown=grace)
