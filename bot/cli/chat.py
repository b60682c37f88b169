"""`helpdesk chat`: a conversation in the terminal, on the same dialogue manager as the server."""

import asyncio
import os

import click

from bot.cli.startup import started_services


@click.command()
@click.option("--sender", default=lambda: f"terminal-{os.getenv('USER', 'user')}", show_default="terminal-$USER",
              help="Who you are to the bot: the same sender is remembered across sessions.")
def chat(sender: str) -> None:
    """Talk to the bot in this terminal, on the same engine as the server. Ctrl-D to quit."""
    from dialogue.errors import InvalidMessage
    from dialogue.messages import InboundMessage

    services = started_services(with_lm=True)
    click.echo("Chatting with the bot. Type /restart to start a new conversation, Ctrl-D to quit.")

    async def loop() -> None:
        choices: list = []  # the last reply's buttons: typing a choice's number presses it
        while True:
            try:
                text = await asyncio.to_thread(input, "you> ")
            except EOFError:
                click.echo()
                return
            if text.strip().isdigit() and 1 <= int(text) <= len(choices):
                text = choices[int(text) - 1].payload
            try:
                replies = await services.manager.respond(InboundMessage("cli", sender, text))
            except InvalidMessage as error:
                click.echo(f"(not sent: {error})")
                continue
            choices = []
            for reply in replies:
                sources = "".join(f"\n     [{s.id}] {s.title}" for s in reply.sources)
                buttons = "".join(f"\n     {len(choices) + n}) {b.title}" for n, b in enumerate(reply.buttons, 1))
                click.echo(f"bot ({reply.kind.value})> {reply.text}{sources}{buttons}")
                choices += reply.buttons

    asyncio.run(loop())
