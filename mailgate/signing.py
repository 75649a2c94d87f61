"""Signed links (activation, and the web issue's confirmation and rating links): itsdangerous.

A link token carries its purpose (as itsdangerous's salt, so one purpose's token is worthless
for another), a payload, and its expiry as a timestamp read against mailgate's own clock (so
tests can move time). Single use is the caller's part: the payload names a nonce stored in the
database, which is spent when the link is followed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from mailgate.errors import MailgateError


class LinkError(MailgateError):
    """A link token that is altered, of another purpose, or expired; ``reason`` says which."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(secret: str, purpose: str, payload: dict[str, Any], expires_at: datetime) -> str:
    serializer = URLSafeSerializer(secret, salt=f"mailgate.{purpose}")
    return str(serializer.dumps({**payload, "exp": int(expires_at.timestamp())}))


def verify(secret: str, purpose: str, token: str, now: datetime) -> dict[str, Any]:
    """The payload of a genuine, unexpired token.

    Raises:
        LinkError: ``altered`` (or made for another purpose), or ``expired``.
    """
    serializer = URLSafeSerializer(secret, salt=f"mailgate.{purpose}")
    try:
        payload = serializer.loads(token.strip())
    except BadSignature:
        raise LinkError("altered", "this link is not valid: it was changed or cut short") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int):
        raise LinkError("altered", "this link is not valid")
    expired = datetime.fromtimestamp(payload["exp"], UTC)
    if now >= expired:
        raise LinkError("expired", f"this link expired on {expired:%Y-%m-%d %H:%M} UTC")
    return payload
