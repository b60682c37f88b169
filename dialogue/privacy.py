"""Personal data in customer messages is masked before anything is stored, logged or shown to the LM.

`Masker.mask(text)` is the one function that turns what a customer typed into what may be kept: every
table, channel event, export and training file holds its output, so whatever reads the database (exports,
outgoing webhooks) reads masked text. Detection is Presidio's pattern recognisers
(dialogue/pii_recognizers.py), called directly with no NLP engine (no spaCy model exists offline), and its
anonymiser; docs/privacy.md lists what is caught and the recall measured per kind.
"""

import dataclasses
import hashlib
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import RecognizerResult
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig

from dialogue.cpu_budget import Budget
from dialogue.messages import InboundMessage, Reply
from dialogue.order_numbers import order_number_spans
from dialogue.phone_recognizer import PiecewisePhoneRecognizer
from dialogue.pii_recognizers import recognizers
from dialogue.privacy_policy import Action, Entity, PrivacyPolicy
from dialogue.profile import ProfileUpdate
from dialogue.self_description import extract_profile

# Scores below these are Presidio's "very weak" patterns (any 9 digits as an SSN, ...): left alone.
_MIN_SCORE = {Entity.ADDRESS: 0.1}
_DEFAULT_MIN_SCORE = 0.3
_WARM_UP = "4111 1111 1111 1111 ann@example.com +44 20 7946 0958 DE89 3704 0044 0532 0130 00 10.0.0.1 221B Baker Street"
DEFAULT_BUDGET_SECONDS = 0.3  # CPU seconds per request; the worst 12 KB request needs less (docs/privacy.md)
# Of two findings over the same characters, the more specific kind names them.
_PRIORITY = (Entity.CARD, Entity.IBAN, Entity.GOV_ID, Entity.EMAIL, Entity.IP, Entity.PHONE, Entity.ADDRESS)
_LABEL = {Entity.CARD: "CARD", Entity.IBAN: "IBAN", Entity.EMAIL: "EMAIL", Entity.PHONE: "PHONE",
          Entity.GOV_ID: "ID", Entity.IP: "IP", Entity.ADDRESS: "ADDRESS"}


# Metadata the channel connectors set (bot/connectors/slack.py, telegram.py): ids, not what anyone typed.
PLATFORM_IDS = frozenset({"slack_user", "slack_team", "slack_channel", "slack_ts", "slack_event_id",
                          "telegram_username", "telegram_chat_type"})


@dataclass(frozen=True)
class Finding:
    entity: Entity
    start: int
    end: int
    value: str  # as typed: never store it


@dataclass(frozen=True)
class Masked:
    """One customer message: `text` is what may be stored; `for_answer` what the bot may read and search."""

    raw: str
    text: str
    for_answer: str
    findings: tuple[Finding, ...]
    replacements: tuple[tuple[str, str], ...]  # (value as typed, what stands in for it)

    @property
    def dropped(self) -> bool:
        return self.text != self.for_answer


class Masker:
    def __init__(self, policy: PrivacyPolicy | None = None, budget_seconds: float = DEFAULT_BUDGET_SECONDS):
        self.policy = policy or PrivacyPolicy()
        self.budget_seconds = budget_seconds
        self._warm = False
        self._recognizers = recognizers()
        self._anonymizer = AnonymizerEngine()

    def warm_up(self) -> None:
        """phonenumbers reads each region's metadata and tldextract its suffix list on first use (47 ms on a busy
        2-core VM, 2026-12-07): not the first customer's message to pay (called at start, bot/services.py)."""
        if not self._warm:
            self._warm = True
            self.find(_WARM_UP, budget=Budget(math.inf))

    def budget(self) -> Budget:
        """A fresh budget for one request's masking (HELPDESK_MASKING_BUDGET_SECONDS)."""
        return Budget(self.budget_seconds)

    def find(self, text: str, kinds: Iterable[Entity] = tuple(Entity), budget: Budget | None = None) -> list[Finding]:
        """Personal data in `text`, the longest where two overlap; order numbers are never personal data.

        Raises MessageTooComplex when `budget` (default: a fresh one) runs out."""
        if not self._warm:  # not warmed at start (a Masker of its own): the caller's budget leaves it out
            started = time.thread_time()
            self.warm_up()
            if budget is not None:
                budget.exclude(time.thread_time() - started)
        budget = budget or self.budget()
        orders = order_number_spans(text)
        kinds = set(kinds)
        found: list[tuple[Entity, RecognizerResult]] = []
        for entity, recognizer in self._recognizers:
            if entity not in kinds:
                continue
            budget.check()
            extra = {"budget": budget} if isinstance(recognizer, PiecewisePhoneRecognizer) else {}
            for result in recognizer.analyze(text, recognizer.supported_entities, None, **extra):
                if result.score < _MIN_SCORE.get(entity, _DEFAULT_MIN_SCORE):
                    continue
                if entity is not Entity.CARD and any(start <= result.start and result.end <= end
                                                     for start, end in orders):
                    continue
                found.append((entity, result))
        found.sort(key=lambda item: (-(item[1].end - item[1].start), _PRIORITY.index(item[0]), item[1].start))
        kept: list[Finding] = []
        for entity, result in found:
            if not any(result.start < other.end and other.start < result.end for other in kept):
                kept.append(Finding(entity, result.start, result.end, text[result.start:result.end]))
        budget.check()
        return sorted(kept, key=lambda finding: finding.start)

    def mask(self, text: str, budget: Budget | None = None) -> Masked:
        """What a customer typed, with personal data replaced as the policy says (HELPDESK_PII)."""
        findings = [f for f in self.find(text, budget=budget) if self.policy.action(f.entity) is not Action.KEEP]
        if not findings:
            return Masked(text, text, text, (), ())
        results = [RecognizerResult(f.entity.value, f.start, f.end, 1.0) for f in findings]
        operators = {entity.value: _operator(entity, self.policy.action(entity)) for entity in Entity}
        for_answer = self._anonymizer.anonymize(text, results, operators).text
        replacements = tuple((f.value, _stand_in(f.entity, self.policy.action(f.entity), f.value)) for f in findings)
        dropped = sorted({_LABEL[f.entity] for f in findings if self.policy.action(f.entity) is Action.DROP})
        stored = for_answer
        if dropped:
            # A digest of the masked text tells two dropped messages apart (resends are recognised by text).
            digest = hashlib.sha256(for_answer.encode()).hexdigest()[:8]
            stored = f"<message not stored: it contained {', '.join(dropped)}; {digest}>"
        return Masked(text, stored, for_answer, tuple(findings), replacements)

    def mask_message(self, message: InboundMessage, masked: Masked | None = None,
                     budget: Budget | None = None) -> InboundMessage:
        """The message as it may be stored: its text (`masked`, when already done) and its metadata masked."""
        budget = budget or self.budget()
        text = masked.text if masked is not None else self.mask(message.text, budget).text
        return dataclasses.replace(message, text=text, metadata=self.mask_data(message.metadata, budget))

    def mask_data(self, value: Any, budget: Budget | None = None) -> Any:
        """Every string inside JSON-like data (message metadata) masked; the platforms' own ids are only
        checked for card numbers (a Slack timestamp reads like a phone number, and erasure needs it)."""
        budget = budget or self.budget()
        if isinstance(value, str):
            return self.mask(value, budget).text
        if isinstance(value, dict):
            return {key: self.scrub(item, budget=budget) if key in PLATFORM_IDS and isinstance(item, str)
                    else self.mask_data(item, budget) for key, item in value.items()}
        if isinstance(value, list):
            return [self.mask_data(item, budget) for item in value]
        return value

    def scrub(self, text: str, echoes: Iterable[tuple[str, str]] = (), budget: Budget | None = None) -> str:
        """Text the bot or an agent wrote, as it may be stored: what it echoes of the customer's message is
        replaced as it was there, and card numbers are masked always. Nothing else is touched: an FAQ's
        support phone number is not the customer's."""
        for value, stand_in in sorted(echoes, key=lambda pair: -len(pair[0])):
            text = text.replace(value, stand_in)
        cards = self.find(text, (Entity.CARD,), budget)
        for finding in reversed(cards):
            stand_in = _stand_in(Entity.CARD, self.policy.action(Entity.CARD), finding.value)
            text = text[:finding.start] + stand_in + text[finding.end:]
        return text

    def scrub_reply(self, reply: Reply, masked: Masked) -> Reply:
        """The bot's reply as it may be stored (its text and a rejected draft)."""
        rejected = reply.rejected
        if rejected:
            rejected = {**rejected, "text": self.scrub(rejected["text"], masked.replacements),
                        "reasons": [self.scrub(reason, masked.replacements) for reason in rejected["reasons"]]}
        return dataclasses.replace(reply, text=self.scrub(reply.text, masked.replacements), rejected=rejected)

    def profile_update(self, masked: Masked, budget: Budget | None = None) -> ProfileUpdate:
        """Facts the customer gave about themselves, read from the raw text (the profile keeps their own email
        and phone); what is left to answer is masked like the message."""
        update = extract_profile(masked.raw)
        if update:  # the remainder is what is answered only then (DialogueManager._answer)
            update.remainder = self.mask(update.remainder, budget).for_answer
        else:
            update.remainder = masked.for_answer
        return update


def _stand_in(entity: Entity, action: Action, value: str) -> str:
    if action is Action.PARTIAL:
        tail = "".join(ch for ch in value if ch.isalnum())[-4:]
        return f"<{_LABEL[entity]} ****{tail}>"
    return f"<{_LABEL[entity]}>"


def _operator(entity: Entity, action: Action) -> OperatorConfig:
    if action is Action.PARTIAL:
        return OperatorConfig("custom", {"lambda": lambda value: _stand_in(entity, action, value)})
    return OperatorConfig("replace", {"new_value": f"<{_LABEL[entity]}>"})
