"""Who sends a chat message, when the REST and socket.io channels can tell: a signed token or a shared secret.

Rasa's shape: a JWT signed with HELPDESK_CHAT_JWT_SECRET by HELPDESK_CHAT_JWT_METHOD (HS256 unless set; with
RS256/ES256 the setting holds the public key), whose `sub` (or Rasa's `user.username`) is the sender id.
HELPDESK_CHAT_SHARED_SECRET is for callers on the server side, which may send as any sender. A message with
neither is still answered and what the customer says about themselves is stored, but what is stored is not
read back to it (dialogue/profile.py): without proof, a sender id is only a name anyone can type.
"""

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import jwt

from bot.settings import Settings

LEEWAY_SECONDS = 30  # clock difference between the token's issuer and this server that is forgiven


@dataclass(frozen=True)
class Caller:
    verified: bool
    sender: str | None = None  # the one sender a token speaks for; None: any (shared secret, or unverified)


UNVERIFIED = Caller(verified=False)


class TokenRefused(Exception):
    """A credential was sent and is wrong; `str(error)` says what is wrong and what to do."""


class ChatTokens:
    def __init__(self, jwt_secret: str | None = None, jwt_method: str = "HS256", shared_secret: str | None = None):
        self.jwt_secret = jwt_secret or None
        self.jwt_method = jwt_method
        self.shared_secret = shared_secret or None

    @classmethod
    def from_settings(cls, settings: Settings) -> "ChatTokens":
        def secret(value) -> str | None:
            return value.get_secret_value() if value is not None else None

        return cls(secret(settings.chat_jwt_secret), settings.chat_jwt_method, secret(settings.chat_shared_secret))

    def from_header(self, authorization: str | None) -> Caller:
        """The caller of an HTTP request by its `Authorization` header; no header is an unverified caller."""
        if authorization is None:
            return UNVERIFIED
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRefused("Send the token as `Authorization: Bearer <token>`.")
        return self.check(token.strip())

    def check(self, token: str) -> Caller:
        """The caller a token proves: the shared secret, or a valid JWT for one sender."""
        if token.lower().startswith("bearer "):  # Rasa's socket.io clients send the header's form
            token = token[7:].strip()
        if self.jwt_secret is None and self.shared_secret is None:
            raise TokenRefused("This bot takes no chat tokens: set HELPDESK_CHAT_JWT_SECRET (or "
                               "HELPDESK_CHAT_SHARED_SECRET) and restart it, or send no token.")
        if self.shared_secret is not None and secrets.compare_digest(token.encode(), self.shared_secret.encode()):
            return Caller(verified=True)
        if self.jwt_secret is None:
            raise TokenRefused("Wrong chat token: it is not HELPDESK_CHAT_SHARED_SECRET (no JWTs are taken, "
                               "HELPDESK_CHAT_JWT_SECRET is unset).")
        return Caller(verified=True, sender=self._sender(self._claims(token)))

    def _claims(self, token: str) -> dict:
        try:
            return jwt.decode(token, self.jwt_secret, algorithms=[self.jwt_method], leeway=LEEWAY_SECONDS,
                              options={"verify_aud": False})
        except jwt.ExpiredSignatureError:
            expired = jwt.decode(token, options={"verify_signature": False}).get("exp")
            when = datetime.fromtimestamp(expired, UTC).isoformat(timespec="seconds") if expired else "?"
            raise TokenRefused(f"The token expired at {when}; get a new one from your login.") from None
        except jwt.ImmatureSignatureError:
            raise TokenRefused("The token is not valid yet (`nbf`/`iat` in the future): check the issuer's "
                               "clock.") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRefused(f"The token is not signed with {self.jwt_method} "
                               "(HELPDESK_CHAT_JWT_METHOD).") from None
        except jwt.InvalidSignatureError:
            raise TokenRefused("The token's signature does not match HELPDESK_CHAT_JWT_SECRET: it was signed "
                               "with another key, or changed.") from None
        except jwt.DecodeError:
            raise TokenRefused("The token is not a JWT (three base64url parts separated by dots), nor the "
                               "shared secret.") from None
        except jwt.PyJWTError as error:  # a claim of the wrong type, a key that does not fit the method, ...
            raise TokenRefused(f"The token is not valid: {error}.") from None

    @staticmethod
    def _sender(claims: dict) -> str:
        user = claims.get("user")
        sender = claims.get("sub") or (user.get("username") if isinstance(user, dict) else None)
        if not isinstance(sender, str) or not 0 < len(sender) <= 255:
            raise TokenRefused("The token names no sender: put the sender id in `sub` (or in `user.username`, "
                               "as Rasa does), 1-255 characters.")
        return sender
