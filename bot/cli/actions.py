"""`helpdesk actions import|export|serve-sample`: action declarations in and out, and the sample action server."""

import os
import subprocess
import sys
from pathlib import Path

import click

from bot.cli.startup import started_services

SAMPLE_ACTIONS = Path(__file__).parent.parent / "sample" / "actions.yaml"


@click.group()
def actions() -> None:
    """Declare custom actions (docs/actions.md) and run the sample action server."""


@actions.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def actions_import(file: Path) -> None:
    """Declare the actions of a YAML FILE; an action whose name exists is updated."""
    services = started_services(with_lm=False)
    if not import_actions(services, file):
        sys.exit(1)


def import_actions(services, file: Path) -> bool:
    """Upsert every good action of `file`, report the bad ones; True when none was bad."""
    from retrieval.declared_actions.files import UnreadableActionFile, read_action_file

    try:
        parsed = read_action_file(file)
    except UnreadableActionFile as error:
        raise click.ClickException(str(error)) from None
    for number, message in parsed.errors:
        click.echo(f"{file.name} action {number}: {message}", err=True)
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for draft in parsed.drafts:
        counts[services.knowledge.actions.upsert(draft)] += 1
    click.echo(f"{counts['created']} created, {counts['updated']} updated, {counts['unchanged']} unchanged, "
               f"{len(parsed.errors)} rejected.")
    return not parsed.errors


@actions.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def actions_export(file: Path) -> None:
    """Write every declared action to a YAML FILE that `helpdesk actions import` reads back."""
    from retrieval.declared_actions.files import write_action_file

    services = started_services(with_lm=False)
    declared = services.knowledge.actions.all()
    try:
        write_action_file(file, declared)
    except OSError as error:
        raise click.ClickException(f"{file}: {error.strerror}") from None
    click.echo(f"Exported {len(declared)} actions to {file}.")


@actions.command("serve-sample")
@click.option("--port", default=5055, show_default=True, type=int)
def serve_sample(port: int) -> None:
    """Run the sample shop's action server (bot/sample/actions.py, rasa-sdk) on 127.0.0.1:PORT.

    Point the bot at it with HELPDESK_ACTION_ENDPOINT=http://127.0.0.1:PORT/webhook and declare its actions
    with `helpdesk actions import bot/sample/actions.yaml` (or `helpdesk serve --sample-kb`).
    """
    command = [sys.executable, "-m", "rasa_sdk", "--actions", "bot.sample.actions", "-p", str(port)]
    root = Path(__file__).parent.parent.parent
    sys.exit(subprocess.call(command, env={**os.environ, "SANIC_HOST": "127.0.0.1"}, cwd=root))
