"""Chat tokens as a customer's login would issue them: JWTs whose `sub` is the sender (docs/channels.md)."""

import time

import jwt

from tests.conftest import CHAT_JWT_SECRET


def customer_token(sender: str, secret: str = CHAT_JWT_SECRET, lifetime: float = 600, algorithm: str = "HS256",
                   **claims) -> str:
    return jwt.encode({"sub": sender, "exp": int(time.time() + lifetime), **claims}, secret, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
