"""Action declaration files (YAML): `helpdesk actions import|export`, one format both ways.

    actions:
      - name: action_order_status
        description: Looks up where an order is.
        examples: ["where is my order?", "has my order shipped yet?"]
        slots:
          - {name: order_number, prompt: "What is your order number?", pattern: "[A-Z]{2}-\\d{4}"}
          - {name: email, prompt: "Which email did you order with?", type: email, profile_field: email}

A bare list of actions is read too.
"""

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from retrieval.declared_actions.declarations import Action, ActionDraft, make_action_draft
from retrieval.errors import InvalidAction, KnowledgeError


class UnreadableActionFile(KnowledgeError):
    pass


@dataclass
class ParsedActionFile:
    drafts: list[ActionDraft] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (1-based position in the file, message)


def read_action_file(path: Path) -> ParsedActionFile:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise UnreadableActionFile(f"{path}: cannot be read as YAML: {error}") from None
    entries = loaded.get("actions") if isinstance(loaded, dict) else loaded
    if not isinstance(entries, list):
        raise UnreadableActionFile(f"{path}: expected `actions:` with a list of actions (see docs/actions.md).")
    parsed = ParsedActionFile()
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            parsed.errors.append((number, "expected an object with `name`, `examples` and `slots`"))
            continue
        unknown = set(entry) - {"name", "description", "examples", "slots"}
        try:
            if unknown:
                raise InvalidAction(f"unknown keys {sorted(unknown)}; use name, description, examples, slots.")
            examples, slots = entry.get("examples") or [], entry.get("slots") or []
            if not isinstance(examples, list) or not isinstance(slots, list):
                raise InvalidAction("`examples` and `slots` must be lists.")
            parsed.drafts.append(make_action_draft(str(entry.get("name") or ""), str(entry.get("description") or ""),
                                                   [str(text) for text in examples], slots))
        except InvalidAction as error:
            parsed.errors.append((number, str(error)))
    return parsed


def write_action_file(path: Path, actions: list[Action]) -> None:
    entries = [{"name": action.name, "description": action.description, "examples": action.examples,
                "slots": [slot.to_record() for slot in action.slots]} for action in actions]
    path.write_text(yaml.safe_dump({"actions": entries}, allow_unicode=True, sort_keys=False), encoding="utf-8")
