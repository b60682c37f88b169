"""Custom actions in a conversation: triggered by their example phrasings, slots filled as a form, then run
on the action server (dialogue/actions/action_server.py), whose events and responses become the reply.

The dialogue manager calls `handle` first for every message (in its answer thread). The answer is:
- None: not ours, answer as usual;
- `Interrupted`: a clear FAQ question in the middle of a form: answer it as usual, then `offer_again`;
- a list of recorded replies (a form's question, a re-ask, a cancel);
- a `PendingCall`: the action server must be called. The manager awaits `call` on its event loop (no
  thread waits on a slow server), then hands the outcome to `finish` back in a thread, which may give
  another `PendingCall` (a validation followed by the run, a `followup` event).
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Any

from dialogue.actions.action_server import ActionCall, ActionFailed, ActionResult, ActionServer
from dialogue.actions.forms import FormState, FormStore, affirms, denies, slot_to_change, wants_to_leave
from dialogue.actions.records import ActionErrorKind, FormStatus
from dialogue.actions.results import apply_events, failure_reply, past_turns, record_run, reply_of
from dialogue.actions.slots import from_profile, read_slot
from dialogue.actions.tracker import REQUESTED_SLOT, Intent, build_domain, build_tracker, read_payload
from dialogue.catalogue import Catalogue, Phrases
from dialogue.messages import Button, HandoffReason, InboundMessage, Reply, ReplyKind
from dialogue.policy import Decision, Thresholds, decide, wants_person
from dialogue.records import ConversationStatus
from dialogue.store import ConversationStore, OpenedTurn
from retrieval.declared_actions.declarations import Action
from retrieval.errors import ActionNotFound
from retrieval.knowledge_base import KnowledgeBase

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ActionConfig:
    min_score: float = 0.6  # cosine an example phrasing needs to trigger its action
    # A declared action is the company saying "do this": it wins over an FAQ that matches about as well
    # (the sample's "How can I track my order?" lists "Where is my order?" too); an FAQ wins only when its
    # best question is this much closer to the message.
    faq_margin: float = 0.1
    max_followups: int = 5  # `followup` events chained in one turn, at most


@dataclass(frozen=True)
class Step:
    """The message being answered."""

    turn: OpenedTurn
    message: InboundMessage
    intent: Intent
    started: float
    say: Phrases  # the catalogue in the conversation's language


@dataclass(frozen=True)
class PendingCall:
    step: Step
    call: ActionCall
    form: str  # the declared action this call serves
    candidates: dict[str, Any] | None = None  # set when the call is `validate_<form>`
    replies: tuple[Reply, ...] = ()  # recorded earlier in this turn
    followups: int = 0


@dataclass(frozen=True)
class Interrupted:
    step: Step
    action: Action


class ActionRunner:
    def __init__(self, store: ConversationStore, knowledge: KnowledgeBase, server: ActionServer,
                 thresholds: Callable[[], Thresholds], config: ActionConfig = ActionConfig(),
                 catalogue: Catalogue | None = None):
        self.catalogue = catalogue or Catalogue.load()  # the texts the runner writes itself, per language
        self.store = store
        self.knowledge = knowledge
        self.server = server
        self.thresholds = thresholds
        self.config = config
        self.forms = FormStore(store.sessions)

    # -- in the answer thread -------------------------------------------------------------------------

    def handle(self, turn: OpenedTurn, text: str, message: InboundMessage):
        if turn.conversation_status == ConversationStatus.HANDOFF or text.strip() == "/restart":
            return None
        state = self.forms.load(turn.conversation_id)
        payload = read_payload(text)
        step = Step(turn, message, payload or Intent(None, 0.0), time.perf_counter(),
                    self.catalogue.phrases(turn.language))
        if state.active:
            action = self._declared(state.action)
            if action is not None:
                return self._continue(step, state, action, text)
            self.forms.save(turn.conversation_id, state.left())  # deleted by an admin meanwhile
            state = state.left()
        return self._trigger(step, state, text, payload)

    def _continue(self, step: Step, state: FormState, action: Action, text: str):
        cid = step.turn.conversation_id
        if wants_person(text):  # never trapped in a form: the usual handoff follows
            self.forms.save(cid, state.left())
            return None
        if wants_to_leave(text) or (state.status is FormStatus.OFFERED and denies(text)):
            self.forms.save(cid, state.left())
            return self._say(step, step.say("form_stopped"))
        if state.status is FormStatus.OFFERED:
            if affirms(text):
                return self._next(step, replace(state, status=FormStatus.ACTIVE), action)
            self.forms.save(cid, state.left())  # the customer moved on
            return self._trigger(step, state.left(), text, read_payload(text))
        if step.intent.entities:  # a button that carries slot values
            return self._filled(step, state, action, dict(step.intent.entities))
        if (change := slot_to_change(text, [slot.name for slot in action.slots])) is not None:
            slots = {name: value for name, value in state.slots.items() if name != change}
            state = replace(state, requested_slot=change, slots=slots)
            reading = read_slot(action.slot(change), text, step.say)
            if reading.value is not None and action.slot(change).type != "text":
                return self._filled(step, state, action, {change: reading.value})
            return self._ask(step, state, action, step.say("form_sure"))
        spec = action.slot(state.requested_slot) if state.requested_slot else None
        if spec is None:
            return self._next(step, state, action)
        reading = read_slot(spec, text, step.say)
        free_text = spec.type == "text" and not spec.pattern
        if (free_text or reading.value is None) and self._clear_faq(text):
            self.forms.save(cid, replace(state, status=FormStatus.OFFERED))
            return Interrupted(step, action)
        if reading.value is None:
            return self._ask(step, state, action, reading.reason)
        return self._filled(step, state, action, {spec.name: reading.value})

    def _trigger(self, step: Step, state: FormState, text: str, payload: Intent | None):
        action = None
        if payload is not None:
            action = self._declared(payload.name) or self._declared(f"action_{payload.name}")
            if action is None:
                return None
        else:
            match = self._match(text)
            if match is None:
                return None
            action, score = match
            step = replace(step, intent=Intent(action.name, score))
        slots = {**state.slots, **(payload.entities if payload and payload.entities else {})}
        # The profile fills slots only for a verified sender: an unproven sender id must not borrow its data.
        profile = self.store.profile(step.turn.customer_id) if step.turn.verified else None
        for spec in action.slots:
            if slots.get(spec.name) is None:
                said = (read_slot(spec, text).value if payload is None and (spec.pattern or spec.type != "text")
                        else None)
                value = said if said is not None or profile is None else from_profile(spec, profile)
                if value is not None:
                    slots[spec.name] = value
        return self._next(step, FormState(action.name, FormStatus.ACTIVE, None, slots), action)

    def _match(self, text: str) -> tuple[Action, float] | None:
        """The action whose examples match best, unless an FAQ or passage is clearly closer (`faq_margin`)."""
        if not self.knowledge.has_actions():
            return None
        vector = self.knowledge.embed_query(text)
        found = self.knowledge.search_vector(vector, text, top_k=1, actions=True)
        if not found or found[0].score < self.config.min_score:
            return None
        rivals = self.knowledge.search_vector(vector, text, top_k=1)
        if rivals and rivals[0].score > found[0].score + self.config.faq_margin:
            return None
        return found[0].action, found[0].score

    def trigger_for(self, text: str) -> Action | None:
        """The action chat would start for `text` (hit testing, POST /admin/search)."""
        match = self._match(text)
        return match[0] if match else None

    def _clear_faq(self, text: str) -> bool:
        return decide(self.knowledge.search(text, top_k=5), self.thresholds()) is Decision.FAQ

    def _filled(self, step: Step, state: FormState, action: Action, candidates: dict[str, Any]):
        if self.server.endpoint:  # the server's `validate_<action>` has its say, as in Rasa
            call = self._call(step, f"validate_{action.name}", state, action.name, candidates)
            return PendingCall(step, call, action.name, candidates)
        return self._next(step, replace(state, slots={**state.slots, **candidates}), action)

    def _next(self, step: Step, state: FormState, action: Action, replies: tuple[Reply, ...] = ()):
        """Ask for the first missing slot, or run the action when none is missing."""
        missing = [slot for slot in action.slots if state.slots.get(slot.name) is None]
        if missing:
            state = replace(state, action=action.name, status=FormStatus.ACTIVE, requested_slot=missing[0].name)
            return [*replies, *self._ask(step, state, action)]
        done = state.left()
        self.forms.save(step.turn.conversation_id, done)
        if not self.server.endpoint:
            details = ", ".join(f"{slot.name.replace('_', ' ')} {done.slots[slot.name]}" for slot in action.slots)
            self.store.set_status(step.turn.conversation_id, ConversationStatus.HANDOFF)
            text = step.say("form_no_server", details=details or action.description)
            return [*replies, self._record(step, Reply(text, ReplyKind.HANDOFF, step.turn.conversation_id,
                                                         handoff=HandoffReason.FORM))]
        return PendingCall(step, self._call(step, action.name, done, action.name), action.name, replies=replies)

    def _ask(self, step: Step, state: FormState, action: Action, before: str | None = None) -> list[Reply]:
        self.forms.save(step.turn.conversation_id, state)
        prompt = action.slot(state.requested_slot).prompt
        return self._say(step, f"{before} {prompt}" if before else prompt)

    def _say(self, step: Step, text: str, kind: ReplyKind = ReplyKind.ACTION,
             buttons: list[Button] | None = None) -> list[Reply]:
        return [self._record(step, Reply(text, kind, step.turn.conversation_id, buttons=buttons or []))]

    def _record(self, step: Step, reply: Reply) -> Reply:
        turn_id = self.store.record_reply(reply, (time.perf_counter() - step.started) * 1000, None)
        return replace(reply, turn_id=turn_id)

    def _call(self, step: Step, name: str, state: FormState, form: str,
              candidates: dict[str, Any] | None = None) -> ActionCall:
        actions = self.knowledge.actions.all()
        slots = {slot.name: None for action in actions for slot in action.slots}
        slots.update(state.slots)
        slots[REQUESTED_SLOT] = state.requested_slot if candidates is not None else None
        turns = past_turns(self.store.sessions, step.turn.conversation_id)
        turns = [replace(t, at=t.at if t.at.tzinfo else t.at.replace(tzinfo=UTC)) for t in turns]
        tracker = build_tracker(step.message.sender_id, step.message.channel, turns, slots,
                                form if candidates is not None else None, step.intent, candidates)
        return ActionCall(name, step.message.sender_id, tracker, build_domain(actions))

    def _declared(self, name: str | None) -> Action | None:
        if not name:
            return None
        try:
            return self.knowledge.actions.get(name)
        except ActionNotFound:
            return None

    def offer_again(self, interrupted: Interrupted) -> Reply:
        """After the FAQ answer: ask whether to go on with the form that was left."""
        state = self.forms.load(interrupted.step.turn.conversation_id)
        needed = (state.requested_slot or "details").replace("_", " ")
        say = interrupted.step.say
        text = say("form_offer", request=interrupted.action.description.rstrip("."), slot=needed)
        buttons = [Button(say("form_continue_button"), "/affirm"), Button(say("form_stop_button"), "/deny")]
        return self._say(interrupted.step, text, buttons=buttons)[0]

    # -- on the event loop ----------------------------------------------------------------------------

    async def call(self, pending: PendingCall) -> ActionResult | ActionFailed:
        try:
            return await self.server.run(pending.call)
        except ActionFailed as failure:
            return failure

    # -- back in the answer thread ---------------------------------------------------------------------

    def finish(self, pending: PendingCall, outcome: ActionResult | ActionFailed):
        step, action = pending.step, self._declared(pending.form)
        state = self.forms.load(step.turn.conversation_id)
        if pending.candidates is not None and isinstance(outcome, ActionFailed) \
                and outcome.kind is ActionErrorKind.NOT_FOUND and action is not None:
            # No `validate_<action>` on the server: the values stand as the bot read them.
            return self._next(step, replace(state, slots={**state.slots, **pending.candidates}), action,
                              pending.replies)
        if isinstance(outcome, ActionFailed) or action is None:
            return self._failed(pending, outcome, action)
        applied = apply_events(state, outcome, pending.candidates)
        replies = [*pending.replies, *self._show(step, applied.messages)]
        record_run(self.store.sessions, step.turn.conversation_id, step.turn.turn_id,
                   replies[len(pending.replies)].turn_id if len(replies) > len(pending.replies) else None,
                   pending.call.action, outcome)
        if pending.candidates is not None:
            return self._after_validation(pending, applied, action, tuple(replies))
        if applied.restart:
            self.forms.save(step.turn.conversation_id, FormState())
            self.store.set_status(step.turn.conversation_id, ConversationStatus.CLOSED)
            return replies
        self.forms.save(step.turn.conversation_id, applied.state)
        if applied.followup and pending.followups < self.config.max_followups:
            call = self._call(step, applied.followup, applied.state, pending.form)
            return PendingCall(step, call, pending.form, replies=tuple(replies), followups=pending.followups + 1)
        return replies

    def _after_validation(self, pending: PendingCall, applied, action: Action, replies: tuple[Reply, ...]):
        step, state = pending.step, applied.state
        accepted = {k: v for k, v in pending.candidates.items() if k not in applied.rejected and k not in state.slots}
        state = replace(state, slots={**state.slots, **accepted})
        if applied.rejected:
            state = replace(state, action=action.name, status=FormStatus.ACTIVE, requested_slot=applied.rejected[0])
            reason = None if len(replies) > len(pending.replies) else step.say("form_not_accepted")
            return [*replies, *self._ask(step, state, action, reason)]
        return self._next(step, state, action, replies)

    def _show(self, step: Step, messages: list[dict[str, Any]]) -> list[Reply]:
        replies = [reply_of(message, step.turn.conversation_id) for message in messages]
        return [self._record(step, reply) for reply in replies if reply is not None]

    def _failed(self, pending: PendingCall, failure: ActionResult | ActionFailed, action: Action | None) -> list[Reply]:
        step = pending.step
        if not isinstance(failure, ActionFailed):
            failure = ActionFailed(ActionErrorKind.NOT_FOUND, f"the action {pending.form!r} is no longer declared")
        log.warning("Action %s failed in conversation %d: %s", pending.call.action, step.turn.conversation_id,
                    failure)
        state = self.forms.load(step.turn.conversation_id)
        self.forms.save(step.turn.conversation_id, state.left())
        reply = self._record(step, failure_reply(step.turn.conversation_id, step.say))
        record_run(self.store.sessions, step.turn.conversation_id, step.turn.turn_id, reply.turn_id,
                   pending.call.action, failure)
        return [*pending.replies, reply]
