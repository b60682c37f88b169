"""The admin API for declared actions: list, create, read, replace, delete (docs/actions.md).

Changes go through `retrieval.declared_actions.catalog.ActionCatalog`: stored, audited and logged for every process's
index in one transaction, so the next message in any process can trigger the action.
"""

from fastapi import APIRouter, Depends, Response, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import EditorDep, KnowledgeDep, require_viewer
from bot.openapi import Timestamp
from retrieval.declared_actions.declarations import Action, make_action_draft

router = APIRouter(prefix="/admin", tags=["admin: actions"], dependencies=[Depends(require_viewer)])


class SlotIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    prompt: str = Field(min_length=1, max_length=2000, description="The question that asks for the value.")
    type: str | None = Field(None, description="text (default) | number | email | phone | date")
    pattern: str | None = Field(None, max_length=500, description="A regular expression the value must contain.")
    profile_field: str | None = Field(None, description="name | email | phone | order_number: filled from the "
                                                        "customer's profile when known.")


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, description="The action server's name for it, e.g. "
                                                                "action_order_status.")
    description: str = Field("", max_length=2000)
    examples: list[str] = Field(min_length=1, max_length=200, description="Phrasings that trigger it.")
    slots: list[SlotIn] = Field(default_factory=list, max_length=50)


class ActionOut(BaseModel):
    name: str
    description: str
    examples: list[str]
    slots: list[dict]
    version: int
    updated_at: Timestamp

    @classmethod
    def of(cls, action: Action) -> "ActionOut":
        return cls(name=action.name, description=action.description, examples=action.examples,
                   slots=[slot.to_record() for slot in action.slots], version=action.version,
                   updated_at=action.updated_at)


class ActionPage(BaseModel):
    data: list[ActionOut]
    count: int


def _draft(body: ActionIn):
    return make_action_draft(body.name, body.description, body.examples,
                             [slot.model_dump(exclude_none=True) for slot in body.slots])


@router.get("/actions", response_model=ActionPage)
def list_actions(knowledge: KnowledgeDep):
    actions = knowledge.actions.all()
    return ActionPage(data=[ActionOut.of(action) for action in actions], count=len(actions))


@router.post("/actions", response_model=ActionOut, status_code=status.HTTP_201_CREATED)
def create_action(body: ActionIn, knowledge: KnowledgeDep, editor: EditorDep):
    return ActionOut.of(knowledge.actions.create(_draft(body), actor=editor.name))


@router.get("/actions/{name}", response_model=ActionOut)
def get_action(name: str, knowledge: KnowledgeDep):
    return ActionOut.of(knowledge.actions.get(name))


@router.put("/actions/{name}", response_model=ActionOut)
def replace_action(name: str, body: ActionIn, knowledge: KnowledgeDep, editor: EditorDep):
    return ActionOut.of(knowledge.actions.replace(name, _draft(body), actor=editor.name))


@router.delete("/actions/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_action(name: str, knowledge: KnowledgeDep, editor: EditorDep) -> Response:
    knowledge.actions.delete(name, actor=editor.name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
