"""What routes receive through `Depends`; tests swap these with `app.dependency_overrides`."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.services import Services
from bot.settings import Settings
from dialogue.manager import DialogueManager
from retrieval.knowledge_base import KnowledgeBase


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_manager(services: "ServicesDep") -> DialogueManager:
    return services.manager


def get_knowledge(services: "ServicesDep") -> KnowledgeBase:
    return services.knowledge


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ManagerDep = Annotated[DialogueManager, Depends(get_manager)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]

_bearer = HTTPBearer(auto_error=False, description="HELPDESK_ADMIN_TOKEN")


def require_admin(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "The admin API is disabled: set HELPDESK_ADMIN_TOKEN and restart the bot.",
        )
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing admin token: send the header `Authorization: Bearer <HELPDESK_ADMIN_TOKEN>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = settings.admin_token.get_secret_value().encode()
    if not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "Wrong admin token.", headers={"WWW-Authenticate": "Bearer"}
        )
