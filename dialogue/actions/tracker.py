"""The conversation as Rasa's tracker and domain, for the action server (rasa-sdk's `Tracker.from_dict`).

Events are rebuilt from the stored turns (`action_listen` + `user` per customer message, `bot` per reply),
then the active loop and the slots in force. Slot events come last: a `FormValidationAction` validates
the trailing ones (`Tracker.slots_to_validate`), so the candidates of a validation are put at the very end.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dialogue.messages import TurnRole
from retrieval.declared_actions.declarations import Action

REQUESTED_SLOT = "requested_slot"
_PAYLOAD = re.compile(r"^/(?P<intent>[A-Za-z_][\w.-]*)(?P<entities>\{.*\})?\s*$", re.S)


@dataclass(frozen=True)
class Intent:
    """What the customer's message means: a button's `/intent{"slot": "value"}` payload, or a matched action."""

    name: str | None
    confidence: float = 1.0
    entities: dict[str, Any] | None = None


@dataclass(frozen=True)
class PastTurn:
    role: TurnRole
    text: str
    at: datetime
    turn_id: int


def read_payload(text: str) -> Intent | None:
    """Rasa's button payload convention; None for an ordinary message (or a payload whose JSON is broken)."""
    found = _PAYLOAD.match(text.strip())
    if found is None:
        return None
    entities: dict[str, Any] = {}
    if found.group("entities"):
        try:
            entities = json.loads(found.group("entities"))
        except ValueError:
            return None
        if not isinstance(entities, dict):
            return None
    return Intent(found.group("intent"), 1.0, entities)


def build_tracker(sender_id: str, channel: str, turns: list[PastTurn], slots: dict[str, Any],
                  active_loop: str | None, intent: Intent, candidates: dict[str, Any] | None = None) -> dict[str, Any]:
    events: list[dict[str, Any]] = [{"event": "action", "name": "action_session_start", "timestamp": _ts(turns, 0)},
                                    {"event": "session_started", "timestamp": _ts(turns, 0)}]
    latest_message: dict[str, Any] = {}
    for turn in turns:
        stamp = turn.at.timestamp()
        if turn.role == TurnRole.USER:
            latest_message = _parse_data(turn, intent if turn is turns[-1] else Intent(None, 0.0))
            events.append({"event": "action", "name": "action_listen", "timestamp": stamp})
            events.append({"event": "user", "timestamp": stamp, "text": turn.text, "parse_data": latest_message,
                           "input_channel": channel, "message_id": str(turn.turn_id)})
        else:
            events.append({"event": "bot", "timestamp": stamp, "text": turn.text, "data": {}, "metadata": {}})
    now = events[-1]["timestamp"]
    if active_loop:
        events.append({"event": "active_loop", "name": active_loop, "timestamp": now})
    settled = {name: value for name, value in slots.items() if name not in (candidates or {})}
    events += [{"event": "slot", "name": name, "value": value, "timestamp": now} for name, value in settled.items()]
    events += [{"event": "slot", "name": name, "value": value, "timestamp": now}
               for name, value in (candidates or {}).items()]
    return {
        "sender_id": sender_id, "slots": {**slots, **(candidates or {})}, "latest_message": latest_message,
        "latest_event_time": now, "followup_action": None, "paused": False, "events": events,
        "latest_input_channel": channel, "active_loop": {"name": active_loop} if active_loop else {},
        "latest_action": {"action_name": "action_listen"}, "latest_action_name": "action_listen",
    }


def _parse_data(turn: PastTurn, intent: Intent) -> dict[str, Any]:
    entities = [{"entity": name, "value": value, "extractor": "payload"}
                for name, value in (intent.entities or {}).items()]
    named = {"name": intent.name, "confidence": intent.confidence} if intent.name else {}
    return {"text": turn.text, "intent": named, "entities": entities,
            "intent_ranking": [named] if named else [], "message_id": str(turn.turn_id), "metadata": {}}


def _ts(turns: list[PastTurn], index: int) -> float:
    return turns[index].at.timestamp() if turns else 0.0


def build_domain(actions: list[Action]) -> dict[str, Any]:
    """Rasa's domain of the declared actions: their slots, a form per action that has slots, no responses
    (the bot has no `utter_` templates; actions send their own text)."""
    slots: dict[str, Any] = {}
    for action in actions:
        for slot in action.slots:
            slots.setdefault(slot.name, {"type": "float" if slot.type == "number" else "text",
                                         "influence_conversation": False, "mappings": [{"type": "custom"}]})
    slots[REQUESTED_SLOT] = {"type": "any", "influence_conversation": False, "mappings": [{"type": "custom"}]}
    return {
        "version": "3.1",
        "config": {"store_entities_as_slots": True},
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
        "intents": [], "entities": [], "slots": slots, "responses": {},
        "actions": sorted(name for action in actions for name in (action.name, f"validate_{action.name}")),
        "forms": {action.name: {"required_slots": [slot.name for slot in action.slots]}
                  for action in actions if action.slots},
        "e2e_actions": [],
    }
