"""Admin API for trained models: list the registry, swap the served LM adapter without a restart."""

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from bot.deps import ServicesDep, require_admin
from dialogue.lm.lora_server import LoraApiMissing
from training.errors import RegistryError
from training.registry import KINDS, ModelCard, Registry

router = APIRouter(prefix="/admin/models", tags=["admin"], dependencies=[Depends(require_admin)])


class ModelOut(BaseModel):
    id: str
    kind: str
    base_model: str
    created_at: str
    data_fingerprint: str
    scores: dict[str, float] | None = Field(description="The entry's own evaluation scores, if evaluated")
    promoted: bool


class ModelsOut(BaseModel):
    models: list[ModelOut]
    serving_lm: str = Field(description="Model id replies are recorded with: base model [+ adapter]")
    serving_embedder: str


class ServeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adapter: str | None = Field(description="Registry id of an LM adapter; null serves the bare base model")


class ServeOut(BaseModel):
    serving_lm: str


def _registry(services) -> Registry:
    return Registry(services.settings.resolved_registry_dir)


def _out(card: ModelCard, promoted: dict) -> ModelOut:
    scores = card.candidate_scores()
    numeric = {k: v for k, v in scores.items() if isinstance(v, int | float)} if scores else None
    return ModelOut(id=card.id, kind=card.kind, base_model=card.base_model, created_at=card.created_at,
                    data_fingerprint=card.data.get("fingerprint", ""), scores=numeric,
                    promoted=promoted.get(card.kind) == card.id)


@router.get("", response_model=ModelsOut)
def list_models(services: ServicesDep):
    registry = _registry(services)
    promoted = {kind: registry.promoted_id(kind) for kind in KINDS}
    return ModelsOut(models=[_out(card, promoted) for card in registry.entries()],
                     serving_lm=services.generator.model_id, serving_embedder=services.embedder.model_id)


@router.post("/lm", response_model=ServeOut, responses={409: {"description": "The LM backend or its server "
                                                                            "cannot serve adapters."}})
def serve_adapter(body: ServeIn, services: ServicesDep):
    """Replies generated after this call use the adapter; a reply in progress finishes on the old one.

    With HELPDESK_LM_BACKEND=openai the adapter is loaded into the inference server first (vLLM's runtime
    LoRA API, docs/deploy.md); a server without that API is a 409 saying what to set.
    """
    generator = services.generator
    if not hasattr(generator, "use_adapter"):
        raise HTTPException(status.HTTP_409_CONFLICT, "The configured LM backend cannot swap adapters.")
    adapter = None
    if body.adapter is not None:
        registry = _registry(services)
        try:
            card = registry.get(body.adapter)
        except RegistryError as error:
            raise HTTPException(status.HTTP_404_NOT_FOUND, str(error)) from None
        if card.kind != "lm":
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{card.id} is an {card.kind} model, not an LM adapter.")
        if card.base_model != generator.base_model_id:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"{card.id} was trained on {card.base_model}, but the server runs "
                                f"{generator.base_model_id}.")
        adapter = registry.path(card.id)
    try:
        return ServeOut(serving_lm=generator.use_adapter(adapter))
    except LoraApiMissing as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
