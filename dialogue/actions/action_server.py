"""The client of a Rasa action server (rasa-sdk), speaking Rasa's webhook protocol.

Like Rasa, the first request leaves the domain out and names its digest; a server that has not seen that
domain answers 449 and gets the request again with the domain. Every failure becomes an `ActionFailed`
with its kind, never an exception the customer would see. Calls are async (httpx), so a slow action
server holds no thread and no other customer.
"""

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from dialogue.actions.records import ActionErrorKind

log = logging.getLogger(__name__)

RASA_VERSION = "3.21.0"  # what we tell the server we are: rasa-sdk warns unless major.minor match its own


@dataclass(frozen=True)
class ActionCall:
    """One request: `next_action` with the tracker and domain as Rasa builds them (dialogue/actions/tracker.py)."""

    action: str
    sender_id: str
    tracker: dict[str, Any]
    domain: dict[str, Any]

    def body(self, with_domain: bool) -> dict[str, Any]:
        body = {"next_action": self.action, "sender_id": self.sender_id, "tracker": self.tracker,
                "version": RASA_VERSION, "domain_digest": domain_digest(self.domain)}
        if with_domain:
            body["domain"] = self.domain
        return body


@dataclass(frozen=True)
class ActionResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0


class ActionFailed(Exception):
    def __init__(self, kind: ActionErrorKind, detail: str, http_status: int | None = None,
                 duration_ms: float = 0.0):
        super().__init__(f"{kind.value}: {detail}")
        self.kind, self.detail, self.http_status, self.duration_ms = kind, detail, http_status, duration_ms


def domain_digest(domain: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(domain, sort_keys=True).encode()).hexdigest()


class ActionServer:
    def __init__(self, endpoint: str | None, timeout_seconds: float, token: str | None = None):
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.token = token

    async def run(self, call: ActionCall) -> ActionResult:
        """Run `call.action` on the server; raises `ActionFailed` on anything but Rasa's 200 answer."""
        started = time.perf_counter()
        if not self.endpoint:
            raise ActionFailed(ActionErrorKind.UNREACHABLE, "no action server is configured (HELPDESK_ACTION_ENDPOINT)")
        try:
            response = await self._post(call.body(with_domain=False))
            if response.status_code == 449:  # the server wants the domain: send it, once
                response = await self._post(call.body(with_domain=True))
                if response.status_code == 449:
                    raise ActionFailed(ActionErrorKind.DOMAIN, _error_of(response), 449)
        except httpx.TimeoutException:
            raise ActionFailed(ActionErrorKind.TIMEOUT, f"no answer within {self.timeout_seconds:g} s",
                               duration_ms=_since(started)) from None
        except httpx.HTTPError as error:
            raise ActionFailed(ActionErrorKind.UNREACHABLE, f"{type(error).__name__}: {error}",
                               duration_ms=_since(started)) from None
        return _result(response, _since(started))

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        # A client per call: the app may be served by more than one event loop over its life (tests, the
        # CLI), and a pooled client is bound to the loop that made it. Loopback connects cost ~1 ms.
        params = {"token": self.token} if self.token else None
        async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
            return await client.post(self.endpoint, json=body, params=params)


def _result(response: httpx.Response, duration_ms: float) -> ActionResult:
    kinds = {404: ActionErrorKind.NOT_FOUND, 400: ActionErrorKind.REJECTED}
    if response.status_code != 200:
        kind = kinds.get(response.status_code, ActionErrorKind.SERVER_ERROR)
        raise ActionFailed(kind, _error_of(response), response.status_code, duration_ms)
    try:
        body = response.json()
    except ValueError:
        raise ActionFailed(ActionErrorKind.BAD_RESPONSE, "the answer is not JSON", 200, duration_ms) from None
    body = body or {}  # rasa-sdk answers `null` to a call without an action name
    events, responses = body.get("events") or [], body.get("responses") or []
    if not isinstance(events, list) or not isinstance(responses, list) or not all(
            isinstance(item, dict) for item in [*events, *responses]):
        raise ActionFailed(ActionErrorKind.BAD_RESPONSE, "`events` and `responses` must be lists of objects",
                           200, duration_ms)
    return ActionResult(events, responses, duration_ms)


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("error") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f"HTTP {response.status_code}: {detail or response.text[:300] or response.reason_phrase}"


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
