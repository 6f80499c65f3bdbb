"""The pages' session: a signed cookie naming a session held in the store.

The cookie holds ``{session token, csrf token, expiry}`` as base64url JSON followed by an
HMAC-SHA256 signature; it never holds the key's secret. It is ``HttpOnly`` (no script reads it),
``SameSite=Lax`` (other sites' forms do not carry it) and ``Secure`` when the server's public
URL is ``https``. The session itself is a row in the store (``doorstep.store.sessions``), read
on every page request with its key: signing out, revoking the key or changing its role ends it
at once, and a copy of the cookie stops working with it.

The signing secret comes from ``DOORSTEP_SESSION_SECRET``; without it one is generated on first
start and kept in ``.doorstep/session-secret`` (mode 0600), which every worker process of the
server reads. Several machines behind one load balancer need the same ``DOORSTEP_SESSION_SECRET``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from doorstep.errors import SettingsError

__all__ = [
    "SECRET_ENV",
    "SESSION_COOKIE",
    "Session",
    "SessionCodec",
    "load_session_secret",
]

SESSION_COOKIE = "doorstep_session"
SECRET_ENV = "DOORSTEP_SESSION_SECRET"


@dataclass(frozen=True)
class Session:
    token: str
    """Names the session's row in the store (which keeps only its hash)."""
    csrf: str
    """The token every form of this session carries (``csrf_token``)."""
    expires: float
    """Unix time after which the cookie is refused."""


class SessionCodec:
    """Signs and checks session cookies (and the sign-in form's token) with one secret."""

    def __init__(self, secret: bytes, *, max_age: float) -> None:
        if len(secret) < 32:
            raise ValueError("the session secret must have at least 32 bytes")
        self._secret = secret
        self.max_age = max_age

    def _sign(self, payload: bytes) -> str:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def seal(self, value: dict[str, object]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode())
        text = body.decode().rstrip("=")
        return f"{text}.{self._sign(text.encode())}"

    def open(self, token: str | None) -> dict[str, object] | None:
        """The sealed value, or ``None`` when the token is missing, altered or malformed."""
        if not token or token.count(".") != 1:
            return None
        text, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(text.encode())):
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def new_session(self, token: str, expires: float) -> Session:
        """The cookie's content for the store's session ``token``, ending at ``expires``."""
        return Session(token, secrets.token_urlsafe(24), expires)

    def encode(self, session: Session) -> str:
        return self.seal({"s": session.token, "c": session.csrf, "e": session.expires})

    def decode(self, token: str | None) -> Session | None:
        """The session a cookie names, or ``None`` when it is missing, altered, expired or of
        the older kind that held the key itself (before sessions were kept in the store)."""
        value = self.open(token)
        if value is None:
            return None
        try:
            session = Session(
                token=str(value["s"]),
                csrf=str(value["c"]),
                expires=float(value["e"]),  # type: ignore[arg-type]
            )
        except (KeyError, TypeError, ValueError):
            return None
        return session if session.expires > time.time() else None


def load_session_secret(home: Path, env: dict[str, str] | None = None) -> bytes:
    """``DOORSTEP_SESSION_SECRET``, else the secret kept in ``home/session-secret`` (created on
    first use, readable by its owner only)."""
    environ = os.environ if env is None else env
    given = environ.get(SECRET_ENV, "").strip()
    if given:
        if len(given) < 32:
            raise SettingsError(
                f"{SECRET_ENV} must be at least 32 characters long; got {len(given)}. Generate "
                "one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return given.encode()
    path = home / "session-secret"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker process made it first
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    for _ in range(50):  # a worker that lost the race waits for the winner's write
        text = path.read_text().strip()
        if text:
            return text.encode()
        time.sleep(0.01)
    raise ValueError(f"{path} is empty: delete it, or set {SECRET_ENV}")
