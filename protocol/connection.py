"""`Connection`: one end of a Chinwag conversation, as a sans-IO state machine.

Bytes in, typed messages out; messages in, bytes out. Which message may be
sent by whom in which state is one table, `TRANSITIONS`; everything else is
bookkeeping. No sockets, threads or clocks here (h11's rule 1).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

import attrs

from protocol.codec import decode_body, encode_frame
from protocol.constants import DEFAULT_MAX_FRAME_SIZE, ErrorCode, MessageType
from protocol.errors import (
    InvalidMessage,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
)
from protocol.framing import FrameDecoder
from protocol.messages import Bye, Message

if TYPE_CHECKING:
    from collections.abc import Generator


class Role(enum.Enum):
    CLIENT = "client"
    SERVER = "server"


class State(enum.Enum):
    """Where the conversation is; shared by both ends."""

    IDLE = "idle"
    """Connected, no Hello yet."""
    HELLO_SENT = "hello-sent"
    """The client has said Hello; the server has not answered."""
    OPEN = "open"
    """Welcome has been sent: chat flows."""
    CLOSED = "closed"
    """A Bye went one way or the other; nothing more may flow."""
    ERROR = "error"
    """A protocol error happened; only a last Error or Bye may still be sent."""


_LIVE = (State.IDLE, State.HELLO_SENT, State.OPEN)

_CLIENT_CHAT = (
    MessageType.SEND_TEXT,
    MessageType.SEND_DIRECT,
    MessageType.LIST_USERS,
    MessageType.CHANGE_NICK,
    MessageType.REGISTER,
    MessageType.CHANGE_PASSWORD,
    MessageType.LOGOUT,
    MessageType.MODERATE,
    MessageType.POST,
    MessageType.FETCH_HISTORY,
    MessageType.SEARCH,
    MessageType.JOIN_ROOM,
    MessageType.PART_ROOM,
    MessageType.LIST_ROOMS,
    MessageType.ROOM_ACTION,
    MessageType.LIST_MEMBERS,
    MessageType.TYPING,
    MessageType.SET_AWAY,
    MessageType.PING,
    MessageType.PONG,
)
_SERVER_CHAT = (
    MessageType.DELIVERED,
    MessageType.USER_LIST,
    MessageType.USER_JOINED,
    MessageType.USER_LEFT,
    MessageType.NICK_CHANGED,
    MessageType.LIMITS,
    MessageType.SESSION_TOKEN,
    MessageType.ACCOUNT_STATUS,
    MessageType.MODERATED,
    MessageType.RECALLED,
    MessageType.HISTORY_END,
    MessageType.ROOM_JOINED,
    MessageType.ROOM_MEMBERS,
    MessageType.ROOM_INFO,
    MessageType.ROOM_EVENT,
    MessageType.TYPING_NOTICE,
    MessageType.AWAY_CHANGED,
    MessageType.PING,
    MessageType.PONG,
)


def _build_transitions() -> dict[tuple[Role, State, MessageType], State]:
    table = {
        (Role.CLIENT, State.IDLE, MessageType.HELLO): State.HELLO_SENT,
        # Version 2, capability "session": Identify follows Hello at once.
        (Role.CLIENT, State.HELLO_SENT, MessageType.IDENTIFY): State.HELLO_SENT,
        (Role.SERVER, State.HELLO_SENT, MessageType.WELCOME): State.OPEN,
    }
    for role in Role:
        for state in _LIVE:
            table[role, state, MessageType.ERROR] = state
            table[role, state, MessageType.BYE] = State.CLOSED
    for kind in _CLIENT_CHAT:
        table[Role.CLIENT, State.OPEN, kind] = State.OPEN
    for kind in _SERVER_CHAT:
        table[Role.SERVER, State.OPEN, kind] = State.OPEN
    return table


TRANSITIONS = _build_transitions()
"""(who sends, state before, message type) → state after. Absent = illegal."""

_LAST_WORDS = (MessageType.ERROR, MessageType.BYE)


@attrs.frozen(kw_only=True)
class Rejected:
    """An intact frame whose content was refused; the conversation goes on.

    Only produced while OPEN: the receiver should answer with an Error frame
    carrying `code` and `ref` so the sender learns which request failed.
    """

    code: ErrorCode
    reason: str
    message_type: int
    ref: int = 0


Event = Message | Rejected


class Connection:
    """The protocol state of one connection, seen from `role`'s end.

    Args:
        role: which end we are.
        max_frame_size: the largest body we accept from the peer.
    """

    def __init__(
        self, role: Role, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    ) -> None:
        self.role = role
        self.peer_role = Role.SERVER if role is Role.CLIENT else Role.CLIENT
        self.state = State.IDLE
        self._said_bye = False
        self._decoder = FrameDecoder(max_frame_size)

    def send(self, message: Message) -> bytes:
        """Return the frame for `message` and advance the state.

        Raises:
            LocalProtocolError: `message` is not legal for us in this state.
        """
        if self.state is State.ERROR and message.TYPE in _LAST_WORDS:
            return encode_frame(message)
        key = (self.role, self.state, message.TYPE)
        after = TRANSITIONS.get(key)
        if after is None:
            msg = f"{self.role.value} may not send {message.TYPE.name} in state {self.state.name}"
            raise LocalProtocolError(msg, ErrorCode.UNEXPECTED_MESSAGE)
        data = encode_frame(message)
        self.state = after
        self._said_bye = self._said_bye or message.TYPE is MessageType.BYE
        return data

    def receive_data(self, data: bytes) -> Generator[Event, None, None]:
        """Buffer `data` and return an iterator over the events it completes.

        The iterator raises at the exact point of a fatal error, after
        yielding every message that came before it, so nothing valid is lost.
        Closed before its end, it leaves the frames it did not reach
        buffered (see `frames_waiting`): `receive_data(b"")` yields them
        later, so a server can take a few frames per turn from each client.

        Raises:
            RemoteProtocolError: (from the iterator) the peer broke the
                protocol; the state is now ERROR.
            LocalProtocolError: the connection had already failed or closed.
        """
        if self.state is State.ERROR:
            msg = "connection already failed"
            raise LocalProtocolError(msg)
        self._decoder.feed(data)
        return self._events()

    @property
    def frames_waiting(self) -> bool:
        """Whether a whole frame is buffered that no iterator has yielded yet."""
        return self.state is not State.ERROR and self._decoder.has_frame

    def receive_eof(self) -> None:
        """The peer closed its side.

        Raises:
            RemoteProtocolError: it closed in the middle of a frame.
        """
        try:
            self._decoder.check_eof()
        except ProtocolError:
            self.state = State.ERROR
            raise
        if self.state is not State.ERROR:
            self.state = State.CLOSED

    def _events(self) -> Generator[Event, None, None]:
        bodies = self._decoder.bodies()
        try:
            for body in bodies:
                event = self._decode(body)
                if isinstance(event, Rejected):
                    yield event
                    continue
                if self.state is State.CLOSED and self._said_bye:
                    # The peer sent this before it saw our Bye: not a violation.
                    yield event
                    continue
                key = (self.peer_role, self.state, event.TYPE)
                after = TRANSITIONS.get(key)
                if after is None:
                    msg = f"{self.peer_role.value} may not send {event.TYPE.name} in state {self.state.name}"
                    raise RemoteProtocolError(msg, ErrorCode.UNEXPECTED_MESSAGE)
                self.state = after
                yield event
        except RemoteProtocolError:
            self.state = State.ERROR
            raise
        finally:
            bodies.close()  # now, not when collected: what is left stays buffered

    def _decode(self, body: bytes) -> Event:
        try:
            return decode_body(body)
        except InvalidMessage as exc:
            if exc.message_type == MessageType.BYE:
                # A Bye always closes (spec 5.1), even with an over-long reason.
                return Bye()
            if self.state is not State.OPEN:
                raise
            return Rejected(
                code=exc.error_code,
                reason=str(exc),
                message_type=exc.message_type,
                ref=exc.ref,
            )
