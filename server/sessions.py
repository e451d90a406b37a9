"""Sessions (spec 12.2): a user's presence across connections, named by a secret token.

Pure bookkeeping: no sockets, no threads, no lock of its own. The hub calls
the registry under its lock, so finding a session and taking over its nick
are one step. Raw tokens are never stored or logged: a session is found by
the SHA-256 digest of its token, so no lookup takes a time that depends on
how much of a guessed token is right.

Accounts plug in through `LoginCheck`: a server without them uses
`NoAccounts`, which refuses every password as the spec says (12.2).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Protocol

import attrs

from protocol import ErrorCode
from server.refusal import Refusal

TOKEN_BYTES = 32
"""Length of the tokens this server hands out (the wire allows up to 64)."""

ENDED_SESSION_SECONDS = 600.0
"""How long a session is remembered after its last connection ended (spec 12.2)."""

MAX_ENDED_SESSIONS = 10_000
"""At most this many ended sessions are remembered; the oldest go first."""


def token_digest(token: bytes) -> bytes:
    """What the registry keys sessions by; the token itself is never kept."""
    return hashlib.sha256(token).digest()


@attrs.define(eq=False)
class Session:
    """One session.

    Attributes:
        digest: SHA-256 of the token.
        holder: the connection that holds the session now; None once it ended.
        last_ref: the highest ref of a SendText or SendDirect delivered for it.
        account: the account it is logged in to; None for a guest.
        party: who a guest's stored direct messages are visible to
            (spec 12.4); random, and unrelated to the token.
        rooms: a guest's rooms while no connection holds the session
            (spec 12.5), to return to when it resumes.
    """

    digest: bytes
    holder: object | None = None
    last_ref: int = 0
    account: str | None = None
    party: str = attrs.field(factory=lambda: "s:" + secrets.token_hex(8))
    rooms: tuple[str, ...] = ()


class LoginCheck(Protocol):
    """Checks the password given in Identify; accounts provide a real one."""

    def login(self, nick: str, password: str) -> str:
        """Return the account name `password` opens for `nick`.

        Raises:
            Refusal: (fatal) wrong password, unknown account, or no accounts.
        """
        ...


class NoAccounts:
    """A server without accounts: any password is refused (spec 12.2)."""

    def login(self, nick: str, password: str) -> str:  # noqa: ARG002 - the protocol's signature
        raise Refusal(
            ErrorCode.INVALID_FIELD, "this server has no accounts", fatal=True
        )


class SessionRegistry:
    """Live sessions, and ended ones for `keep_for` seconds (at most `max_ended`).

    Args:
        clock: monotonic seconds.
        keep_for: how long an ended session can still be found.
        max_ended: how many ended sessions are kept at most.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        keep_for: float = ENDED_SESSION_SECONDS,
        max_ended: int = MAX_ENDED_SESSIONS,
    ) -> None:
        self._clock = clock
        self._keep_for = keep_for
        self._max_ended = max_ended
        self._sessions: dict[bytes, Session] = {}
        # Ended sessions, oldest first: digest -> when it ended.
        self._ended: collections.OrderedDict[bytes, float] = collections.OrderedDict()

    def __len__(self) -> int:
        """Sessions known, live and ended."""
        return len(self._sessions)

    @property
    def ended(self) -> int:
        return len(self._ended)

    def find(self, token: bytes) -> Session | None:
        """The session `token` names, if it is live or ended recently."""
        self._expire()
        digest = token_digest(token)
        session = self._sessions.get(digest)
        if session is None or not hmac.compare_digest(session.digest, digest):
            return None
        return session

    def create(self, token: bytes | None = None) -> tuple[Session, bytes]:
        """A new session and its token (to be sent once, in SessionToken).

        Args:
            token: an account's login token, which then names the session
                too (spec 12.3); None makes a random one.
        """
        token = token or secrets.token_bytes(TOKEN_BYTES)
        session = Session(token_digest(token))
        self._sessions[session.digest] = session
        return session, token

    def rename(self, session: Session, token: bytes) -> None:
        """The session is now named by `token` (after logging in to an account)."""
        self._sessions.pop(session.digest, None)
        self._ended.pop(session.digest, None)
        session.digest = token_digest(token)
        self._sessions[session.digest] = session

    def attach(self, session: Session, holder: object) -> None:
        """`holder` is now the session's connection (a new one, or a resumed one)."""
        session.holder = holder
        self._ended.pop(session.digest, None)

    def detach(self, session: Session, holder: object) -> None:
        """`holder` is gone; if it still held the session, the session ends now."""
        if session.holder is not holder:
            return  # another connection took the session over
        session.holder = None
        self._ended[session.digest] = self._clock()
        while len(self._ended) > self._max_ended:
            digest, _ = self._ended.popitem(last=False)
            del self._sessions[digest]
        self._expire()

    def _expire(self) -> None:
        limit = self._clock() - self._keep_for
        while self._ended:
            digest, ended_at = next(iter(self._ended.items()))
            if ended_at > limit:
                return
            del self._ended[digest]
            del self._sessions[digest]
