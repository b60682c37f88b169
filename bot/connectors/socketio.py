"""Rasa's socket.io channel at `/socket.io`, so Rasa front ends (e.g. rasa-webchat) connect unchanged.

The protocol, as Rasa's `SocketIOInput` speaks it: the client emits `session_request` ({session_id} or
nothing) and gets `session_confirm` with the session id as a bare string; it emits `user_uttered`
({message, session_id, <metadata key>}) and gets one `bot_uttered` ({text}) per reply. As with Rasa's
`session_persistence`, the session id names the customer, so a returning browser keeps its conversation.

A client proves who it is with `auth: {token}` when it connects (Rasa's `jwt_key`; bot/connectors/identity.py):
a JWT names the customer, whatever session id the client sends; the shared secret lets a server-side client
send as any session. A wrong token refuses the connection with the reason. Without a token the bot answers
but reads no stored personal data back, and a session id that once came with a token is refused.

Packets are bounded before they are parsed, each connection may send HELPDESK_SOCKETIO_EVENTS_PER_MINUTE
events, and a misbehaving client gets at most one log line a minute (bot/connectors/socketio_guard.py).
"""

import logging
import uuid
from typing import Any

import socketio
from fastapi import FastAPI

from bot.connectors.chat_input import inbound
from bot.connectors.identity import UNVERIFIED, Caller, ChatTokens, TokenRefused
from bot.connectors.engineio_packets import EnginePackets
from bot.connectors.socketio_guard import GuardedServer
from bot.connectors.socketio_throttles import OncePerMinute
from bot.input_checks import MAX_DEPTH, InputRefused, checked, loads
from bot.settings import Settings
from dialogue.errors import InvalidMessage, SenderClaimed
from dialogue.manager import DialogueManager
from dialogue.messages import InboundMessage

CHANNEL = "socketio"
PATH = "/socket.io"
USER_MESSAGE_EVENT = "user_uttered"
BOT_MESSAGE_EVENT = "bot_uttered"
MAX_SESSION_ID = 255  # the column that stores channel ids
SORRY = "Sorry, something went wrong on our side and I could not answer. Please try again in a moment."
CLAIMED = ("This session belongs to a signed-in customer: please sign in again (connect with your token) or start "
           "a new session.")
SLOW_DOWN = ("You are sending messages faster than I can read them, so I skipped some. Please wait a moment, "
             "then send your question again.")

log = logging.getLogger(__name__)


def mount(app: FastAPI, manager: DialogueManager, settings: Settings) -> GuardedServer:
    """Serve the channel under the app at `/socket.io`."""
    # CORS for the HTTP long-polling transport comes from the app's CORS middleware; a second set of
    # headers from engine.io would make browsers reject the response. A packet over the chat body limit
    # closes the connection, on both transports.
    async def slow_down(sid: str) -> None:
        await server.emit(BOT_MESSAGE_EVENT, {"text": SLOW_DOWN}, to=sid)

    notes = OncePerMinute()  # one log line per client per minute, whichever layer drops its packets
    server = GuardedServer(async_mode="asgi", cors_allowed_origins=[], max_packet_bytes=settings.max_body_bytes,
                           max_depth=MAX_DEPTH, events_per_minute=settings.socketio_events_per_minute,
                           on_limited=slow_down, notes=notes)
    _register(server, manager, settings.socketio_metadata_key, settings.max_metadata_bytes)
    _check_callers(server, ChatTokens.from_settings(settings))
    app.mount(PATH, EnginePackets(socketio.ASGIApp(server, socketio_path=PATH.strip("/")), notes))
    return server


def _register(server: GuardedServer, manager: DialogueManager, metadata_key: str,
              max_metadata_bytes: int) -> None:
    # `*_` everywhere: a client may send more arguments than the protocol has; they are ignored.
    @server.on("session_request")
    async def session_request(sid: str, data: Any = None, *_: Any) -> None:
        requested = data.get("session_id") if isinstance(data, dict) else None
        session_id = requested if _valid_session_id(requested) else uuid.uuid4().hex
        await server.emit("session_confirm", (await _caller(server, sid)).sender or session_id, to=sid)

    @server.on(USER_MESSAGE_EVENT)
    async def user_uttered(sid: str, data: Any = None, *_: Any) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("message"), str):
            server.warn(sid, f"ignored a {USER_MESSAGE_EVENT} event without a text `message`")
            return
        caller = await _caller(server, sid)
        sender = caller.sender or (data.get("session_id") if _valid_session_id(data.get("session_id")) else sid)
        try:
            checked({"message": data["message"], "session_id": sender}, ("data",))
            message = inbound(CHANNEL, sender, data["message"], _metadata(data.get(metadata_key)),
                              verified=caller.verified, max_metadata_bytes=max_metadata_bytes,
                              metadata_loc=("data", metadata_key))
        except InputRefused as error:
            where = ".".join(str(part) for part in error.problem.loc[1:])
            await server.emit(BOT_MESSAGE_EVENT, {"text": f"Sorry, I could not take that message: `{where}` "
                                                          f"{error.problem.msg}"}, to=sid)
            return
        for text in await _answer(manager, message):
            # Only `text`: rasa-webchat shows a message as text only when that is its one key.
            await server.emit(BOT_MESSAGE_EVENT, {"text": text}, to=sid)


def _check_callers(server: GuardedServer, tokens: ChatTokens) -> None:
    @server.on("connect")
    async def connect(sid: str, environ: dict, auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        if token is None:
            return  # an unverified customer: answered, but told nothing stored about them
        try:
            if not isinstance(token, str):
                raise TokenRefused("`auth.token` must be a string: the JWT or the shared secret.")
            caller = tokens.check(token)
        except TokenRefused as error:
            server.warn(sid, f"refused a connection: {error}")
            raise socketio.exceptions.ConnectionRefusedError(str(error)) from None
        await server.save_session(sid, {"caller": caller})


async def _caller(server: GuardedServer, sid: str) -> Caller:
    return (await server.get_session(sid)).get("caller", UNVERIFIED)


async def _answer(manager: DialogueManager, message: InboundMessage) -> list[str]:
    try:
        return [reply.text for reply in await manager.respond(message)]
    except InvalidMessage as error:
        return [f"Sorry, I could not take that message: {error}"]
    except SenderClaimed:
        return [CLAIMED]
    except Exception:
        log.exception("Answering socket.io sender %s failed", message.sender_id)
        return [SORRY]


def _valid_session_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_SESSION_ID


def _metadata(value: Any) -> dict[str, Any]:
    """Rasa accepts the metadata as an object or as a JSON string of one."""
    if isinstance(value, str):
        try:
            value = loads(value)
        except ValueError:  # InputRefused included: metadata is optional, the message still counts
            return {}
    return value if isinstance(value, dict) else {}
