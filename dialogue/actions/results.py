"""What comes back from the action server, turned into replies, slot changes and the record of the call."""

import logging
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from dialogue import events
from dialogue.actions.action_server import ActionFailed, ActionResult
from dialogue.actions.forms import FormState
from dialogue.actions.records import ActionRunRecord
from dialogue.actions.tracker import REQUESTED_SLOT, PastTurn
from dialogue.catalogue import Phrases, english
from dialogue.messages import Button, Reply, ReplyKind, TurnRole
from dialogue.records import TurnRecord

log = logging.getLogger(__name__)

PERSON_PAYLOAD = "talk to a person"  # policy.wants_person takes it; the button's title is in the customer's language


@dataclass
class Applied:
    """The effect of an action's events on the conversation."""

    state: FormState
    messages: list[dict[str, Any]] = field(default_factory=list)  # responses, then `bot` events, in order
    followup: str | None = None
    restart: bool = False
    rejected: list[str] = field(default_factory=list)  # validated slots the validator set to None


def apply_events(state: FormState, result: ActionResult, candidates: dict[str, Any] | None = None) -> Applied:
    """Rasa's order: the dispatcher's messages first (as `bot` events), then the returned events."""
    applied = Applied(replace(state, slots=dict(state.slots)), messages=list(result.responses))
    for event in result.events:
        kind = event.get("event")
        if kind == "slot" and isinstance(event.get("name"), str):
            _set_slot(applied, event["name"], event.get("value"), candidates)
        elif kind == "reset_slots":
            applied.state = replace(applied.state, slots={})
        elif kind == "restart":
            applied.restart = True
        elif kind == "followup" and isinstance(event.get("name"), str):
            applied.followup = event["name"]
        elif kind == "bot":
            applied.messages.append({"text": event.get("text"), **(event.get("data") or {})})
        elif kind == "active_loop" and event.get("name") is None:
            applied.state = applied.state.left()
        else:
            log.debug("Action event %r is not applied by this bot (docs/actions.md)", kind)
    return applied


def _set_slot(applied: Applied, name: str, value: Any, candidates: dict[str, Any] | None) -> None:
    if name == REQUESTED_SLOT:
        return  # the bot asks in the declared order; a validator's choice of the next slot is not followed
    if candidates is not None and name in candidates and value is None:
        applied.rejected.append(name)
    slots = dict(applied.state.slots)
    if value is None:
        slots.pop(name, None)
    else:
        slots[name] = value
    applied.state = replace(applied.state, slots=slots)


def reply_of(message: dict[str, Any], conversation_id: int) -> Reply | None:
    """One response as a reply of kind `action`; None when it carries nothing this bot can show."""
    text = message.get("text") or ""
    buttons = [Button(str(b.get("title") or b.get("payload")), str(b.get("payload") or b.get("title")))
               for b in message.get("buttons") or [] if isinstance(b, dict) and (b.get("title") or b.get("payload"))]
    image = message.get("image") or None
    custom = message.get("custom") or message.get("json_message") or None
    if not (text or buttons or image or custom):
        return None
    return Reply(str(text), ReplyKind.ACTION, conversation_id, buttons=buttons, image=image,
                 custom=custom if isinstance(custom, dict) else {"value": custom})


def failure_reply(conversation_id: int, say: Phrases | None = None) -> Reply:
    say = say or english()
    return Reply(say("action_failed"), ReplyKind.ACTION, conversation_id,
                 buttons=[Button(say("person_button"), PERSON_PAYLOAD)])


def record_run(sessions: sessionmaker, conversation_id: int, user_turn_id: int, turn_id: int | None,
               action: str, outcome: ActionResult | ActionFailed) -> None:
    failed = isinstance(outcome, ActionFailed)
    with sessions() as session:
        session.add(ActionRunRecord(
            conversation_id=conversation_id, user_turn_id=user_turn_id, turn_id=turn_id, action=action,
            status="failed" if failed else "ok", error_kind=outcome.kind.value if failed else None,
            error=outcome.detail if failed else None, http_status=outcome.http_status if failed else 200,
            duration_ms=round(outcome.duration_ms, 1), events=[] if failed else outcome.events))
        if failed:  # for webhook subscribers, in the transaction that records the failure (docs/webhooks.md)
            events.action_failed(session, conversation_id, turn_id, action, f"{outcome.kind.value}: {outcome.detail}")
        session.commit()


def past_turns(sessions: sessionmaker, conversation_id: int, limit: int = 50) -> list[PastTurn]:
    with sessions() as session:
        rows = session.execute(
            select(TurnRecord.role, TurnRecord.text, TurnRecord.created_at, TurnRecord.id)
            .where(TurnRecord.conversation_id == conversation_id).order_by(TurnRecord.id.desc()).limit(limit)).all()
    return [PastTurn(TurnRole(role), text, at, turn_id) for role, text, at, turn_id in rows[::-1]]


def runs_of_turns(sessions: sessionmaker, turn_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The action call each bot turn answered, for transcripts: {turn id: {action, status, error_kind, ...}}."""
    with sessions() as session:
        runs = session.scalars(select(ActionRunRecord).where(ActionRunRecord.turn_id.in_(turn_ids))).all()
    return {run.turn_id: {"action": run.action, "status": run.status, "error_kind": run.error_kind,
                          "error": run.error, "http_status": run.http_status, "duration_ms": run.duration_ms}
            for run in runs}
