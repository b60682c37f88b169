"""`helpdesk keys create|list|revoke`: API keys with roles for the admin API (bot/api_keys.py)."""

import click

from bot.cli.startup import database_sessions


@click.group()
def keys() -> None:
    """API keys for the admin API (roles: viewer, editor, admin)."""


@keys.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default="viewer", show_default=True)
def keys_create(name: str, role: str) -> None:
    """Create a key for NAME; the key is printed once and only its hash is stored."""
    from bot.api_keys import ApiKeyError, create_key

    try:
        token = create_key(database_sessions(), name, role)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created {role} key {name!r}. Send it as `Authorization: Bearer <key>`; it is not shown again:")
    click.echo(token)


@keys.command("list")
def keys_list() -> None:
    """Show keys (names, roles, prefixes; never the keys)."""
    from bot.api_keys import list_keys

    for key in list_keys(database_sessions()):
        state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
        used = f"last used {key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never used"
        click.echo(f"{key.name:<24} {key.role:<7} {key.prefix}…  {state}, {used}")


@keys.command("revoke")
@click.argument("name")
def keys_revoke(name: str) -> None:
    """Revoke the key called NAME; it stops working at once."""
    from bot.api_keys import ApiKeyError, revoke_key

    try:
        revoke_key(database_sessions(), name)
    except ApiKeyError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Revoked {name!r}.")
