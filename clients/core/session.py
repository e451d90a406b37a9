"""`ChatSession`: everything a chat client decides, with no I/O and no threads.

Lines the user typed and bytes the server sent go in; bytes to send, UI
events and connection instructions come out as an `Output`. The session runs
on the UI thread (see `clients.core.client`), so it needs no locks; the
clock and the random source are injected so tests can drive time.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable

import attrs

from clients.core import commands as cmd
from clients.core import events as ev
from clients.core.completion import Completer
from clients.core.history import InputHistory
from protocol import (
    MAX_TEXT_CHARS,
    PROTOCOL_VERSION,
    Bye,
    ChangeNick,
    Connection,
    Delivered,
    Error,
    ErrorCode,
    Event,
    Hello,
    ListUsers,
    Message,
    NickChanged,
    Ping,
    Pong,
    Rejected,
    RemoteProtocolError,
    Role,
    SendDirect,
    SendText,
    State,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    nick_key,
)

CLIENT_NAME = "chinwag"
OFFLINE_QUEUE_LIMIT = 100
_FATAL_AT_HANDSHAKE = (ErrorCode.INVALID_NICK, ErrorCode.UNSUPPORTED_VERSION)
_EXCERPT = 40


@attrs.define
class Output:
    """What the caller must do after feeding the session something.

    Attributes:
        data: bytes to send on the current connection.
        events: what to show.
        accepted: for `submit`: False if the line was refused (keep it in
            the input box so nothing the user typed is lost).
        connect: open a new connection now.
        disconnect: close the current connection now.
    """

    data: bytes = b""
    events: list[ev.UiEvent] = attrs.field(factory=list)
    accepted: bool = True
    connect: bool = False
    disconnect: bool = False


@attrs.frozen
class _Outgoing:
    text: str
    target: str | None

    def describe(self) -> str:
        excerpt = (
            self.text if len(self.text) <= _EXCERPT else self.text[:_EXCERPT] + "…"
        )
        where = f" to {self.target}" if self.target else ""
        return f"message{where} “{excerpt}”"


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff with jitter between reconnection attempts."""

    base: float = 1.0
    cap: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number `attempt` (0 = the first retry)."""
        ceiling = min(self.cap, self.base * 2.0**attempt)
        return ceiling * rng.uniform(0.5, 1.0)


class ChatSession:
    """One user's chat session across any number of connections.

    Args:
        nick: the nickname to ask for.
        server: a label for the server ("host:port"), shown in the status.
        clock: monotonic seconds.
        rng: randomness for backoff jitter.
        ping_interval: ping the server after this much silence.
        dead_after: give the connection up after this much silence.
        backoff: reconnection delays.
    """

    def __init__(
        self,
        *,
        nick: str,
        server: str,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        ping_interval: float = 20.0,
        dead_after: float = 45.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.nick = nick
        self.server = server
        self.status = ev.ConnectionStatus.DISCONNECTED
        self.history = InputHistory()
        self.completer = Completer()
        self._roster: dict[str, str] = {}
        self._clock = clock
        self._rng = rng or random.Random()
        self._ping_interval = ping_interval
        self._dead_after = dead_after
        self._backoff = backoff or Backoff()
        self._conn: Connection | None = None
        self._refs = itertools.count(1)
        self._unconfirmed: dict[int, _Outgoing] = {}
        self._nick_requests: dict[int, str] = {}
        self._queued: list[_Outgoing] = []
        self._list_requests: deque[bool] = deque()
        self._list_chunks: list[str] = []
        self._attempt = 0
        self._retry_at: float | None = None
        self._shown_retry: int | None = None
        self._last_heard = 0.0
        self._pinged = False
        self._fatal: str | None = None

    # --- queries ---------------------------------------------------------------

    @property
    def roster(self) -> tuple[str, ...]:
        """Who is online, sorted case-insensitively."""
        return tuple(sorted(self._roster.values(), key=nick_key))

    def complete(self, line: str) -> str:
        """Tab completion for the input line."""
        return self.completer.complete(line, self._roster.values(), cmd.command_names())

    # --- connection lifecycle --------------------------------------------------

    def start(self) -> Output:
        """Begin: the caller should open the first connection."""
        self.status = ev.ConnectionStatus.CONNECTING
        return Output(events=[self._status_event()], connect=True)

    def connected(self) -> Output:
        """The TCP connection is up: say Hello."""
        self._conn = Connection(Role.CLIENT)
        self._last_heard = self._clock()
        self._pinged = False
        hello = Hello(version=PROTOCOL_VERSION, client_name=CLIENT_NAME, nick=self.nick)
        return Output(data=self._conn.send(hello))

    def received(self, data: bytes) -> Output:
        """Bytes from the server."""
        out = Output()
        if self._conn is None:
            return out
        self._last_heard = self._clock()
        self._pinged = False
        try:
            for event in self._conn.receive_data(data):
                self._handle(event, out)
        except RemoteProtocolError as exc:
            out.events.append(
                ev.Notice(f"the server broke the protocol: {exc}", ev.NoticeLevel.ERROR)
            )
            out.disconnect = True
            self._lost("protocol error", out)
        return out

    def closed(self, reason: str) -> Output:
        """The connection ended (or could not be made)."""
        out = Output()
        if self.status is ev.ConnectionStatus.DISCONNECTED or (
            self._conn is None and self.status is ev.ConnectionStatus.RECONNECTING
        ):
            return out
        self._lost(reason, out)
        return out

    def tick(self) -> Output:
        """Call a few times a second: keepalive, reconnect timing, countdown."""
        out = Output()
        now = self._clock()
        if (
            self.status is ev.ConnectionStatus.RECONNECTING
            and self._retry_at is not None
        ):
            remaining = self._retry_at - now
            if remaining <= 0:
                self._retry_at = None
                self.status = ev.ConnectionStatus.CONNECTING
                out.events.append(self._status_event())
                out.connect = True
            elif math.ceil(remaining) != self._shown_retry:
                self._shown_retry = math.ceil(remaining)
                out.events.append(self._status_event(retry_in=self._shown_retry))
        elif self._conn is not None and self._conn.state in (
            State.HELLO_SENT,
            State.OPEN,
        ):
            silent = now - self._last_heard
            if silent > self._dead_after:
                out.disconnect = True
                self._lost("the server stopped answering", out)
            elif (
                silent > self._ping_interval
                and not self._pinged
                and self._conn.state is State.OPEN
            ):
                self._pinged = True
                out.data += self._conn.send(Ping(payload=b"keepalive"))
        return out

    def quit(self, reason: str = "") -> Output:
        """Leave for good: say Bye and stop reconnecting."""
        out = Output(disconnect=True)
        if self._conn is not None and self._conn.state is State.OPEN:
            out.data = self._conn.send(Bye(reason=reason or "leaving"))
        self._conn = None
        self._retry_at = None
        for pending in self._queued:
            out.events.append(
                ev.Notice(f"not sent: {pending.describe()}", ev.NoticeLevel.ERROR)
            )
        self._queued.clear()
        self.status = ev.ConnectionStatus.DISCONNECTED
        out.events.append(self._status_event(detail="you left"))
        out.events.append(ev.ExitRequested(reason))
        return out

    # --- user input --------------------------------------------------------------

    def submit(self, line: str) -> Output:
        """A line the user typed (text, `@nick text` or a `/command`)."""
        try:
            command = cmd.parse_command(line)
        except cmd.CommandError as exc:
            return _refusal(str(exc))
        if command is None:
            return Output(accepted=False)
        out = self._run(command)
        if out.accepted:
            self.history.add(line.rstrip())
        return out

    def _run(self, command: cmd.Command) -> Output:  # noqa: PLR0911 - one arm per command
        match command:
            case cmd.Say(text):
                return self._send(_Outgoing(text, None))
            case cmd.Whisper(nick, text):
                return self._send(_Outgoing(text, nick))
            case cmd.ShowHelp():
                return Output(
                    events=[ev.Notice("\n".join(["Commands:", *cmd.help_lines()]))]
                )
            case cmd.ClearWindow():
                return Output(events=[ev.ClearRequested()])
            case cmd.Quit(reason):
                return self.quit(reason)
            case cmd.ListWho():
                if not self._is_open():
                    return _refusal("cannot list users: not connected")
                self._list_requests.append(True)
                return Output(data=self._send_message(ListUsers()))
            case cmd.ChangeNickTo(nick):
                return self._change_nick(nick)

    def _change_nick(self, nick: str) -> Output:
        if not self._is_open():
            self.nick = nick
            return Output(
                events=[
                    ev.Notice(
                        f"not connected: you will ask for {nick} when reconnected"
                    )
                ]
            )
        ref = next(self._refs)
        self._nick_requests[ref] = nick
        return Output(data=self._send_message(ChangeNick(ref=ref, nick=nick)))

    def _send(self, outgoing: _Outgoing) -> Output:
        if len(outgoing.text) > MAX_TEXT_CHARS:
            return _refusal(
                f"your message has {len(outgoing.text)} characters; the limit is {MAX_TEXT_CHARS}. Nothing was sent."
            )
        if self._is_open():
            return Output(data=self._transmit(outgoing))
        if len(self._queued) >= OFFLINE_QUEUE_LIMIT:
            return _refusal(
                f"not connected, and {OFFLINE_QUEUE_LIMIT} messages already wait to be sent; try again once reconnected"
            )
        self._queued.append(outgoing)
        text = f"not connected: your {outgoing.describe()} will be sent when the connection is back"
        return Output(events=[ev.Notice(text)])

    def _transmit(self, outgoing: _Outgoing) -> bytes:
        ref = next(self._refs)
        self._unconfirmed[ref] = outgoing
        if outgoing.target is None:
            return self._send_message(SendText(ref=ref, text=outgoing.text))
        return self._send_message(
            SendDirect(ref=ref, target=outgoing.target, text=outgoing.text)
        )

    # --- server messages ------------------------------------------------------------

    def _handle(self, event: Event, out: Output) -> None:  # noqa: C901, PLR0912 - one arm per message
        match event:
            case Welcome():
                self._welcomed(event, out)
            case Delivered():
                out.events.append(self._chat_line(event))
            case UserList():
                self._list_chunks.extend(event.nicks)
                if event.final:
                    self._roster = {nick_key(n): n for n in self._list_chunks}
                    self._list_chunks = []
                    out.events.append(ev.RosterChanged(self.roster))
                    if self._list_requests and self._list_requests.popleft():
                        out.events.append(ev.UsersListed(self.roster))
            case UserJoined(nick=nick):
                self._roster[nick_key(nick)] = nick
                out.events += [ev.Joined(nick), ev.RosterChanged(self.roster)]
            case UserLeft(nick=nick, reason=reason):
                self._roster.pop(nick_key(nick), None)
                out.events += [ev.Left(nick, reason), ev.RosterChanged(self.roster)]
            case NickChanged(old=old, new=new):
                is_me = nick_key(old) == nick_key(self.nick)
                if is_me:
                    self.nick = new
                self._roster.pop(nick_key(old), None)
                self._roster[nick_key(new)] = new
                out.events += [
                    ev.Renamed(old, new, is_me),
                    ev.RosterChanged(self.roster),
                ]
                if is_me:
                    out.events.append(self._status_event())
            case Error():
                self._refused(event, out)
            case Ping(payload=payload):
                out.data += self._send_message(Pong(payload=payload))
            case Pong():
                pass
            case Bye(reason=reason):
                out.events.append(
                    ev.Notice(
                        f"the server closed the connection: {reason or 'no reason given'}"
                    )
                )
            case Rejected(reason=reason):
                out.events.append(
                    ev.Notice(
                        f"ignored a message from the server: {reason}",
                        ev.NoticeLevel.ERROR,
                    )
                )
            case _:
                out.events.append(
                    ev.Notice(
                        f"unexpected message from the server: {type(event).__name__}",
                        ev.NoticeLevel.ERROR,
                    )
                )

    def _welcomed(self, welcome: Welcome, out: Output) -> None:
        wanted = self.nick
        self.nick = welcome.nick
        self.status = ev.ConnectionStatus.CONNECTED
        self._attempt = 0
        self._fatal = None
        out.events.append(self._status_event())
        if welcome.motd:
            out.events.append(ev.Notice(welcome.motd))
        if welcome.nick != wanted:
            out.events.append(ev.Notice(f"{wanted} is taken; you are {welcome.nick}"))
        self._list_requests.append(False)
        out.data += self._send_message(ListUsers())
        queued, self._queued = self._queued, []
        for outgoing in queued:
            out.data += self._transmit(outgoing)
        if queued:
            out.events.append(
                ev.Notice(f"sent {len(queued)} message(s) typed while disconnected")
            )

    def _refused(self, error: Error, out: Output) -> None:
        if error.ref in self._unconfirmed:
            outgoing = self._unconfirmed.pop(error.ref)
            text = f"your {outgoing.describe()} was not delivered: {error.text}"
        elif error.ref in self._nick_requests:
            nick = self._nick_requests.pop(error.ref)
            text = f"could not change your nick to {nick}: {error.text}"
        else:
            text = error.text
            if (
                self.status is ev.ConnectionStatus.CONNECTING
                and error.code in _FATAL_AT_HANDSHAKE
            ):
                self._fatal = error.text
        out.events.append(ev.Notice(text, ev.NoticeLevel.ERROR))

    def _chat_line(self, message: Delivered) -> ev.ChatLine:
        is_own = message.ref in self._unconfirmed or nick_key(
            message.sender
        ) == nick_key(self.nick)
        self._unconfirmed.pop(message.ref, None)
        return ev.ChatLine(
            id=message.id,
            timestamp_ms=message.timestamp_ms,
            sender=message.sender,
            target=message.target,
            text=message.text,
            is_own=is_own,
            is_direct=message.target is not None,
            mentions_me=not is_own and mentions(message.text, self.nick),
        )

    # --- helpers ---------------------------------------------------------------------

    def _is_open(self) -> bool:
        return (
            self.status is ev.ConnectionStatus.CONNECTED
            and self._conn is not None
            and self._conn.state is State.OPEN
        )

    def _send_message(self, message: Message) -> bytes:
        assert self._conn is not None  # noqa: S101 - callers check _is_open
        return self._conn.send(message)

    def _lost(self, reason: str, out: Output) -> None:
        self._conn = None
        self._list_requests.clear()
        self._list_chunks = []
        self._nick_requests.clear()
        for outgoing in self._unconfirmed.values():
            text = f"the connection dropped before the server confirmed your {outgoing.describe()}; it may not have been delivered"
            out.events.append(ev.Notice(text, ev.NoticeLevel.ERROR))
        self._unconfirmed.clear()
        if self._roster:
            self._roster = {}
            out.events.append(ev.RosterChanged(()))
        if self._fatal is not None:
            self.status = ev.ConnectionStatus.DISCONNECTED
            out.events.append(self._status_event(detail=self._fatal))
            return
        delay = self._backoff.delay(self._attempt, self._rng)
        self._attempt += 1
        self._retry_at = self._clock() + delay
        self._shown_retry = math.ceil(delay)
        self.status = ev.ConnectionStatus.RECONNECTING
        out.events.append(self._status_event(detail=reason, retry_in=self._shown_retry))

    def _status_event(
        self, *, detail: str = "", retry_in: int | None = None
    ) -> ev.ConnectionChanged:
        return ev.ConnectionChanged(
            status=self.status,
            server=self.server,
            nick=self.nick,
            detail=detail,
            retry_in=retry_in,
        )


def _refusal(text: str) -> Output:
    """A line that is not acted on: say why, and keep it in the input box."""
    return Output(events=[ev.Notice(text, ev.NoticeLevel.ERROR)], accepted=False)


def mentions(text: str, nick: str) -> bool:
    """True if `text` names `nick` as a word (with or without `@`), any case."""
    pattern = rf"(?<![\w@]){re.escape(nick)}(?![\w])|@{re.escape(nick)}(?![\w])"
    return re.search(pattern, text, re.IGNORECASE) is not None
