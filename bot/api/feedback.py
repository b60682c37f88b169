"""Thumbs up / down on a bot message, from any front end that shows `custom.turn_id`."""

from typing import Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import ServicesDep
from dialogue.feedback import record_feedback

router = APIRouter(tags=["chat"])


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = Field(min_length=1, max_length=255)
    turn_id: int = Field(description="`custom.turn_id` of the bot message")
    rating: Literal["up", "down"]
    channel: str = Field("rest", min_length=1, max_length=40)


@router.post("/feedback", status_code=status.HTTP_204_NO_CONTENT)
def give_feedback(body: FeedbackIn, services: ServicesDep) -> None:
    record_feedback(services.sessions, body.channel, body.sender, body.turn_id, 1 if body.rating == "up" else -1)
