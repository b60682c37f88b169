"""`helpdesk`, the command line: one module per command group, all of them registered here, and only here.

Command modules import `bot.cli.startup` (a leaf) and never this package, so nothing registers itself
as a side effect of being imported. Heavy imports (models, FastAPI) happen inside the commands.
"""

import logging

import click

from bot.cli.actions import actions
from bot.cli.chat import chat
from bot.cli.customers import customers
from bot.cli.docs import docs
from bot.cli.evaluate import calibrate, evaluate
from bot.cli.export import export
from bot.cli.faq import faq
from bot.cli.keys import keys
from bot.cli.model import model
from bot.cli.serve import serve
from bot.cli.startup import configure_logging, offline_by_default
from bot.cli.telegram import telegram
from bot.cli.train import train
from bot.cli.webhooks import webhooks

COMMANDS = [serve, chat, faq, actions, docs, keys, evaluate, calibrate, train, model, export, telegram, webhooks,
            customers]


@click.group(commands=COMMANDS)
@click.option("-v", "--verbose", is_flag=True, help="Log debug details.")
def main(verbose: bool) -> None:
    """Self-hosted customer-service chatbot. Configure with HELPDESK_* environment variables."""
    offline_by_default()
    configure_logging(logging.DEBUG if verbose else logging.INFO)
