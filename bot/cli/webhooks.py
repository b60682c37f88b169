"""`helpdesk webhooks add|list|remove|pause|resume|deliveries|redeliver`: outgoing webhooks (docs/webhooks.md).

The same checks and audit as the admin API (`/admin/webhooks`); changes made here are audited as `system`.
"""

import click

from bot.cli.startup import database_sessions

EVENT_TYPES = ["conversation.started", "message.received", "message.answered", "conversation.handoff",
               "conversation.closed", "feedback.received", "action.failed", "knowledge.changed"]


@click.group()
def webhooks() -> None:
    """Send what happens in conversations to your own systems, signed (docs/webhooks.md)."""


def _store():
    from bot.notify.store import WebhookStore

    return WebhookStore(database_sessions())


def _not_found(call):
    from bot.notify.store import DeliveryNotFound, WebhookNotFound

    try:
        return call()
    except (WebhookNotFound, DeliveryNotFound) as error:
        raise click.ClickException(str(error)) from None


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True, type=click.Choice(EVENT_TYPES + ["all"]),
              help="An event type to send (repeat the option); `all` for every type.")
@click.option("--secret", help="Signs every delivery (16+ characters). Unset, one is generated and printed once.")
@click.option("--description", help="What the receiver is, for the listing.")
def webhooks_add(url: str, events: tuple[str, ...], secret: str | None, description: str | None) -> None:
    """Send the chosen events to URL from now on."""
    import secrets

    from pydantic import ValidationError

    from bot.api.webhook_subscriptions import SubscriptionIn
    from core.audit import SYSTEM

    generated = secret is None
    secret = secret if secret is not None else f"whsec_{secrets.token_hex(24)}"
    try:
        body = SubscriptionIn(url=url, events=EVENT_TYPES if "all" in events else list(events), secret=secret,
                              description=description)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, item['loc']))}: {item['msg'].removeprefix('Value error, ')}"
                             for item in error.errors())
        raise click.ClickException(problems) from None
    created = _store().create(body.url, body.events, body.secret, body.description, SYSTEM)
    click.echo(f"Webhook {created.id} sends {', '.join(created.events)} to {created.url}.")
    if generated:
        click.echo("Its signing secret (shown only now; verify X-Helpdesk-Signature with it):")
        click.echo(secret)


@webhooks.command("list")
def webhooks_list() -> None:
    """Subscriptions with their state: active or paused (and why), deliveries waiting and failed."""
    for item in _store().all():
        click.echo(f"{item.id:>4}  {item.status:<6}  {item.url}  [{', '.join(item.events)}]  "
                   f"{item.pending} pending, {item.failed} failed")
        if item.paused_reason:
            click.echo(f"      {item.paused_reason}")


@webhooks.command("remove")
@click.argument("subscription_id", type=int)
def webhooks_remove(subscription_id: int) -> None:
    """Stop sending to it; its deliveries are forgotten."""
    from core.audit import SYSTEM

    _not_found(lambda: _store().delete(subscription_id, SYSTEM))
    click.echo(f"Removed webhook {subscription_id}.")


@webhooks.command("pause")
@click.argument("subscription_id", type=int)
def webhooks_pause(subscription_id: int) -> None:
    """Send nothing until resumed; events keep being queued."""
    from core.audit import SYSTEM

    _not_found(lambda: _store().pause(subscription_id, SYSTEM))
    click.echo(f"Paused webhook {subscription_id}.")


@webhooks.command("resume")
@click.argument("subscription_id", type=int)
def webhooks_resume(subscription_id: int) -> None:
    """Send what waited, in order, with a fresh retry window."""
    from core.audit import SYSTEM

    item = _not_found(lambda: _store().resume(subscription_id, SYSTEM))
    click.echo(f"Resumed webhook {subscription_id}: {item.pending} deliveries to send.")


@webhooks.command("deliveries")
@click.argument("subscription_id", type=int)
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]), help="Only these.")
@click.option("--limit", type=click.IntRange(1, 500), default=20, show_default=True)
def webhooks_deliveries(subscription_id: int, status: str | None, limit: int) -> None:
    """The latest deliveries, newest first, with attempts and the last error."""
    from core.outbox import DeliveryStatus

    chosen = DeliveryStatus(status) if status else None
    items, count = _not_found(lambda: _store().deliveries(subscription_id, chosen, 0, limit))
    for item in items:
        error = f"  last error: {item.last_error}" if item.last_error else ""
        click.echo(f"{item.id:>6}  {item.status:<7}  {item.type:<22} {item.event_id}  "
                   f"{item.attempts} attempt(s){error}")
    click.echo(f"{len(items)} of {count} shown.")


@webhooks.command("redeliver")
@click.argument("subscription_id", type=int)
@click.argument("delivery_id", type=int)
def webhooks_redeliver(subscription_id: int, delivery_id: int) -> None:
    """Send a delivery again (same event id and body); a running server sends it within a second."""
    from core.audit import SYSTEM

    _not_found(lambda: _store().redeliver(subscription_id, delivery_id, SYSTEM))
    click.echo(f"Delivery {delivery_id} queued again.")
