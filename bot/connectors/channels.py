"""Builds the platform channels that are switched on by their settings, sharing one neutral pipeline."""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from bot.connectors.background import BackgroundWork
from bot.connectors.delivery import ReplyDelivery, RetryPolicy
from bot.connectors.ledger import Ledger
from bot.connectors.pipeline import ChannelPipeline, PlatformEvent
from bot.connectors.slack import SlackConnector, SlackPlatform
from bot.connectors.telegram import TelegramApi, TelegramConnector, TelegramPlatform
from bot.services import Services
from bot.settings import Settings
from core.processes import Orphaned

log = logging.getLogger(__name__)


# The website widget polls for agent replies while a conversation is with people.
POLLING_CHANNELS = ("widget",)


@dataclass(frozen=True)
class Relay:
    """What happened to an agent's reply on the customer's channel."""

    status: str  # queued (being sent) / polled (the client fetches it) / stored (no push) / not_sent
    detail: str


@dataclass
class Channels:
    background: BackgroundWork
    ledger: Ledger
    pipeline: ChannelPipeline
    drain_seconds: float
    slack: SlackConnector | None = None
    telegram: TelegramConnector | None = None
    slack_missing: list[str] = field(default_factory=list)  # the settings that would switch it on
    telegram_missing: list[str] = field(default_factory=list)

    async def relay_agent_reply(self, channel: str, conversation_id: int, turn_id: int, text: str) -> Relay:
        """Push an agent's reply to the customer's platform, where the platform allows pushing."""
        if channel in POLLING_CHANNELS:
            return Relay("polled", f"The {channel} client fetches agent replies itself.")
        pushable = {"slack": (self.slack, self.slack_missing), "telegram": (self.telegram, self.telegram_missing)}
        if channel not in pushable:
            return Relay("stored", f"The {channel} channel cannot be written to first; the reply is stored and "
                                   "shown in the transcript.")
        connector, missing = pushable[channel]
        if connector is None:
            return Relay("not_sent", f"The {channel} channel is switched off ({', '.join(missing)} not set); the "
                                     "reply is stored but the customer cannot see it.")
        target = await self.ledger.last_target(channel, conversation_id)
        if target is None:
            return Relay("not_sent", f"No earlier {channel} reply of this conversation says where to write; the "
                                     "reply is stored but the customer cannot see it.")
        # A fresh message in the same chat or thread, not a quote of the customer's last message.
        target = {key: value for key, value in target.items() if key != "reply_to"}
        self.pipeline.relay(connector.platform, channel, target, text, turn_id)
        return Relay("queued", f"Sending to {channel}; every attempt is recorded in channel_deliveries.")

    async def recover(self, orphaned: Orphaned, since: datetime) -> None:
        """Take over what dead processes left on the channels that are on: events to answer, deliveries
        to resend. Each takeover is logged; the work itself runs in the background."""
        platforms = {name: connector.platform for name, connector in
                     (("slack", self.slack), ("telegram", self.telegram)) if connector is not None}
        if not platforms:
            return
        events = await self.ledger.take_orphaned_events(orphaned, list(platforms), since)
        for payload in events:
            event = PlatformEvent.from_payload(payload)
            log.warning("%s: answering %s, which a stopped process left unanswered", event.channel,
                        event.keys[0])
            self.pipeline.answer_in_background(platforms[event.channel], event)
        pending = await self.ledger.take_orphaned_deliveries(orphaned, list(platforms), since)
        for parts in pending:
            log.warning("%s: resending deliveries %s, which a stopped process left pending", parts.channel,
                        parts.ids)
            self.pipeline.resend(platforms[parts.channel], parts)

    async def close(self) -> None:
        """Let replies in progress finish (up to `drain_seconds`), then release clients and threads."""
        await self.background.drain(self.drain_seconds)
        if self.telegram is not None:
            await self.telegram.platform.api.aclose()
        self.ledger.close()


def build_channels(settings: Settings, services: Services) -> Channels:
    background = BackgroundWork()
    ledger = Ledger(services.sessions, services.processes.id)
    policy = RetryPolicy(settings.delivery_attempts, settings.delivery_backoff_seconds,
                         settings.delivery_max_wait_seconds)
    pipeline = ChannelPipeline(services.manager, ledger, ReplyDelivery(ledger, policy), background)
    channels = Channels(background, ledger, pipeline, settings.channel_drain_seconds)

    slack = {"HELPDESK_SLACK_SIGNING_SECRET": settings.slack_signing_secret,
             "HELPDESK_SLACK_BOT_TOKEN": settings.slack_bot_token}
    channels.slack_missing = _missing(slack)
    if not channels.slack_missing:
        platform = SlackPlatform(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
        channels.slack = SlackConnector(settings.slack_signing_secret.get_secret_value(), platform, pipeline)

    telegram = {"HELPDESK_TELEGRAM_BOT_TOKEN": settings.telegram_bot_token,
                "HELPDESK_TELEGRAM_SECRET_TOKEN": settings.telegram_secret_token}
    channels.telegram_missing = _missing(telegram)
    if not channels.telegram_missing:
        api = TelegramApi(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url)
        channels.telegram = TelegramConnector(settings.telegram_secret_token.get_secret_value(),
                                              TelegramPlatform(api), pipeline, settings.company_name)
    for name, connector, missing in (("Slack", channels.slack, channels.slack_missing),
                                     ("Telegram", channels.telegram, channels.telegram_missing)):
        if connector is None and len(missing) == 1:  # half configured: most likely a mistake
            log.warning("The %s channel is off: %s is not set.", name, missing[0])
    return channels


def _missing(values: dict) -> list[str]:
    return [name for name, value in values.items() if value is None or not value.get_secret_value().strip()]
