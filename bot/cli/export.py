"""`helpdesk export conversations`: stored conversations as JSONL, for review and training."""

import sys
from datetime import datetime
from pathlib import Path

import click

from bot.cli.startup import started_services


@click.group()
def export() -> None:
    """Export stored data."""


@export.command("conversations")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--since", type=click.DateTime(), default=None, help="Only conversations active since then.")
@click.option("--rated-only", is_flag=True, help="Only conversations with feedback or an agent reply.")
def export_conversations(file, since: datetime | None, rated_only) -> None:
    """Write conversations with their turns, feedback and sources to FILE as JSONL ('-' for stdout)."""
    from training.conversations import iter_conversations, write_jsonl

    services = started_services(with_lm=False)
    conversations = iter_conversations(services.sessions, since=since, only_rated=rated_only)
    if str(file) == "-":
        count = write_jsonl(conversations, sys.stdout)
    else:
        with file.open("w", encoding="utf-8") as out:
            count = write_jsonl(conversations, out)
    click.echo(f"Exported {count} conversations to {file}.", err=True)
