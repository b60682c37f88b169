"""`helpdesk customers`: find, export and erase one customer's data; purge what is past retention."""

import json
import sys
from datetime import timedelta
from pathlib import Path

import click

from bot.cli.startup import database_sessions

CLI_ACTOR = "cli"


@click.group()
def customers() -> None:
    """Customer data requests and retention (docs/privacy.md)."""


@customers.command("find")
@click.option("--channel", default=None, help="rest, widget, socketio, slack, telegram")
@click.option("--sender-id", default=None, help="The sender id on that channel.")
def find(channel: str | None, sender_id: str | None) -> None:
    """List customers by channel identity, one JSON object a line."""
    from bot.support.customers import find_customers

    for found in find_customers(database_sessions(), channel, sender_id):
        click.echo(json.dumps({**found.__dict__, "created_at": found.created_at.isoformat()}))


@customers.command("export")
@click.argument("customer_id", type=int)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of stdout.")
def export(customer_id: int, output: Path | None) -> None:
    """Everything kept about CUSTOMER_ID as JSON (find the id with `helpdesk customers find`)."""
    from bot.support.customers import audit_export, export_customer
    from dialogue.errors import CustomerNotFound

    sessions = database_sessions()
    try:
        data = export_customer(sessions, customer_id)
    except CustomerNotFound as error:
        raise click.ClickException(str(error)) from None
    audit_export(sessions, customer_id, CLI_ACTOR)
    text = json.dumps(data, ensure_ascii=False, indent=2)
    if output is None:
        sys.stdout.write(text + "\n")
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"Exported customer {customer_id} to {output}.", err=True)


@customers.command("delete")
@click.argument("customer_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(customer_id: int, yes: bool) -> None:
    """Erase CUSTOMER_ID: profile, identities, conversations, channel records, training examples."""
    from bot.support.customers import erase_customer
    from bot.settings import get_settings
    from dialogue.errors import CustomerNotFound

    if not yes:
        click.confirm(f"Erase customer {customer_id} and everything kept about them?", abort=True)
    try:
        erased = erase_customer(database_sessions(), customer_id, CLI_ACTOR, get_settings().resolved_registry_dir)
    except CustomerNotFound as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps({"id": customer_id, **erased.__dict__}))


@customers.command("purge")
@click.option("--older-than-days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Default: HELPDESK_RETENTION_DAYS.")
@click.option("--mode", type=click.Choice(["delete", "anonymise"]), default=None,
              help="Default: HELPDESK_RETENTION_MODE.")
def purge(older_than_days: float | None, mode: str | None) -> None:
    """Delete (or anonymise) conversations idle longer than the retention period, now."""
    from bot.background.purge import purge as run_purge
    from bot.settings import get_settings
    from core.database import utcnow

    settings = get_settings()
    days = older_than_days or settings.retention_days
    if days is None:
        raise click.ClickException("No retention period: pass --older-than-days or set HELPDESK_RETENTION_DAYS.")
    purged = run_purge(database_sessions(), utcnow() - timedelta(days=days), mode or settings.retention_mode)
    click.echo(json.dumps(purged.__dict__))
