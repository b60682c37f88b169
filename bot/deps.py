"""What routes receive through `Depends`; tests swap these with `app.dependency_overrides`."""

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from bot.api_keys import BOOTSTRAP_ADMIN, Principal, Role, any_keys, principal_for
from bot.services import Services
from bot.settings import Settings
from dialogue.manager import DialogueManager
from retrieval.knowledge_base import KnowledgeBase


# Async, though they only read attributes: FastAPI runs a plain `def` dependency in its thread pool, and two
# messages of one customer sent 50 ms apart could then reach the dialogue manager's turn lock in the other order
# when the pool is busy (seen under load in tests/integration/test_chat.py). On the event loop they keep the order
# the requests arrived in.
async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_manager(services: "ServicesDep") -> DialogueManager:
    return services.manager


async def get_knowledge(services: "ServicesDep") -> KnowledgeBase:
    return services.knowledge


ServicesDep = Annotated[Services, Depends(get_services)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
ManagerDep = Annotated[DialogueManager, Depends(get_manager)]
KnowledgeDep = Annotated[KnowledgeBase, Depends(get_knowledge)]

_bearer = HTTPBearer(auto_error=False, description="HELPDESK_ADMIN_TOKEN or an API key (`helpdesk keys create`)")


def authenticate(
    settings: SettingsDep, services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The env token is the bootstrap admin; API keys from the database carry their own role."""
    configured = settings.admin_token is not None and bool(settings.admin_token.get_secret_value())
    if credentials is None:
        if not configured and not any_keys(services.sessions):
            raise _disabled()
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Missing admin token: send the header `Authorization: Bearer <HELPDESK_ADMIN_TOKEN or API key>`.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = credentials.credentials.encode()
    if configured and secrets.compare_digest(token, settings.admin_token.get_secret_value().encode()):
        return Principal(BOOTSTRAP_ADMIN, Role.admin)
    principal = principal_for(services.sessions, credentials.credentials)
    if principal is not None:
        return principal
    if not configured and not any_keys(services.sessions):
        raise _disabled()
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Wrong admin token or API key.",
                        headers={"WWW-Authenticate": "Bearer"})


def _disabled() -> HTTPException:
    return HTTPException(
        status.HTTP_503_SERVICE_UNAVAILABLE,
        "The admin API is disabled: set HELPDESK_ADMIN_TOKEN and restart the bot, or create an API key "
        "with `helpdesk keys create NAME --role admin`.",
    )


def require_role(role: Role):
    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role < role:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"This needs the {role.name} role; the key {principal.name!r} has the {principal.role.name} role.",
            )
        return principal

    return check


require_viewer = require_role(Role.viewer)
require_editor = require_role(Role.editor)
require_admin = require_role(Role.admin)
EditorDep = Annotated[Principal, Depends(require_editor)]
AdminDep = Annotated[Principal, Depends(require_admin)]
