"""The support console: static pages at /console that talk to the admin API with the signed-in key.

The page keeps the key in sessionStorage and sends it as a Bearer header; it never goes into a URL, so it
never reaches an access log. The Content-Security-Policy keeps the page to this server: no CDN, no
third-party requests.
"""

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse
from pydantic import BaseModel

from bot.api_keys import Principal
from bot.deps import require_viewer

STATIC = Path(__file__).resolve().parents[1] / "static" / "console"
_MEDIA = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
me_router = APIRouter(prefix="/admin", tags=["admin"])


class MeOut(BaseModel):
    name: str
    role: str


@me_router.get("/me", response_model=MeOut)
def who_am_i(principal: Annotated[Principal, Depends(require_viewer)]):
    """The key's name and role: what the console may show and do."""
    return MeOut(name=principal.name, role=principal.role.name)


@router.get("/console")
@router.get("/console/")
def console_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=_HEADERS)


@router.get("/console/{name}")
def console_asset(name: str) -> FileResponse:
    path = STATIC / name
    # Only plain files of this folder: no "..", no sub-folders, no other types.
    if "/" in name or name.startswith(".") or path.suffix not in _MEDIA or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No console file {name!r}.")
    return FileResponse(path, media_type=_MEDIA[path.suffix], headers=_HEADERS)
