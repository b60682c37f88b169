"""`helpdesk telegram set-webhook`: point Telegram at this bot (bot/connectors/telegram.py answers)."""

import asyncio

import click


@click.group()
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
