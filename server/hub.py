"""`Hub`: who is online and where each message goes. No sockets, no threads of its own.

Reader threads call into the hub; one lock guards the nick registry, so two
clients asking for the same nick at once still get different ones, and
every client sees broadcasts in the same order. Each frame is encoded once
and the same bytes go to every recipient.

Join and leave notices are gathered and sent every few tens of milliseconds
(`flush_presence`), so a thousand clients arriving at once cost each
recipient a few writes, not a thousand. Any other broadcast sends the
gathered notices first, so nobody hears from a user before hearing it joined.
Likewise the messages of one burst (a reader's batch) reach each recipient
as one write; anything else the hub sends goes after them, in order.

Who is online under which nick is a `server.roster.Roster`, which keeps the
user list sorted and encoded as people come and go: a `ListUsers` is one
write of bytes that already exist.

Sessions (spec 12.2) live here too, in a `SessionRegistry` used under the
hub's lock, because resuming one means taking over a nick atomically.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Collection, Iterable
from typing import Protocol

import attrs

from protocol import (
    CAP_ACCOUNTS,
    CAP_AWAY,
    CAP_HISTORY,
    CAP_LIMITS,
    CAP_ROOMS,
    CAP_SESSION,
    CAP_TYPING,
    LOBBY,
    MAX_USER_LIST_CHUNK,
    PROTOCOL_VERSION,
    AccountStatus,
    AwayChanged,
    ChangeNick,
    Delivered,
    ErrorCode,
    FetchHistory,
    Hello,
    HistoryEnd,
    Identify,
    InvalidNick,
    InvalidRoom,
    JoinRoom,
    ListMembers,
    ListRooms,
    Moderated,
    NickChanged,
    PartRoom,
    Post,
    RoomAction,
    Search,
    SendDirect,
    SendText,
    SessionToken,
    SetAway,
    Typing,
    TypingNotice,
    UserJoined,
    UserLeft,
    Welcome,
    encode_frame,
    is_room,
    nick_key,
    normalize_nick,
)
from protocol.constants import MIN_PROTOCOL_VERSION
from server import history
from server.fanout import Fanout
from server.history import Record, Step
from server.logins import Login
from server.ordering import ROSTER, Lane, StepQueue
from server.outbox import batched, in_batch
from server.refusal import Refusal
from server.rooms import LOBBY_KEY, RoomDirectory, key_of
from server.roster import Roster
from server.sessions import LoginCheck, NoAccounts, Session, SessionRegistry
from server.store.base import (
    MessageStore,
    RoomStore,
    StoredMessage,
    StoreError,
    account_party,
    is_account_party,
)

__all__ = ["RESUMED_REASON", "Hub", "Joined", "Member", "Refusal"]

log = logging.getLogger(__name__)

V2_CAPABILITIES: frozenset[str] = frozenset(
    {CAP_LIMITS, CAP_SESSION, CAP_TYPING, CAP_AWAY}
)
"""Capabilities this server enables for version 2 clients that ask (spec 12)."""

RESUMED_REASON = "session resumed on another connection"


def enabled_capabilities(
    version: int,
    requested: Iterable[str],
    offered: frozenset[str] = V2_CAPABILITIES,
) -> tuple[str, ...]:
    """What Welcome lists: none before version 2, else those asked for that we have.

    `accounts` and `history` need `session` (spec 12.3, 12.4).
    """
    if min(version, PROTOCOL_VERSION) < 2:
        return ()
    enabled = set(offered.intersection(requested))
    if CAP_SESSION not in enabled:
        enabled.discard(CAP_ACCOUNTS)
        enabled.discard(CAP_HISTORY)
    if CAP_HISTORY not in enabled:
        enabled.discard(CAP_ROOMS)
    return tuple(sorted(enabled))


def _wanted_nick(raw: str) -> str | Refusal:
    """Hello's nick in NFC, or the refusal to send if it is invalid (spec 5.3)."""
    try:
        return normalize_nick(raw)
    except InvalidNick as exc:
        return Refusal(ErrorCode.INVALID_NICK, str(exc), fatal=True)


class Member(Protocol):
    """What the hub needs from a connected peer."""

    nick: str | None
    label: str
    session: Session | None
    capabilities: frozenset[str]

    @property
    def is_admin(self) -> bool:
        """Logged in to a server admin's account."""

    @property
    def left(self) -> bool:
        """True once the member has given up its place (it may not join then)."""

    @property
    def closing(self) -> bool:
        """Condemned or left: what it is sent now may never reach its client."""

    def deliver(self, data: bytes) -> object:
        """Queue an encoded frame; must never block."""

    def welcome(self, message: Welcome, after: bytes) -> None:
        """Send Welcome through the peer's own connection (it changes state),
        then `after` (Limits, SessionToken) at once, before anything else."""

    def kick(self, code: ErrorCode | None, text: str) -> None:
        """Say why (best effort) and close; must never block."""


@attrs.frozen
class Joined:
    """What `Hub.join` did: the nick, and whether a session was resumed."""

    nick: str
    resumed: bool = False


class Hub:
    """The shared state of one server: nick registry, routing and sessions.

    Args:
        server_name: sent in Welcome.
        motd: the message of the day, sent in Welcome.
        wall_clock: seconds since the epoch (injected for tests).
        clock: monotonic seconds, for session expiry.
        limits_frame: the encoded `Limits` sent after Welcome when asked for.
        accounts: checks passwords given in Identify when the server has no
            accounts (they are refused); with accounts the peer logs in
            first and passes the `Login` to `join`.
        owns: whether an account owns a nick (guests may not take it).
        list_chunk: nicks per UserList frame (the spec's maximum; tests use
            less to reach chunk boundaries with few members).
    """

    def __init__(
        self,
        *,
        server_name: str,
        motd: str,
        wall_clock: Callable[[], float],
        clock: Callable[[], float],
        limits_frame: bytes,
        accounts: LoginCheck | None = None,
        owns: Callable[[str], bool] | None = None,
        list_chunk: int = MAX_USER_LIST_CHUNK,
    ) -> None:
        self._owns = owns or (lambda _nick: False)
        self.offered = V2_CAPABILITIES | (
            {CAP_ACCOUNTS} if owns is not None else frozenset()
        )
        self._server_name = server_name
        self._motd = motd
        self._wall_clock = wall_clock
        self._limits_frame = limits_frame
        self._accounts: LoginCheck = accounts or NoAccounts()
        # Re-entrant: a peer kicked while the hub publishes (an outbox that
        # overflows) has its last words queued through the hub again.
        self._lock = threading.RLock()
        self._members = Roster(list_chunk)
        self.sessions = SessionRegistry(clock)
        self._ids = itertools.count(1)
        self._presence: list[tuple[Member, bytes]] = []
        # Broadcasts said inside a reader's batch: (sender, frame, sender's frame).
        self._queued: list[tuple[Member, bytes, bytes]] = []
        # Members registered since the last flush → how many pending notices
        # predate them (those are not news to them: their user list has it).
        self._newcomers: dict[int, int] = {}
        # Stored history (spec 12.4); see `attach_history`.
        self._store: MessageStore | None = None
        self._on_quiet_message: Callable[[], object] = lambda: None
        # What waits for the recorder (fair order); a round's messages go first.
        self._queue = StepQueue(first=lambda step: isinstance(step, Record))
        self._work = threading.Condition(self._lock)
        self._join_points: dict[int, int] = {}
        self._fanout = Fanout(
            members=self._members.values,
            room_members=self._room_members,
            holder_of_party=self._holder_of_party,
            current=self._current,
            party=self._party,
            claim_offline=self._claim_offline,
        )
        self.rooms: RoomDirectory | None = None
        self._away: dict[int, str] = {}  # id(member) -> why (spec 12.6)

    def attach_history(
        self,
        store: MessageStore,
        *,
        on_quiet_message: Callable[[], object] = lambda: None,
    ) -> None:
        """Store every message from now on, and offer `history` (before start).

        `on_quiet_message` is called, under the hub's lock, when a message
        arrives in a quiet lane (it may go in an express batch, `ordering`):
        the listener expedites the recorder's batch in progress with it.
        """
        self._store = store
        self._on_quiet_message = on_quiet_message
        last = store.last_id()
        self._ids = itertools.count(last + 1)
        self._fanout.published = last
        self.offered = self.offered | {CAP_HISTORY}

    @property
    def message_store(self) -> MessageStore | None:
        return self._store

    def attach_rooms(self, store: RoomStore | None) -> None:
        """Offer rooms (spec 12.5; needs history), kept in `store` (before start)."""
        self.rooms = RoomDirectory(
            store,
            wall_clock=self._wall_clock,
            is_account=is_account_party,
            party_of=self._party,  # type: ignore[arg-type]
            defer=self._later,
        )
        self.offered = self.offered | {CAP_ROOMS}

    def __len__(self) -> int:
        return len(self._members)

    def nicks(self) -> list[str]:
        """Every online nick, sorted case-insensitively."""
        with self._lock:
            return self._members.nicks()

    def join(
        self,
        member: Member,
        hello: Hello,
        identify: Identify | None = None,
        login: Login | None = None,
    ) -> Joined:
        """Register `member` and tell everyone; or resume its session.

        Args:
            member: the connection.
            hello: its Hello.
            identify: its Identify, when it asked for sessions (spec 12.2).
            login: the account it logged in to (spec 12.3), checked already.

        Raises:
            Refusal: (fatal) unsupported version, invalid nick, bad password.
        """
        capabilities = self._capabilities(hello, identify)
        wanted = _wanted_nick(hello.nick)
        account = None if login is None else login.name
        if login is None and identify is not None and identify.password is not None:
            account = self._accounts.login(hello.nick, identify.password)
        with self._lock:
            if member.left:
                # Condemned (a timeout, say) while its Hello was on its way:
                # registering it now would leave a ghost that never leaves.
                raise Refusal(ErrorCode.UNEXPECTED_MESSAGE, "closing", fatal=True)
            self._flush_queued()  # what was said before it joined is not for it
            session, token = self._find_session(identify)
            displaced = self._live_holder(session)
            if displaced is None and login is not None:
                displaced, session = self._owner_arrives(login, session)
                token = login.token
            if displaced is not None:
                nick = self._take_over(displaced, member)
            else:
                if login is not None:
                    nick = login.name
                elif isinstance(wanted, Refusal):
                    raise wanted
                else:
                    nick = self._members.unique(wanted, taken=self._owns)
                member.nick = nick
                self._members.add(nick_key(nick), member)
            after = self._limits_frame if CAP_LIMITS in capabilities else b""
            if identify is not None:
                after += self._start_session(
                    member, session, token, account, resumed=displaced is not None
                )
            if login is not None and CAP_ACCOUNTS in capabilities:
                after += encode_frame(
                    AccountStatus(
                        account=login.name, admin=login.admin, token=login.token
                    )
                )
            member.capabilities = frozenset(capabilities)
            member.welcome(
                Welcome(
                    version=min(hello.version, PROTOCOL_VERSION),
                    nick=nick,
                    server_name=self._server_name,
                    capabilities=capabilities,
                    motd=self._motd,
                ),
                after,
            )
            self._newcomers[id(member)] = len(self._presence)
            self._join_points[id(member)] = self._fanout.published
            self._settle_in(member, displaced)
            if displaced is None:
                self._presence.append((member, encode_frame(UserJoined(nick=nick))))
            else:
                displaced.kick(None, RESUMED_REASON)
        return Joined(nick, resumed=displaced is not None)

    def logged_in(self, member: Member, login: Login) -> None:
        """`member` made its nick an account (Register): its session follows."""
        with self._lock:
            session = member.session
            if session is not None:
                session.account = login.name
                self.sessions.rename(session, login.token)

    def session_account(self, token: bytes) -> str | None:
        """The account of the session `token` names, if any."""
        with self._lock:
            session = self.sessions.find(token)
            return None if session is None else session.account

    def knows_session(self, token: bytes) -> bool:
        """True if `token` names a live or recently ended session."""
        with self._lock:
            return self.sessions.find(token) is not None

    def member(self, nick: str) -> Member | None:
        """Who holds `nick` now, if anyone (for kicks and bans)."""
        with self._lock:
            return self._members.get(nick_key(nick))

    def leave(self, member: Member, reason: str) -> None:
        """Forget `member` and tell the others; harmless if it never joined.

        A member whose session moved to another connection has no place left
        to give up: nobody is told anything.
        """
        with self._lock:
            if member.session is not None:
                self.sessions.detach(member.session, member)
            self._join_points.pop(id(member), None)
            nick = self._registered_nick(member)
            if nick is None:
                return
            self._leave_rooms(member, nick)
            self._flush_queued()  # what it said before it left goes out first
            self._members.remove(nick_key(nick))
            self._presence.append(
                (member, encode_frame(UserLeft(nick=nick, reason=reason)))
            )

    def say(self, member: Member, request: SendText) -> None:
        """Broadcast to everyone online; the sender's copy carries its ref.

        Inside a reader's batch (a `recv` that held several frames) the
        message is queued and the whole batch goes to each recipient as one
        write at its end (`flush_broadcasts`): a burst costs a write per
        recipient, not one per message and recipient.

        Ignored if `member` is no longer registered (it was kicked, or its
        session resumed elsewhere, while this request was on its way).
        """
        with self._lock:
            sender = self._registered_nick(member)
            if sender is None:
                return
            if self._presence:
                self._send_pending()  # nobody hears from a nick before its join
            if self._store is not None:
                self._record(member, sender, None, request.text, request.ref)
                return
            message = Delivered(
                id=next(self._ids),
                timestamp_ms=self._now_ms(),
                sender=sender,
                text=request.text,
            )
            shared = encode_frame(message)
            own = (
                encode_frame(attrs.evolve(message, ref=request.ref))
                if request.ref
                else shared
            )
            self._delivered(member, request.ref)
            if in_batch():
                self._queued.append((member, shared, own))
                return
            self._flush_queued()  # another reader's batch goes first
            for other in self._members.values():
                other.deliver(own if other is member else shared)

    def direct(self, member: Member, request: SendDirect) -> None:
        """Deliver to one nick and confirm to the sender.

        Raises:
            Refusal: nobody has that nick.
        """
        with self._lock:
            sender = self._registered_nick(member)
            if sender is None:
                return
            self._send_pending()
            if self._store is not None:
                self._record(member, sender, request.target, request.text, request.ref)
                return
            target = self._members.get(nick_key(request.target))
            if target is None or target.nick is None:
                text = f"no such user: {request.target}"
                raise Refusal(ErrorCode.UNKNOWN_USER, text, request.ref)
            message = Delivered(
                id=next(self._ids),
                timestamp_ms=self._now_ms(),
                sender=sender,
                target=target.nick,
                text=request.text,
            )
            if target is not member:
                target.deliver(encode_frame(message))
            member.deliver(encode_frame(attrs.evolve(message, ref=request.ref)))
            self._delivered(member, request.ref)

    def list_cost(self) -> int:
        """Rate-limit tokens a ListUsers costs now: one per UserList frame (spec 5.7)."""
        return self._members.list_cost()

    def list_users(self, member: Member) -> None:
        """Send the online nicks to `member` in chunks of at most 200.

        Pending join and leave notices go first, so the list never holds a
        nick whose UserJoined arrives after it.
        """
        with self._lock:
            if self._registered_nick(member) is None:
                return
            self._send_pending()
            self._send_answer(member, self._members.user_list(), roster=True)

    def change_nick(self, member: Member, request: ChangeNick) -> str | None:
        """Rename `member` and tell everyone.

        Returns:
            The old nick; None if `member` is no longer registered.

        Raises:
            Refusal: the new nick is invalid, unchanged or taken.
        """
        try:
            new = normalize_nick(request.nick)
        except InvalidNick as exc:
            raise Refusal(ErrorCode.INVALID_NICK, str(exc), request.ref) from exc
        with self._lock:
            old = self._registered_nick(member)
            if old is None:
                return None
            if new == old:
                text = f"you are already called {old}"
                raise Refusal(ErrorCode.INVALID_NICK, text, request.ref)
            old_key, new_key = nick_key(old), nick_key(new)
            holder = self._members.get(new_key)
            if holder is not None and holder is not member:
                text = f"the nickname {new} is taken"
                raise Refusal(ErrorCode.NICK_IN_USE, text, request.ref)
            session = member.session
            if session is not None and session.account is not None:
                text = "a logged-in nick is its account's name and cannot change"
                raise Refusal(ErrorCode.NOT_PERMITTED, text, request.ref)
            if old_key != new_key and self._owns(new):
                text = f"the nickname {new} belongs to an account"
                raise Refusal(ErrorCode.NICK_IN_USE, text, request.ref)
            self._send_pending()
            member.nick = new
            if old_key == new_key:
                self._members.respelled(old_key)
            else:
                self._members.remove(old_key)
                self._members.add(new_key, member)
            self._to_everyone(encode_frame(NickChanged(old=old, new=new)), member)
        return old

    def flush_presence(self) -> None:
        """Send the join and leave notices gathered since the last call."""
        with self._lock:
            self._send_pending()

    def has_queued(self) -> bool:
        """Whether batched messages wait (a hint: read without the lock)."""
        return bool(self._queued)

    def flush_broadcasts(self) -> None:
        """Send the messages queued by this thread's batch (at its end)."""
        with self._lock:
            self._flush_queued()

    # --- stored history (spec 12.4) ------------------------------------------

    def post(self, member: Member, request: Post) -> None:
        """A message with a transaction id: stored once, however often it comes.

        A repeat of a recent id is answered from memory; an older one (from
        before a restart, say) is found when the store refuses it as a
        duplicate, and confirmed then (`history.Recorder`). No read per Post.

        Raises:
            Refusal: unknown target, or the id belongs to someone else.
        """
        with self._lock:
            sender = self._registered_nick(member)
            if sender is None or self._repeated(member, request):
                return
            self._send_pending()
            self._record(
                member,
                sender,
                request.target,
                request.text,
                request.ref,
                txn=request.txn,
            )

    def fetch_history(self, member: Member, request: FetchHistory) -> None:
        """Answer a FetchHistory from the store (spec 12.4)."""
        store = self._store
        assert store is not None  # noqa: S101 - `history` is offered only with one
        with self._lock:
            if self._registered_nick(member) is None:
                return
            viewer = self._viewer(member, request.conversation, request.ref)
            join_point = self._join_points.get(id(member), self._fanout.published)
            if self.rooms is not None and viewer.only in viewer.rooms:
                room = self.rooms.by_key(viewer.only)
                if room is not None:
                    join_point = room.entered.get(id(member), join_point)
        try:
            data = history.fetch(store, viewer, request, join_point)
        except StoreError as error:
            log.error("history read failed: %s", error)
            text = "the server could not read its history"
            raise Refusal(ErrorCode.INTERNAL_ERROR, text, request.ref) from None
        self.reply(member, data)

    def search(self, member: Member, request: Search) -> None:
        """Answer a Search from the store (spec 12.4)."""
        store = self._store
        assert store is not None  # noqa: S101 - `history` is offered only with one
        with self._lock:
            if self._registered_nick(member) is None:
                return
            viewer = self._viewer(member, request.conversation, request.ref)
        try:
            data = history.search(store, viewer, request)
        except StoreError as error:
            log.error("search failed: %s", error)
            text = "the server could not search its history"
            raise Refusal(ErrorCode.INTERNAL_ERROR, text, request.ref) from None
        self.reply(member, data)

    def deliver_offline(self, member: Member, *, recalled: bool) -> None:
        """Send a just-logged-in account the direct messages kept for it.

        As Recalled frames closed by HistoryEnd(ref 0) to a client with
        `history`, as plain Delivered frames to any other.
        """
        store = self._store
        with self._lock:
            session = member.session
            if store is None or session is None or session.account is None:
                return
            party = self._party(member)
        try:
            kept = store.take_offline(party)
        except StoreError as error:
            log.error("offline messages could not be read: %s", error)
            return
        if not kept and not recalled:
            return
        if recalled:
            data = b"".join(encode_frame(history.recalled(m, 0)) for m in kept)
            data += encode_frame(HistoryEnd(ref=0, count=len(kept), more=False))
        else:
            data = b"".join(encode_frame(history.delivered(m)) for m in kept)
        self.reply(member, data)

    # --- rooms, typing, away (spec 12.5, 12.6) -----------------------------

    def join_room(self, member: Member, request: JoinRoom) -> None:
        rooms = self._rooms_on
        with self._lock:
            if self._registered_nick(member) is None:
                return
            out = rooms.join(
                member,
                self._party(member),
                request.room,
                ref=request.ref,
                admin=member.is_admin,
                published=self._fanout.published,
            )
            self._send_out(out, member)

    def part_room(self, member: Member, request: PartRoom) -> None:
        rooms = self._rooms_on
        with self._lock:
            if self._registered_nick(member) is None:
                return
            out = rooms.part(
                member,
                self._party(member),
                request.room,
                ref=request.ref,
                reason=request.reason,
            )
            self._send_out(out, member)

    def list_rooms(self, member: Member, request: ListRooms) -> None:
        rooms = self._rooms_on
        with self._lock:
            data = rooms.listing(
                member, ref=request.ref, lobby_online=len(self._members)
            )
            self._send_answer(member, data)

    def list_members(self, member: Member, request: ListMembers) -> None:
        rooms = self._rooms_on
        with self._lock:
            if room_key_or_none(request.room) == LOBBY_KEY:
                self._send_pending()
                self._send_answer(member, self._members.user_list(), roster=True)
                return
            data = rooms.members(member, request.room, ref=request.ref)
            self._send_answer(member, data, roster=True)

    def room_action(self, member: Member, request: RoomAction) -> None:
        rooms = self._rooms_on
        with self._lock:
            if self._registered_nick(member) is None:
                return
            done, out = rooms.act(
                member,
                self._party(member),
                request,
                admin=member.is_admin,
                find=self._find_party,
                lobby_members=list(self._members.values()),
            )
            self._send_answer(
                member, encode_frame(Moderated(ref=request.ref, text=done))
            )
            self._send_out(out, member)

    def typing(self, member: Member, request: Typing) -> None:
        """Pass a typing notice on (spec 12.6); nothing if it goes nowhere."""
        with self._lock:
            nick = self._registered_nick(member)
            if nick is None:
                return
            recipients: list[Member] = []
            conversation = request.conversation
            if is_room(conversation):
                key = room_key_or_none(conversation)
                if key == LOBBY_KEY:
                    recipients = list(self._members.values())
                    conversation = LOBBY
                elif self.rooms is not None and key is not None:
                    room = self.rooms.by_key(key)
                    if room is None or id(member) not in room.online:
                        return
                    recipients = list(room.online.values())  # type: ignore[arg-type]
                    conversation = room.name
            else:
                target = self._members.get(nick_key(conversation))
                if target is None:
                    return
                recipients = [target]
                conversation = nick
            data = encode_frame(
                TypingNotice(
                    conversation=conversation, nick=nick, active=request.active
                )
            )
            self._send_out(
                (
                    (other, data)
                    for other in recipients
                    if other is not member and CAP_TYPING in other.capabilities
                ),
                member,
                roster=False,
            )

    def set_away(self, member: Member, request: SetAway) -> None:
        """Mark `member` away, or back, and tell who wants to know (spec 12.6)."""
        with self._lock:
            nick = self._registered_nick(member)
            if nick is None:
                return
            if request.text:
                self._away[id(member)] = request.text
            elif self._away.pop(id(member), None) is None:
                return
            self._announce_away(member, nick, request.text)

    def reply(self, member: Member, data: bytes) -> None:
        """Answer `member` after whatever it sent before is published."""
        with self._lock:
            self._send_answer(member, data)

    def after_pending(self, member: Member, send: Callable[[], object]) -> None:
        """Run `send` after `member`'s messages waiting to be stored are published."""
        with self._lock:
            self._later(send, (self._lane(member),))

    @property
    def ordering(self) -> bool:
        """Whether replies may have to queue behind unpublished messages (a hint)."""
        return bool(self._queue)

    def take_steps(self, timeout: float) -> list[Step]:
        """For the recorder: wait for steps and take them (records counted in flight).

        DMs to an account are marked offline here, just before they are
        committed, when none of the account's connections is online.
        """
        with self._lock:
            if not len(self._queue):
                self._work.wait(timeout)
                if not len(self._queue):
                    return []
            steps: list[Step] = self._queue.take()  # type: ignore[assignment]
            for step in steps:
                if isinstance(step, Record):
                    stored = step.stored
                    offline = (
                        stored.target_party is not None
                        and is_account_party(stored.target_party)
                        and self._holder_of_party(step.target_key, stored.target_party)
                        is None
                    )
                    step.stored = attrs.evolve(
                        stored, id=next(self._ids), offline=offline
                    )
            return steps

    def took_express(self) -> bool:
        """For the recorder: whether the batch it took last is an express one."""
        with self._lock:
            return self._queue.express

    def wake_recorder(self) -> None:
        """Make a recorder waiting in `take_steps` look again (it is stopping)."""
        with self._lock:
            self._work.notify_all()

    def publish(self, steps: list[Step], stored: bool) -> None:
        """For the recorder: fan out `steps` in order (records only if `stored`).

        The frames go into the outboxes under the lock, in order; the sends
        happen once it is released (`batched`), so readers admitting new
        messages never wait on the sockets of this batch's recipients.
        """
        with batched(), self._lock:
            unheld: list[int] = []
            try:
                group: list[Record] = []
                for step in steps:
                    if isinstance(step, Record):
                        group.append(step)
                        continue
                    unheld += self._fanout.publish(group, stored)
                    group = []
                    step()
                unheld += self._fanout.publish(group, stored)
            finally:
                self._queue.done()
                if unheld:
                    self._keep_offline(unheld)

    def _claim_offline(self, message_id: int) -> bool:
        """Whether a direct message stored as offline is still waiting (and
        now given live); a store error gives it live (twice at worst)."""
        store = self._store
        if store is None:
            return True
        try:
            return store.claim_offline(message_id)
        except StoreError as error:
            log.error("a kept direct message could not be claimed: %s", error)
            return True

    def _keep_offline(self, ids: list[int]) -> None:
        """Direct messages whose account left after `take_steps` found it
        online: kept for its next login after all. Under the lock, so that
        login cannot take the kept messages before these are among them."""
        store = self._store
        if store is None:
            return
        try:
            store.keep_offline(ids)
        except StoreError as error:
            log.error("%d direct messages could not be kept: %s", len(ids), error)

    def _capabilities(self, hello: Hello, identify: Identify | None) -> tuple[str, ...]:
        if hello.version < MIN_PROTOCOL_VERSION:
            text = f"protocol version {hello.version} is not supported; this server speaks {MIN_PROTOCOL_VERSION}-{PROTOCOL_VERSION}"
            raise Refusal(ErrorCode.UNSUPPORTED_VERSION, text, fatal=True)
        capabilities = enabled_capabilities(
            hello.version, hello.capabilities, self.offered
        )
        if identify is None:
            capabilities = tuple(
                c for c in capabilities if c not in (CAP_SESSION, CAP_ACCOUNTS)
            )
        return capabilities

    # --- with the lock held ---------------------------------------------------

    @property
    def _rooms_on(self) -> RoomDirectory:
        """The rooms, for a request only a member with `rooms` can make (the
        peer checks the capability)."""
        rooms = self.rooms
        assert rooms is not None  # noqa: S101 - `rooms` is offered only with them
        return rooms

    def _viewer(
        self, member: Member, conversation: str | None, ref: int
    ) -> history.Viewer:
        """Who asks for history, and about which conversation.

        Raises:
            Refusal: `conversation` is neither a room name nor a nickname.
        """
        party = self._party(member)
        rooms = tuple(self.rooms.keys_of(party)) if self.rooms is not None else ()
        try:
            only = history.conversation_filter(conversation)
        except (InvalidRoom, InvalidNick) as exc:
            raise Refusal(ErrorCode.INVALID_FIELD, str(exc), ref) from None
        if only == LOBBY_KEY:
            only = LOBBY
        return history.Viewer(party=party, rooms=rooms, only=only)

    def _find_party(self, nick: str) -> tuple[Member | None, str | None]:
        """The online holder of `nick` and its party; or None and the party
        of the account that owns it; or (None, None)."""
        holder = self._members.get(nick_key(nick))
        if holder is not None:
            return holder, self._party(holder)
        if self._owns(nick):
            return None, account_party(nick_key(nick))
        return None, None

    def _send_out(
        self,
        out: Iterable[tuple[object, bytes]],
        member: Member,
        *,
        roster: bool = True,
    ) -> None:
        """Send `out` after `member`'s pending messages (and, for news of who
        is where, after the pending roster notices)."""
        pairs = list(out)
        if not pairs:
            return

        def send() -> None:
            for who, data in pairs:
                who.deliver(data)  # type: ignore[attr-defined]

        lanes = (self._lane(member), ROSTER) if roster else (self._lane(member),)
        self._later(send, lanes, len(pairs))

    def _settle_in(self, member: Member, displaced: Member | None) -> None:
        """After Welcome: rooms (spec 12.5), then who is away (12.6)."""
        rooms = self.rooms
        if rooms is not None:
            if displaced is not None:
                rooms.take_over(displaced, member)
                if id(displaced) in self._away:
                    self._away[id(member)] = self._away.pop(id(displaced))
            if CAP_ROOMS in member.capabilities:
                party = self._party(member)
                session = member.session
                if session is not None and session.rooms and session.account is None:
                    out = rooms.return_guest(
                        member, party, session.rooms, published=self._fanout.published
                    )
                    session.rooms = ()
                else:
                    out = rooms.restore(member, party, published=self._fanout.published)
                own = b"".join(data for who, data in out if who is member)
                if own:
                    member.deliver(own)
                self._send_out(
                    ((who, data) for who, data in out if who is not member), member
                )
        if CAP_AWAY in member.capabilities and self._away:
            data = b"".join(
                encode_frame(AwayChanged(nick=other.nick, text=self._away[id(other)]))
                for other in self._members.values()
                if id(other) in self._away and other.nick is not None
            )
            if data:
                member.deliver(data)

    def _leave_rooms(self, member: Member, nick: str) -> None:
        if self.rooms is not None:
            session = member.session
            guest = session is None or session.account is None
            kept = self.rooms.offline(member, self._party(member), guest=guest)
            if session is not None and guest:
                session.rooms = tuple(kept)
        if self._away.pop(id(member), None) is not None:
            self._announce_away(member, nick, "")

    def _announce_away(self, member: Member, nick: str, text: str) -> None:
        data = encode_frame(AwayChanged(nick=nick, text=text))
        self._send_out(
            (
                (other, data)
                for other in self._members.values()
                if CAP_AWAY in other.capabilities
            ),
            member,
        )

    def _later(
        self,
        send: Callable[[], object],
        lanes: Iterable[Lane] | None = None,
        cost: int = 1,
    ) -> None:
        """Send now, or after the waiting steps it must follow (`StepQueue`).

        Args:
            send: what to do.
            lanes: the orderings it belongs to; None for after everything
                waiting (a barrier).
            cost: about how many deliveries it makes (batch sizing).
        """
        if self._queue.busy(lanes):
            self._queue.add(send, lanes, cost)
            self._work.notify()
        else:
            send()

    def _send_answer(
        self, member: Member, data: bytes, *, roster: bool = False
    ) -> None:
        """Send `member` an answer after its own pending messages (and, for a
        list of who is where, after the pending roster notices)."""
        lanes = (self._lane(member), ROSTER) if roster else (self._lane(member),)
        self._later(lambda: member.deliver(data), lanes, _cost_of(data))

    def _lane(self, member: Member) -> Lane:
        """A connection's own ordering: its session's, so a client that
        reconnected stays behind what it sent before."""
        session = member.session
        return id(session) if session is not None else id(member)

    def _to_everyone(self, data: bytes, about: Member) -> None:
        def send() -> None:
            for other in self._members.values():
                other.deliver(data)

        self._later(send, (self._lane(about), ROSTER), len(self._members))

    def _party(self, member: Member) -> str:
        """Whose eyes `member`'s stored direct messages are for (spec 12.4)."""
        session = member.session
        if session is None:
            return history.NOBODY
        if session.account is not None:
            return account_party(nick_key(session.account))
        return session.party

    def _room_members(self, key: str) -> Collection[Member]:
        room = None if self.rooms is None else self.rooms.by_key(key)
        return room.online.values() if room is not None else ()  # type: ignore[return-value]

    def _holder_of_party(self, key: str | None, party: str) -> Member | None:
        """The registered member under nick `key`, if it is `party` and is not
        closing (a direct message given to a closing connection is lost, one
        to an offline account is kept)."""
        holder = None if key is None else self._members.get(key)
        if holder is None or holder.closing or self._party(holder) != party:
            return None
        return holder

    def _current(self, member: Member) -> Member | None:
        """`member`, or the connection that took its session over, if registered."""
        if self._registered_nick(member) is not None:
            return member
        session = member.session
        if session is None or session.holder is None:
            return None
        holder: Member = session.holder  # type: ignore[assignment]
        return holder if self._registered_nick(holder) is not None else None

    def _repeated(self, member: Member, request: Post) -> bool:
        """Handle a transaction id seen before; False if it is new.

        Raises:
            Refusal: the id was used by another account.
        """
        known = self._fanout.txns.get(request.txn)
        if known is None:
            return False
        self._fanout.txns.move_to_end(request.txn)
        stored = known.stored if isinstance(known, Record) else known
        if not self._fanout.same_sender(stored, self._party(member)):
            text = "that transaction id was used by someone else"
            raise Refusal(ErrorCode.INVALID_FIELD, text, request.ref)
        self._delivered(member, request.ref)
        if isinstance(known, Record):
            known.waiters.append((member, request.ref))
        else:
            self._send_answer(
                member, encode_frame(history.delivered(known, request.ref))
            )
        return True

    def _record(
        self,
        member: Member,
        sender: str,
        target: str | None,
        text: str,
        ref: int,
        *,
        txn: bytes | None = None,
    ) -> None:
        """Queue a message for the recorder (spec 12.4).

        Raises:
            Refusal: nobody has the target nick and no account owns it.
        """
        target_nick = target_party = target_key = room = None
        if target is not None and is_room(target):
            if room_key_or_none(target) == LOBBY_KEY:
                target = None
            elif self.rooms is None or CAP_ROOMS not in member.capabilities:
                raise Refusal(ErrorCode.UNKNOWN_USER, f"no such user: {target}", ref)
            else:
                found = self.rooms.room_for_post(member, target, ref)
                target, target_nick, room = None, found.name, found.key
        if target is not None:
            target_key = nick_key(target)
            holder = self._members.get(target_key)
            if holder is not None and holder.nick is not None:
                target_nick, target_party = holder.nick, self._party(holder)
            elif self._owns(target):
                target_nick = target
                target_party = account_party(target_key)
            else:
                text = f"no such user: {target}"
                raise Refusal(ErrorCode.UNKNOWN_USER, text, ref)
        stored = StoredMessage(
            id=0,  # given when the recorder takes it, in publishing order
            timestamp_ms=self._now_ms(),
            sender=sender,
            sender_party=self._party(member),
            target=target_nick,
            target_party=target_party,
            text=text,
            txn=txn,
            room=room,
            sender_key=nick_key(sender),
            target_key=target_key,
        )
        record = Record(stored, member, ref, target_key)
        if txn is not None:
            self._fanout.txns[txn] = record
        if room is not None:
            cost = len(self._room_members(room))
        else:
            cost = 2 if target_party is not None else len(self._members)
        if self._queue.add(record, (self._lane(member),), cost):
            self._on_quiet_message()
        self._delivered(member, ref)
        self._work.notify()

    def _start_session(
        self,
        member: Member,
        session: Session | None,
        token: bytes,
        account: str | None,
        *,
        resumed: bool,
    ) -> bytes:
        """Give `member` its session (found or new); the SessionToken frame."""
        if session is None:
            session, token = self.sessions.create(token or None)
        if account is not None:
            session.account = account
        member.session = session
        self.sessions.attach(session, member)
        return encode_frame(
            SessionToken(
                token=token,
                account=session.account,
                resumed=resumed,
                last_ref=session.last_ref,
            )
        )

    def _find_session(self, identify: Identify | None) -> tuple[Session | None, bytes]:
        if identify is None or not identify.token:
            return None, b""
        session = self.sessions.find(identify.token)
        return session, identify.token if session is not None else b""

    def _live_holder(self, session: Session | None) -> Member | None:
        """The registered connection holding `session`, if there is one."""
        if session is None or session.holder is None:
            return None
        holder: Member = session.holder  # type: ignore[assignment]
        return holder if self._registered_nick(holder) is not None else None

    def _owner_arrives(
        self, login: Login, session: Session | None
    ) -> tuple[Member | None, Session | None]:
        """An account logs in: take its own earlier connection's place, or
        rename the guest who holds its nick (spec 12.3)."""
        holder = self._members.get(nick_key(login.name))
        if holder is None:
            return None, session
        if holder.session is not None and holder.session.account == login.name:
            self.sessions.rename(holder.session, login.token)
            return holder, holder.session
        old = holder.nick
        assert old is not None  # noqa: S101 - registered members have one
        new = self._members.unique(old, taken=self._owns)
        self._send_pending()
        self._members.remove(nick_key(old))
        holder.nick = new
        self._members.add(nick_key(new), holder)
        self._to_everyone(encode_frame(NickChanged(old=old, new=new)), holder)
        log.info("guest %s renamed to %s: its owner logged in", old, new)
        return None, session

    def _take_over(self, displaced: Member, member: Member) -> str:
        """`member` gets `displaced`'s place: same nick, same list position."""
        nick = displaced.nick
        assert nick is not None  # noqa: S101 - registered members have one
        self._members.replace(nick_key(nick), member)
        member.nick = nick
        self._newcomers.pop(id(displaced), None)
        return nick

    def _delivered(self, member: Member, ref: int) -> None:
        session = member.session
        if session is not None and ref > session.last_ref:
            session.last_ref = ref

    def _send_pending(self) -> None:
        """Queued messages, then gathered notices: everything in hub order."""
        self._flush_queued()
        self._send_presence()

    def _flush_queued(self) -> None:
        """Each member gets the queued messages in one write; senders their own copies."""
        if not self._queued:
            return
        queued, self._queued = self._queued, []
        senders = {id(sender) for sender, _, _ in queued}
        everything = b"".join(shared for _, shared, _ in queued)
        for member in self._members.values():
            if id(member) not in senders:
                member.deliver(everything)
                continue
            member.deliver(
                b"".join(own if s is member else shared for s, shared, own in queued)
            )

    def _send_presence(self) -> None:
        """Everyone gets the pending notices, bar those about themselves.

        Behind messages not yet published, they wait their turn (nobody
        hears of a leave before the last words of who left).
        """
        if not self._presence:
            return
        pending, self._presence = self._presence, []
        newcomers, self._newcomers = self._newcomers, {}
        lanes = {ROSTER, *(self._lane(who) for who, _ in pending)}
        self._later(
            lambda: self._deliver_presence(pending, newcomers),
            lanes,
            len(self._members),
        )

    def _deliver_presence(
        self, pending: list[tuple[Member, bytes]], newcomers: dict[int, int]
    ) -> None:
        everything = b"".join(data for _, data in pending)
        # Where each notice starts in `everything`: a newcomer's news is a
        # slice (a thousand arriving at once made joining them per member
        # quadratic). The only notice about a registered member in `pending`
        # is its own join, right at its `start` (a leave unregisters it).
        offsets = list(itertools.accumulate((len(d) for _, d in pending), initial=0))
        with batched():
            for member in self._members.values():
                start = newcomers.get(id(member))
                if start is None:
                    member.deliver(everything)
                    continue
                if start < len(pending) and pending[start][0] is member:
                    start += 1  # its own join: it knows
                if start < len(pending):
                    member.deliver(everything[offsets[start] :])

    def _registered_nick(self, member: Member) -> str | None:
        """`member`'s nick if it is the one registered under it, else None."""
        return self._members.registered_nick(member)

    def _now_ms(self) -> int:
        return int(self._wall_clock() * 1000)


room_key_or_none = key_of


SEND_COST = 256
"""What one `send` of a reply weighs in a batch, in deliveries: a batch of
broadcasts shares one send per recipient among all its messages, while each
reply is a send of its own (measured under the abuse scenario: 0.1-0.2 ms
per send of a broadcast group, 0.5 ms per user list)."""


def _cost_of(data: bytes) -> int:
    """A reply's weight in a batch: its send, and one delivery per 64 bytes."""
    return SEND_COST + len(data) // 64
