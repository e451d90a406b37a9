"""`ChatSession`: everything a chat client decides, with no I/O and no threads.

Lines the user typed and bytes the server sent go in; bytes to send, UI
events and connection instructions come out as an `Output`. The session runs
on the UI thread (see `clients.core.client`), so it needs no locks; the
clock and the random source are injected so tests can drive time.
"""

from __future__ import annotations

import itertools
import logging
import random
import time
from collections.abc import Callable

import attrs

from clients.core import commands as cmd
from clients.core import events as ev
from clients.core import handshake
from clients.core.certificates import CertificateGate, Judgement, TrustSettings, Verdict
from clients.core.completion import Completer
from clients.core.conversations import Conversations
from clients.core.delivery import QUEUE_LIMIT
from clients.core.focus import Focus, Moved
from clients.core.handshake import CAPABILITIES, CLIENT_NAME
from clients.core.history import InputHistory
from clients.core.journal import Journal
from clients.core.lines import chat_line, mentions, server_notice
from clients.core.link import Link
from clients.core.login import AccountCommand, AccountSettings, Login, Step
from clients.core.outbox import SEEN_SAVE_INTERVAL, Outbox
from clients.core.recall import Ask, Recall
from clients.core.reconnect import (
    HANDSHAKE_TIMEOUT,
    Alarm,
    Backoff,
    Keepalive,
    RetryTimer,
)
from clients.core.rejoin import Gone, Rejoin
from clients.core.rooms import RoomCommand, RoomDesk, RoomMessage
from clients.core.roster import Roster, RosterMessage
from clients.core.scrollback import EARLIER_PAGE, Scrollback
from clients.core.tls import TlsInfo
from protocol import (
    CAP_HISTORY,
    CAP_SESSION,
    CAP_TYPING,
    AccountStatus,
    AwayChanged,
    Bye,
    Connection,
    Delivered,
    Error,
    ErrorCode,
    Event,
    HistoryEnd,
    Limits,
    Message,
    Moderated,
    NickChanged,
    Ping,
    Pong,
    Recalled,
    RemoteProtocolError,
    Role,
    RoomEvent,
    RoomInfo,
    RoomJoined,
    RoomMembers,
    SessionToken,
    State,
    TypingNotice,
    UserJoined,
    UserLeft,
    UserList,
    Welcome,
    is_room,
)

__all__ = [
    "CAPABILITIES",
    "CLIENT_NAME",
    "HANDSHAKE_TIMEOUT",
    "SEEN_SAVE_INTERVAL",
    "AccountSettings",
    "Backoff",
    "ChatSession",
    "Output",
    "TrustSettings",
    "mentions",
]

log = logging.getLogger(__name__)

_AGAIN = "Type /reconnect to try again."


@attrs.define
class Output:
    """What the caller must do after feeding the session something.

    Attributes:
        data: bytes to send on the current connection.
        events: what to show.
        accepted: for `submit`: False if the line was refused (keep it in
            the input box so nothing the user typed is lost).
        connect: open a new connection now (after closing the current one).
        disconnect: close the current connection now.
        setting: `/set`: the caller keeps the settings (a file), so it
            lists or changes them.
    """

    data: bytes = b""
    events: list[ev.UiEvent] = attrs.field(factory=list)
    accepted: bool = True
    connect: bool = False
    disconnect: bool = False
    setting: cmd.ChangeSetting | None = None


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
        queue_limit: lines that may wait for the connection.
        trust: how to judge certificates that no CA vouches for; without
            it any certificate is accepted (tests, `--plaintext`).
        accounts: login tokens and logging in; without it the session is
            a guest that can still /register (the token is then kept in
            memory only).
        journal: where unconfirmed lines and the last message seen outlive
            the process; without it they are kept in memory only.
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
        queue_limit: int = QUEUE_LIMIT,
        trust: TrustSettings | None = None,
        accounts: AccountSettings | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.nick = nick
        self._gate = CertificateGate(trust)
        self._login = Login(accounts, refs=lambda: next(self._refs))
        self._flow = self._login.flow  # the password questions
        self._encrypted = False
        self.server = server
        self.status = ev.ConnectionStatus.DISCONNECTED
        self.history = InputHistory()
        self.completer = Completer()
        self._clock = clock
        self._retry = RetryTimer(backoff or Backoff(), rng or random.Random())
        self._keepalive = Keepalive(ping_interval=ping_interval, dead_after=dead_after)
        self._conn: Connection | None = None
        self._refs = itertools.count(1)
        self._roster = Roster(refs=lambda: next(self._refs))
        self._capabilities: frozenset[str] = frozenset()
        self._reached = False
        self._fatal: str | None = None
        self._outbox = Outbox(
            refs=lambda: next(self._refs),
            now=clock(),
            limit=queue_limit,
            journal=journal,
        )
        self._scrollback = Scrollback(
            refs=lambda: next(self._refs), cursor=self._outbox.last_seen
        )
        self._conversations = Conversations()
        self._rooms = RoomDesk(self._conversations, refs=lambda: next(self._refs))
        self._rejoin = Rejoin(self._conversations)
        self._recall = Recall(self._scrollback)
        self._focus = Focus(self._conversations, self._recall)

    # --- queries ---------------------------------------------------------------

    @property
    def account(self) -> str | None:
        """The account we are logged in as, if any."""
        return self._login.account

    @property
    def roster(self) -> tuple[str, ...]:
        """Who is online, sorted case-insensitively."""
        return self._roster.names

    @property
    def capabilities(self) -> frozenset[str]:
        """What the server enabled on the current connection (spec 12)."""
        return self._capabilities

    @property
    def conversations(self) -> ev.ConversationsChanged:
        """The conversation list as the UI was last told (or would be now)."""
        return self._conversations.snapshot()

    @property
    def active(self) -> str:
        """The active conversation: where a plain line goes."""
        return self._conversations.active

    @property
    def unconfirmed(self) -> int:
        """Lines sent or waiting that the server has not confirmed yet."""
        return len(self._outbox)

    @property
    def catching_up(self) -> bool:
        """Missed messages are being fetched; live lines wait until then."""
        return self._scrollback.catching_up

    def complete(self, line: str) -> str:
        """Tab completion for the input line (never offers our own nick)."""
        return self.completer.complete(
            line,
            self._roster.others(self.nick),
            cmd.command_names(),
            self._conversations.rooms(),
        )

    # --- connection lifecycle --------------------------------------------------

    def start(self) -> Output:
        """Begin: the caller should open the first connection.

        When logging in without a saved token, the password is asked for
        first (a `PasswordRequest`); the connection opens once it is given.
        """
        self.status = ev.ConnectionStatus.CONNECTING
        out = Output(events=[self._status_event()])
        self._announce(out)
        out.events += self._outbox.waiting()
        if (ask := self._login.start(self.nick, self.server)) is not None:
            out.events.append(ask)
            return out
        out.connect = True
        return out

    def answer_password(
        self, request_id: int, password: str | None, repeat: str | None = None
    ) -> Output:
        """The user's answer to a `PasswordRequest` (None: cancelled)."""
        answered = self._login.answer(request_id, password, repeat)
        out = Output(events=list(answered.events))
        if answered.cancelled_login and self._conn is None:
            self.status = ev.ConnectionStatus.DISCONNECTED
            self._retry.cancel()
            out.events.append(
                self._status_event(
                    detail="no password given, so not logged in.\nType /login to try again, or /reconnect to join as a guest."
                )
            )
            return out
        if answered.login_password is not None:
            reconnect = self.reconnect()
            reconnect.events = out.events + reconnect.events
            return reconnect
        if answered.request is not None:
            if not self._is_open():
                return _refusal("not connected; nothing was sent")
            self._outbox.queue(self._login.track(answered.request))
            self._pump(out)
        return out

    def connected(self, tls: TlsInfo | None = None) -> Output:
        """The connection is up: check its certificate, then say Hello.

        Args:
            tls: what the TLS handshake showed; None for plaintext.
        """
        self._conn = Connection(Role.CLIENT)
        self._reached = True
        self._encrypted = tls is not None
        return self._on_judgement(self._gate.judge(tls), reconnect=False)

    def answer_trust(self, yes: bool) -> Output:
        """The user's answer to a `TrustQuestion`."""
        idle = self._conn is not None and self._conn.state is State.IDLE
        return self._on_judgement(self._gate.answer(yes), reconnect=not idle)

    def _on_judgement(self, judgement: Judgement, *, reconnect: bool) -> Output:
        """Act on the certificate gate's verdict.

        Args:
            reconnect: after a yes, the connection the question was about
                is gone: open a new one instead of saying Hello.
        """
        match judgement.verdict:
            case Verdict.HELLO if reconnect:
                return self.reconnect()
            case Verdict.HELLO:
                out = self._hello()
                out.events = [*judgement.events, *out.events]
                return out
            case Verdict.ASK:
                return Output(events=list(judgement.events))
            case Verdict.REFUSE:
                out = Output(disconnect=True)
                self._fatal = judgement.fatal
                self._lost(judgement.reason, out)
                return out
            case Verdict.NOTHING:
                return Output()

    def _hello(self) -> Output:
        """Say Hello (and Identify, spec 12.2) on the new connection."""
        assert self._conn is not None  # noqa: S101 - connected() made it
        now = self._clock()
        self._keepalive.started(now)
        self._capabilities = frozenset()
        hello = handshake.hello(self.nick)
        identify, refused = self._login.identify(encrypted=self._encrypted)
        if refused is not None:
            self._fatal = refused
        data = self._conn.send(hello) + self._conn.send(identify)
        self._outbox.restart(now, spent=2)
        return Output(data=data)

    def received(self, data: bytes) -> Output:
        """Bytes from the server."""
        out = Output()
        if self._conn is None:
            return out
        self._keepalive.heard(self._clock())
        welcomed = self.status is ev.ConnectionStatus.CONNECTED
        try:
            for event in self._conn.receive_data(data):
                self._handle(event, out)
        except RemoteProtocolError as exc:
            out.disconnect = True
            welcomed = welcomed or self.status is ev.ConnectionStatus.CONNECTED
            self._fail(
                handshake.broken(exc, welcomed=welcomed, server=self.server), out
            )
            return out
        self._pump(out)
        return out

    def closed(self, reason: str, *, fatal: bool = False) -> Output:
        """The connection ended (or could not be made).

        Args:
            reason: what happened, in words.
            fatal: retrying cannot help (an unknown host name, say).
        """
        out = Output()
        if self.status is ev.ConnectionStatus.DISCONNECTED or (
            self._conn is None and self.status is ev.ConnectionStatus.RECONNECTING
        ):
            return out
        if self._gate.asking or self._flow.asking:
            # The server gave up waiting while the user reads a question;
            # their answer decides whether to connect again.
            self._connection_ended(out)
            return out
        if fatal:
            self._fatal = f"cannot connect to {self.server}: {reason}"
        self._lost(reason, out)
        return out

    def tick(self) -> Output:
        """Call a few times a second: keepalive, pacing, reconnect timing."""
        out = Output()
        now = self._clock()
        self._conversations.expire(now)
        if self.status is ev.ConnectionStatus.RECONNECTING and self._retry.scheduled:
            countdown = self._retry.tick(now)
            if countdown.connect:
                self.status = ev.ConnectionStatus.CONNECTING
                out.events.append(self._status_event(quiet=True))
                out.connect = True
            elif countdown.retry_in is not None:
                out.events.append(
                    self._status_event(retry_in=countdown.retry_in, quiet=True)
                )
        elif self._conn is not None:
            state = self._conn.state
            match self._keepalive.check(now, state):
                case Alarm.NO_WELCOME:
                    out.disconnect = True
                    self._fail(handshake.unanswered(self.server), out)
                case Alarm.DEAD:
                    out.disconnect = True
                    self._lost("the server stopped answering", out)
                case Alarm.PING:
                    self._outbox.queue(Ping(payload=b"keepalive"))
                case Alarm.NONE:
                    pass
            if state is State.OPEN:
                self._outbox.queue(*self._focus.due(now))
        self._pump(out)
        return out

    def quit(self, reason: str = "") -> Output:
        """Leave for good: say Bye and stop reconnecting."""
        out = Output(disconnect=True)
        if self._conn is not None and self._conn.state is State.OPEN:
            out.data = self._conn.send(Bye(reason=reason or "leaving"))
        self._conn = None
        self._retry.cancel()
        self._log(out, self._scrollback.without_history())  # what was held
        kept = self._save_journal(out, force=True)
        out.events += self._outbox.close(kept=kept)
        self.status = ev.ConnectionStatus.DISCONNECTED
        out.events.append(self._status_event(detail="you left"))
        out.events.append(ev.ExitRequested(reason))
        return out

    def reconnect(self) -> Output:
        """Connect again now, whatever the state (also after a final error).

        The current connection, if any, is dropped without a Bye: the new
        one resumes the session (spec 12.2), so nobody sees us leave.
        """
        out = Output(connect=True)
        if self._conn is not None:
            self._connection_ended(out)
        self._fatal = None
        self._retry.reset()
        self.status = ev.ConnectionStatus.CONNECTING
        out.events.append(self._status_event())
        return out

    # --- stored history (issue 14) ----------------------------------------------

    def load_earlier(self, count: int = EARLIER_PAGE, *, asked: bool = False) -> Output:
        """Ask for the `count` messages of the active conversation before its
        oldest line shown; they come as one `EarlierLines`.

        Args:
            asked: the user typed /history: say so when nothing is sent
                (a page is on its way, or none is left); scrolling up stays
                quiet then.
        """
        return self._ask_history(
            self._recall.earlier(count, self.active, self._link(), asked=asked)
        )

    def search(self, words: str) -> Output:
        """Ask for stored messages holding every word; a `SearchResults` follows."""
        return self._ask_history(self._recall.search(words, self._link()))

    def show_context(self, message_id: int) -> Output:
        """Ask for the lines around `message_id`; a `Context` follows."""
        return self._ask_history(self._recall.context(message_id, self._link()))

    def _ask_history(self, ask: Ask) -> Output:
        if ask.refusal is not None:
            return _refusal(ask.refusal)
        if not ask.send:
            return Output(events=list(ask.events))
        self._outbox.queue(*ask.send)
        return self._queue_sent()

    # --- conversations (issue 15) -------------------------------------------------

    def switch(self, name: str) -> Output:
        """Make the conversation `name` active (see `ChatClient.switch`)."""
        if (refusal := self._switch(name).refusal) is not None:
            return _refusal(refusal)
        return self._queue_sent()

    def switch_to(self, index: int) -> Output:
        """Make the `index`-th (1-based) conversation of the list active."""
        names = self._conversations.names()
        if not 1 <= index <= len(names):
            return Output()
        return self.switch(names[index - 1])

    def close_conversation(self, name: str | None = None) -> Output:
        """Hide a conversation (None: the active one) until a line arrives in it."""
        moved = self._focus.close(name, self._link(), self._clock())
        if moved.refusal is not None:
            return _refusal(moved.refusal)
        out = Output(events=list(moved.events))
        self._outbox.queue(*moved.send)
        self._pump(out)
        return out

    def find_conversations(self, query: str) -> list[str]:
        """Conversation names matching `query` (fuzzy), best first."""
        return self._conversations.find(query)

    def typing(self, text: str) -> Output:
        """The input box now holds `text`: tell the active conversation,
        paced (spec 12.6); nothing without the `typing` capability."""
        link = self._link()
        if not link.open or not link.has(CAP_TYPING):
            return Output()
        self._outbox.queue(*self._focus.typed(text, link, self._clock()))
        return self._queue_sent()

    def _switch(self, name: str) -> Moved:
        moved = self._focus.switch(name, self._link(), self._clock())
        self._outbox.queue(*moved.send)
        return moved

    def _announce(self, out: Output) -> None:
        """Tell the UI the conversation list if it changed since last time."""
        if (changed := self._conversations.news()) is not None:
            out.events.append(changed)

    def _log(self, out: Output, events: list[ev.UiEvent], *, news: bool = True) -> None:
        """Show `events` from the log; each line goes into its conversation.

        Args:
            news: the lines are new to the user (they count as unread).
        """
        for event in events:
            if isinstance(event, ev.ChatLine):
                self._conversations.add_line(event, news=news)
        out.events += events

    # --- user input --------------------------------------------------------------

    def submit(self, line: str) -> Output:
        """What the user typed: text (may span lines), `@nick text` or a `/command`."""
        try:
            command = cmd.parse_command(line)
        except cmd.CommandError as exc:
            return _refusal(str(exc))
        if command is None:
            return Output(accepted=False)
        out = self._run(command)
        if out.accepted:
            self.history.add(line.rstrip())
        self._announce(out)  # a refused line may have opened a conversation
        return out

    def _run(self, command: cmd.Command) -> Output:  # noqa: PLR0911 - one arm per command
        match command:
            case cmd.Say(text):
                return self._say(text)
            case cmd.Whisper(nick, text):
                return self._send(text, nick)
            case cmd.ShowHelp():
                return Output(
                    events=[ev.Notice("\n".join(["Commands:", *cmd.help_lines()]))]
                )
            case cmd.ClearWindow():
                self._scrollback.cleared(self.active)
                return Output(events=[ev.ClearRequested()])
            case cmd.Quit(reason):
                return self.quit(reason)
            case cmd.Reconnect():
                return self.reconnect()
            case cmd.ListWho():
                if not self._is_open():
                    return _refusal("cannot list users: not connected")
                return self._queue(self._roster.ask(shown=True))
            case cmd.ChangeNickTo(nick):
                return self._change_nick(nick)
            case _:
                return self._run_more(command)

    def _run_more(self, command: cmd.Command) -> Output:  # noqa: PLR0911 - one arm per command
        """Conversation and room commands (issue 15; the rest of `_run`)."""
        match command:
            case cmd.Emote(text):
                return self._say(cmd.ME_PREFIX + text)
            case cmd.ShowMembers() if (
                self._conversations.kind_of(self.active) is not ev.ConversationKind.ROOM
            ):
                return self._run(cmd.ListWho())
            case (
                cmd.EnterRoom()
                | cmd.LeaveRoom()
                | cmd.ShowRooms()
                | cmd.SetTopic()
                | cmd.ShowMembers()
                | cmd.RoomModeration()
                | cmd.GoAway()
                | cmd.ComeBack()
            ):
                return self._room_request(command)
            case cmd.Moderation() if (
                self._conversations.active_kind is ev.ConversationKind.ROOM
                and RoomDesk.for_room(command)
            ):
                return self._room_request(command)
            case cmd.CloseConversation():
                return self.close_conversation()
            case cmd.OpenDirect(nick, text):
                self._conversations.open_direct(nick)
                self._switch(nick)
                return self._say(text) if text else self._queue_sent()
            case cmd.ChangeSetting():
                return Output(setting=command)
            case _:
                return self._run_last(command)

    def _run_last(self, command: cmd.Command) -> Output:
        """Account, moderation and history commands (the rest of `_run`)."""
        match command:
            case (
                cmd.RegisterNick()
                | cmd.ChangeMyPassword()
                | cmd.LogIn()
                | cmd.LogOut()
                | cmd.Moderation()
            ):
                return self._account_request(command)
            case cmd.LoadEarlier(count):
                return self.load_earlier(count, asked=True)
            case cmd.SearchFor(words):
                return self.search(words)
            case _:  # pragma: no cover - _run handles the others
                msg = f"not a command for _run_last: {command!r}"
                raise AssertionError(msg)

    def _room_request(self, command: RoomCommand | cmd.Moderation) -> Output:
        showing = isinstance(command, cmd.SetTopic) and not command.text
        if not self._is_open() and not showing:
            return _refusal("not connected; try again once connected")
        plan = self._rooms.plan(command, self._capabilities)
        if plan.refusal is not None:
            return _refusal(plan.refusal)
        out = Output(events=list(plan.events))
        if plan.send is not None:
            self._outbox.queue(plan.send)
        self._pump(out)
        return out

    def _say(self, text: str) -> Output:
        """A line for the active conversation."""
        target = self._conversations.target()
        out = self._send(text, target)
        if out.accepted:
            self._focus.sent(self.active)
            away = self._conversations.away_text(target) if target else None
            if target is not None and not is_room(target) and away is not None:
                out.events.append(
                    ev.Notice(f"{target} is away: {away}", conversation=self.active)
                )
        return out

    def _account_request(self, command: AccountCommand) -> Output:
        step = self._login.plan(command, self._link(), nick=self.nick)
        if step.refusal is not None:
            return _refusal(step.refusal)
        if step.send is not None:
            return self._queue(step.send)
        return Output(events=list(step.events))

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
        return self._queue(self._roster.change_nick(nick))

    def _send(self, text: str, target: str | None) -> Output:
        unreachable = bool(
            target is not None
            and self._is_open()
            and self._roster.offline(target)
            # With history, an account that is offline gets it later.
            and CAP_HISTORY not in self._capabilities
        )
        added = self._outbox.add(
            text, target, queued=not self._is_open(), unreachable=unreachable
        )
        if isinstance(added, str):
            return _refusal(added)
        out = Output(events=[added])
        self._pump(out)
        return out

    def _queue(self, message: Message) -> Output:
        self._outbox.queue(message)
        return self._queue_sent()

    def _queue_sent(self) -> Output:
        out = Output()
        self._pump(out)
        return out

    def _pump(self, out: Output) -> None:
        """Send what waits, as fast as the server's flood limit allows;
        then keep what must outlive the process in the journal, and tell
        the UI if the conversation list changed."""
        if self._is_open():
            assert self._conn is not None  # noqa: S101 - _is_open checked it
            sent = self._outbox.send(
                self._conn, self._clock(), posts=CAP_HISTORY in self._capabilities
            )
            out.data += sent.data
            out.events += sent.events
        self._save_journal(out)
        self._announce(out)

    def _save_journal(self, out: Output, *, force: bool = False) -> bool:
        """Keep the unconfirmed lines and the last seen id in the journal.

        Returns:
            True if the journal on disk is up to date.
        """
        current, problems = self._outbox.keep(
            self._scrollback.cursor, self._clock(), force=force
        )
        out.events += problems
        return current

    # --- server messages ------------------------------------------------------------

    def _handle(self, event: Event, out: Output) -> None:  # noqa: C901, PLR0912 - one arm per message
        match event:
            case Welcome():
                self._welcomed(event, out)
            case Limits():
                self._outbox.pacer.configure(
                    event.rate_burst, event.rate_interval_ms / 1000, self._clock()
                )
            case SessionToken():
                self._account_step(
                    self._login.session_token(event, self.nick, self.server), out
                )
                self._settle(event.last_ref, out)
            case AccountStatus():
                self._account_step(self._login.account_status(event, self.nick), out)
            case Moderated(ref=ref, text=text):
                self._login.moderated(ref)
                out.events.append(self._rooms.moderated(ref, text) or ev.Notice(text))
            case Delivered():
                self._delivered(event, out)
            case Recalled() | HistoryEnd():
                self._history_answer(event, out)
            case (
                RoomJoined()
                | RoomMembers()
                | RoomInfo()
                | RoomEvent()
                | TypingNotice()
                | AwayChanged()
            ):
                self._room_message(event, out)
            case UserList() | UserJoined() | UserLeft() | NickChanged():
                self._roster_message(event, out)
            case Error():
                self._refused(event, out)
            case Ping(payload=payload):
                self._outbox.queue(Pong(payload=payload))
            case Pong():
                pass
            case _:  # Bye, Rejected, and what this client does not know
                out.events.append(server_notice(event))

    def _welcomed(self, welcome: Welcome, out: Output) -> None:
        wanted = self.nick
        self.nick = welcome.nick
        self.status = ev.ConnectionStatus.CONNECTED
        self._retry.succeeded()
        self._fatal = None
        self._capabilities = frozenset(welcome.capabilities)
        out.events.append(self._status_event())
        out.events += handshake.greeting(welcome, wanted)
        self._outbox.queue(self._roster.ask(shown=False))
        if CAP_HISTORY in self._capabilities:
            self._outbox.queue(self._scrollback.begin())
        else:
            self._log(out, self._scrollback.without_history())
        # The rooms of the account (or resumed session) come before the
        # answer to ListUsers (spec 12.5); those that do not are gone.
        self._rooms_gone(self._rejoin.welcomed(self._link()), out)
        if CAP_SESSION not in self._capabilities:
            self._settle(None, out)

    def _roster_message(self, message: RosterMessage, out: Output) -> None:
        change = self._roster.received(message, self.nick)
        if change is None:
            return  # more of the list to come
        self._conversations.set_roster(self.roster)
        match message:
            case UserLeft(nick=nick):
                self._conversations.user_left(nick)
            case NickChanged(old=old, new=new):
                self._conversations.renamed(old, new)
        out.events += change.events
        if change.me is not None:
            self.nick = change.me
            out.events.append(self._status_event(quiet=True))
        if change.listed:
            self._rooms_gone(self._rejoin.listed(self._link()), out)

    def _rooms_gone(self, gone: Gone | None, out: Output) -> None:
        if gone is None:
            return
        for room in gone.rooms:
            self._scrollback.forget(room)
        out.events += gone.events

    def _room_message(self, message: RoomMessage, out: Output) -> None:
        step = self._rooms.received(message, self.nick, self._clock())
        out.events += step.events
        if step.left is not None:
            self._scrollback.forget(step.left)
        if step.entered is not None:
            self._switch(step.entered)

    def _history_answer(self, message: Recalled | HistoryEnd, out: Output) -> None:
        if isinstance(message, Recalled):
            news = self._scrollback.catch_up_news(message.ref)
            line = self._line(message)
            self._log(out, self._scrollback.recalled(message.ref, line), news=news)
            return
        answer = self._recall.ended(message, self.active, self._link())
        self._log(out, list(answer.events))
        self._outbox.queue(*answer.send)

    def _account_step(self, step: Step, out: Output) -> None:
        out.events += step.events
        if step.fatal is not None:
            self._fatal = step.fatal

    def _settle(self, last_ref: int | None, out: Output) -> None:
        """Decide the fate of the lines in flight when the last connection dropped."""
        out.events += self._outbox.settle(
            last_ref, idempotent=CAP_HISTORY in self._capabilities
        )

    def _delivered(self, message: Delivered, out: Output) -> None:
        line = self._outbox.delivery.confirmed(message.ref)
        chat = self._line(message, own=line is not None)
        done = (
            ev.PendingDone(local_id=line.local_id, delivered=True)
            if line is not None
            else None
        )
        if CAP_HISTORY in self._capabilities:
            # Deduplicated by id, held while catching up (issue 14).
            self._log(out, self._scrollback.live(chat, done))
            return
        self._log(out, [chat] if done is None else [chat, done])

    def _line(self, message: Delivered | Recalled, *, own: bool = False) -> ev.ChatLine:
        conversation = self._conversations.conversation_of(
            message.sender, message.target, self.nick
        )
        return chat_line(message, me=self.nick, conversation=conversation, own=own)

    def _refused(self, error: Error, out: Output) -> None:
        if (events := self._outbox.refused(error, self._clock())) is not None:
            out.events += events
            return
        if (answer := self._recall.refused(error)) is not None:
            if answer.later is not None:
                self._outbox.again_later(answer.later, self._clock())
            self._log(out, list(answer.events))
            return
        if (notice := self._rooms.refused(error.ref, error.text)) is not None:
            out.events.append(notice)
            return
        if (refused := self._roster.refused(error)) is not None or (
            refused := self._login.refused(error)
        ) is not None:
            text = refused
        elif self.status is ev.ConnectionStatus.CONNECTING:
            self._account_step(
                self._login.refused_handshake(error, self.nick, self.server), out
            )
            text = error.text
        elif (
            error.code is ErrorCode.UNKNOWN_MESSAGE_TYPE
            and CAP_SESSION not in self._capabilities
        ):
            return  # an older server refusing our Identify (spec 12.2)
        else:
            text = error.text
        out.events.append(ev.Notice(text, ev.NoticeLevel.ERROR))

    # --- helpers ---------------------------------------------------------------------

    def _link(self) -> Link:
        """The connection as the parts see it."""
        return Link(
            server=self.server, open=self._is_open(), capabilities=self._capabilities
        )

    def _is_open(self) -> bool:
        return (
            self.status is ev.ConnectionStatus.CONNECTED
            and self._conn is not None
            and self._conn.state is State.OPEN
        )

    def _connection_ended(self, out: Output) -> None:
        """Forget the connection; keep every line that was not confirmed."""
        self._conn = None
        self._reached = False
        self._capabilities = frozenset()
        out.events += self._scrollback.connection_lost()
        self._conversations.connection_lost()
        self._rooms.connection_lost()
        self._focus.connection_lost()
        self._rejoin.connection_lost()
        self._recall.connection_lost()
        out.events += self._outbox.connection_lost()
        if self._roster.connection_lost():
            out.events.append(ev.RosterChanged(()))
        self._announce(out)

    def _fail(self, failure: handshake.Failure, out: Output) -> None:
        if failure.notice is not None:
            out.events.append(failure.notice)
        if failure.fatal is not None:
            self._fatal = failure.fatal
        self._lost(failure.reason, out)

    def _lost(self, reason: str, out: Output) -> None:
        never_connected = not self._reached
        self._connection_ended(out)
        if self._fatal is not None:
            self.status = ev.ConnectionStatus.DISCONNECTED
            self._retry.cancel()
            self._log(out, self._scrollback.without_history())  # what was held
            out.events.append(self._status_event(detail=f"{self._fatal}\n{_AGAIN}"))
            return
        retry = self._retry.schedule(reason, self._clock())
        self.status = ev.ConnectionStatus.RECONNECTING
        out.events.append(
            self._status_event(
                detail=reason,
                retry_in=retry.retry_in,
                quiet=retry.repeated,
                never_connected=never_connected,
            )
        )

    def _status_event(
        self,
        *,
        detail: str = "",
        retry_in: int | None = None,
        quiet: bool = False,
        never_connected: bool = False,
    ) -> ev.ConnectionChanged:
        return ev.ConnectionChanged(
            status=self.status,
            server=self.server,
            nick=self.nick,
            detail=detail,
            retry_in=retry_in,
            quiet=quiet,
            never_connected=never_connected,
            encrypted=self._encrypted,
        )


def _refusal(text: str) -> Output:
    """A line that is not acted on: say why, and keep it in the input box."""
    return Output(events=[ev.Notice(text, ev.NoticeLevel.ERROR)], accepted=False)
