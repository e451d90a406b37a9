"""The handshake: what the client says first and how it reads the answer.

Hello names this client and the capabilities it asks for (spec 12); the
Welcome may bring a message of the day and another nick than the one
asked for; a server that breaks the protocol, or never welcomes us, is
either a Chinwag server gone wrong (retry) or not one at all (stop).
Pure functions; `ChatSession` sends and decides.
"""

from __future__ import annotations

import attrs

from clients.core import events as ev
from protocol import (
    CAP_ACCOUNTS,
    CAP_AWAY,
    CAP_HISTORY,
    CAP_LIMITS,
    CAP_ROOMS,
    CAP_SESSION,
    CAP_TYPING,
    PROTOCOL_VERSION,
    Hello,
    RemoteProtocolError,
    Welcome,
    nick_key,
)

CLIENT_NAME = "chinwag"
CAPABILITIES = (
    CAP_ACCOUNTS,
    CAP_AWAY,
    CAP_HISTORY,
    CAP_LIMITS,
    CAP_ROOMS,
    CAP_SESSION,
    CAP_TYPING,
)
"""What this client asks for in Hello (spec 12)."""


@attrs.frozen(kw_only=True)
class Failure:
    """Why a connection is given up.

    Attributes:
        reason: what happened, for the status line.
        fatal: retrying cannot help, and why (None: retry).
        notice: what to tell the user first, if anything.
    """

    reason: str
    fatal: str | None = None
    notice: ev.Notice | None = None


def hello(nick: str) -> Hello:
    """The first frame on a new connection, asking for `nick`."""
    return Hello(
        version=PROTOCOL_VERSION,
        client_name=CLIENT_NAME,
        nick=nick,
        capabilities=CAPABILITIES,
    )


def greeting(welcome: Welcome, wanted: str) -> list[ev.UiEvent]:
    """What the Welcome tells the user: the message of the day, and that
    the nick `wanted` was taken if the server gave another."""
    events: list[ev.UiEvent] = []
    if welcome.motd:
        events.append(ev.Notice(welcome.motd))
    if nick_key(welcome.nick) != nick_key(wanted):
        events.append(ev.Notice(f"{wanted} is taken; you are {welcome.nick}"))
    return events


def broken(error: RemoteProtocolError, *, welcomed: bool, server: str) -> Failure:
    """The server sent bytes that break the protocol.

    Args:
        welcomed: it had welcomed us (a Chinwag server gone wrong: retry);
            else it is no Chinwag server at all.
        server: its label, for the message.
    """
    if welcomed:
        notice = ev.Notice(
            f"the server broke the protocol: {error}", ev.NoticeLevel.ERROR
        )
        return Failure(reason="protocol error", notice=notice)
    return Failure(
        reason="not a Chinwag server",
        fatal=f"{server} does not speak the Chinwag protocol ({error})",
    )


def unanswered(server: str) -> Failure:
    """No Welcome came in time (`HANDSHAKE_TIMEOUT`)."""
    return Failure(
        reason="no answer to Hello",
        fatal=f"{server} did not answer like a Chinwag server",
    )
