"""`Peer`: one client connection, its protocol state and its outbox.

One reader thread (see `server.readers`) owns the peer's `Connection`: it
calls `on_readable` when the socket has data, and `close` once that says the
peer is finished. Other threads reach the peer only through `deliver`
(non-blocking, via the outbox) and `kick` (last words, then our side of the
socket is shut, so the client closes and the reader sees end-of-file).

A peer that is condemned (kicked, or dropped as a slow consumer) stops
costing at once: the rest of what it sent is neither decoded nor handled,
and it leaves the hub right away (`on_condemned` has the housekeeper do it
when the verdict comes from another thread), not when its socket closes.
"""

from __future__ import annotations

import functools
import itertools
import logging
import socket
import ssl
import threading
from collections.abc import Callable

import attrs

from protocol import (
    CAP_ACCOUNTS,
    CAP_AWAY,
    CAP_HISTORY,
    CAP_ROOMS,
    CAP_SESSION,
    CAP_TYPING,
    AccountStatus,
    Bye,
    ChangeNick,
    ChangePassword,
    Connection,
    Error,
    ErrorCode,
    Event,
    FetchHistory,
    Hello,
    Identify,
    JoinRoom,
    ListMembers,
    ListRooms,
    ListUsers,
    Logout,
    Moderate,
    Moderated,
    ModerationAction,
    PartRoom,
    Ping,
    Pong,
    Post,
    Register,
    Rejected,
    RemoteProtocolError,
    Role,
    RoomAction,
    Search,
    SendDirect,
    SendText,
    SetAway,
    State,
    Typing,
    Welcome,
    encode_frame,
)
from protocol.constants import FRAME_HEADER
from server import memory
from server.accounts import Refused, ban_message
from server.addresses import is_loopback
from server.config import ServerConfig
from server.hub import Hub, Refusal, enabled_capabilities
from server.logins import NEEDS_TLS, Login, LoginService, refusal
from server.outbox import Flusher, Outbox, OutboxBudget, Overflow, batched
from server.ratelimit import RATE_JITTER, TokenBucket
from server.sessions import Session
from server.tls import TLS_HANDSHAKE_RECORD, TlsEngine, TlsProtocolError

log = logging.getLogger(__name__)

RECV_SIZE = 65536

FRAMES_PER_TURN = 16
"""The most frames handled from one client in one reader turn.

A read can hold hundreds of frames (a flooder's, a burst of requests); the
ones past this wait, buffered and unread, for the peer's next turn, and
nothing more is read from its socket until they are handled. A turn then
costs about the same whoever is in it, so a message from a quiet client
waits behind a few frames of each busy one, not all of them.
"""

PLAINTEXT_REFUSED = (
    "this server accepts connections from other machines over TLS only; "
    "use a client that speaks TLS"
)
SLOW_CONSUMER_REASON = "slow consumer"
SLOW_CONSUMER_TEXT = "you did not read what the server sent fast enough"

TYPING_INTERVAL = 1.0
"""Seconds between two Typing frames passed on from one connection (spec 12.6)."""


@functools.lru_cache(maxsize=64)
def last_words(code: ErrorCode | None, text: str, reason: str | None = None) -> bytes:
    """An Error (if `code`) followed by a Bye, ready to send as a goodbye.

    Cached: every peer holds the same slow-consumer goodbye, and kicks
    repeat a few reasons.

    Args:
        code: the Error's code; None sends the Bye alone.
        text: the Error's text, and the Bye's reason unless `reason` is given.
        reason: the Bye's reason.
    """
    parts = [] if code is None else [encode_frame(Error(code=code, text=text))]
    parts.append(encode_frame(Bye(reason=text if reason is None else reason)))
    return b"".join(parts)


def _one_frame(data: bytes) -> bool:
    """Whether `data` looks like exactly one frame.

    A guess that only picks a path (both handle any chunk correctly): a
    chunk that continues a frame begun in an earlier one reads as a header.
    """
    if len(data) < FRAME_HEADER.size:
        return True
    size: int = FRAME_HEADER.unpack_from(data)[0]
    return FRAME_HEADER.size + size >= len(data)


class Peer:
    """One connected client.

    Args:
        sock: the accepted socket (blocking).
        address: the client's address, for logs.
        hub: where requests go.
        config: limits and timeouts.
        flusher: finishes partial sends.
        budget: the bound on all outboxes together.
        clock: monotonic seconds (injected for tests).
        on_closed: called from the reader thread once the peer is gone.
        on_condemned: called once when the peer is kicked or dropped, from
            whichever thread decided it; the peer must then `leave_hub` soon.
        on_flood: called when the peer is kicked for flooding.
        address_key: what the per-address limit counted it under.
        logins: accounts (spec 12.3); None for a server without them.
        host: the client's IP address (throttling and bans go by it).
        tls_context: the server's current TLS context, None without TLS.
        plaintext_allowed: this client may skip TLS (loopback, or the
            server allows plaintext from anywhere).
    """

    def __init__(
        self,
        sock: socket.socket,
        address: str,
        *,
        hub: Hub,
        config: ServerConfig,
        flusher: Flusher,
        budget: OutboxBudget | None,
        clock: Callable[[], float],
        on_closed: Callable[[Peer], None],
        on_condemned: Callable[[Peer], None],
        on_flood: Callable[[Peer], None] = lambda _peer: None,
        address_key: str | None = None,
        tls_context: Callable[[], ssl.SSLContext] | None = None,
        plaintext_allowed: bool = True,
        logins: LoginService | None = None,
        host: str = "",
    ) -> None:
        self.host = host
        self.login: Login | None = None
        self._logins = logins
        # Negotiated: known from Identify on (spec 12.2), final at the join.
        self.capabilities: frozenset[str] = frozenset()
        self._last_typing = float("-inf")
        self._loopback = is_loopback(host)
        # Runs a function on this peer's reader thread; the reader sets it.
        self.post: Callable[[Callable[[], object]], object] = lambda function: (
            function()
        )
        self.nick: str | None = None
        self.session: Session | None = None
        self.label = address
        self.address_key = address_key
        self.sock = sock
        self._hub = hub
        self._config = config
        self._clock = clock
        self._on_closed = on_closed
        self._on_condemned = on_condemned
        self._on_flood = on_flood
        self._tls_context = tls_context
        self._plaintext_allowed = plaintext_allowed
        # Decided by the first byte the client sends: TLS or plaintext.
        self._secure: bool | None = None
        self._conn = Connection(Role.SERVER, max_frame_size=config.max_frame_size)
        self.outbox = Outbox(
            sock,
            config.outbox_size,
            flusher,
            budget=budget,
            on_overflow=self._too_slow,
            goodbye=last_words(
                ErrorCode.SLOW_CONSUMER, SLOW_CONSUMER_TEXT, SLOW_CONSUMER_REASON
            ),
        )
        # The hub calls this once per recipient per message: make it the
        # outbox's own method, with no extra call in between.
        self.deliver = self.outbox.put
        now = clock()
        self.connected_at = now
        self.last_heard = now
        self.pinged = False
        self.appetite = 0
        """How many frames the last read held: readers serve small eaters first."""
        self.finish_deadline: float | None = None
        self._bucket = TokenBucket(
            config.rate_burst, config.effective_rate, now, RATE_JITTER
        )
        self._over_limit = 0
        self._waiting_hello: Hello | None = None
        # A recv that filled the buffer left more behind: that data has been
        # waiting at least as long as this one's (see `on_readable`).
        self._backlog_since: float | None = None
        self._leave_reason: str | None = None
        self._state_lock = threading.Lock()
        self._condemned = False
        self._left = False

    @property
    def is_admin(self) -> bool:
        return self.login is not None and self.login.admin

    @property
    def joined(self) -> bool:
        return self.nick is not None

    @property
    def left(self) -> bool:
        """True once `leave_hub` ran: the hub will not register this peer again."""
        return self._left

    @property
    def closing(self) -> bool:
        """Condemned (its last words are going out) or left the hub."""
        return self._condemned or self._left

    # --- called from any thread ------------------------------------------

    def _too_slow(self, why: Overflow) -> None:
        log.warning(
            "slow consumer %s (%s) dropped: %s", self.nick or "-", self.label, why.value
        )
        self._set_reason(SLOW_CONSUMER_REASON)
        self._condemn()

    def welcome(self, message: Welcome, after: bytes) -> None:
        self.deliver(self._conn.send(message) + after)

    def kick(self, code: ErrorCode | None, text: str) -> None:
        """Say why (best effort) and close this connection; never blocks."""
        self._set_reason(text)
        words = last_words(code, text)
        if self._hub.ordering:
            # Behind the confirmations and answers still waiting to be stored.
            self._hub.after_pending(self, lambda: self.outbox.finish(words))
        else:
            self.outbox.finish(words)
        self._condemn()

    def ping(self) -> None:
        self.pinged = True
        self.deliver(encode_frame(Ping(payload=b"chinwag")))

    def leave_hub(self) -> None:
        """Give up the nick now and have the others told (any thread, once).

        `left` turns true before the hub is called, so a join racing with
        this either registers first (and is undone here) or is refused.
        """
        with self._state_lock:
            if self._left:
                return
            self._left = True
            reason = self._leave_reason or "connection closed"
        self._hub.leave(self, reason)

    def _condemn(self) -> None:
        with self._state_lock:
            if self._condemned:
                return
            self._condemned = True
        self.finish_deadline = self._clock() + self._config.close_grace
        self._on_condemned(self)

    def _set_reason(self, reason: str) -> None:
        with self._state_lock:
            if self._leave_reason is None:
                self._leave_reason = reason

    # --- the reader thread (see server.readers) --------------------------------

    def on_readable(self, caught_up: float) -> bool:
        """Handle what the socket has (reader thread); True once finished.

        Args:
            caught_up: when the reader last had nothing left to read; what
                arrives now may have waited since then (see `server.readers`).

        Never raises: a protocol error or a bug kicks this peer only.
        """
        try:
            return self._read_once(caught_up)
        except RemoteProtocolError as exc:
            log.warning(
                "protocol error from %s (%s): %s", self.nick or "-", self.label, exc
            )
            self._set_reason("protocol error")
            self.kick(exc.error_code, str(exc))
        except Exception:
            log.exception(
                "unexpected error serving %s (%s)", self.nick or "-", self.label
            )
            self._set_reason("server error")
            self.kick(ErrorCode.INTERNAL_ERROR, "internal server error")
        self.leave_hub()
        return False

    @property
    def backlogged(self) -> bool:
        """Frames read in an earlier turn wait to be handled (`FRAMES_PER_TURN`)."""
        return self._conn.frames_waiting and not self._done()

    def _read_once(self, caught_up: float) -> bool:
        held_over = self.backlogged
        if held_over:
            data = b""  # the frames an earlier turn left come before any new read
        else:
            received = self._receive()
            if isinstance(received, bool):
                return received
            data = received
        now = self._clock()
        if data:
            self.last_heard = now
            self.pinged = False
        since = caught_up
        if self._backlog_since is not None and self._backlog_since < since:
            since = self._backlog_since
        self._bucket.refill(now, now - since)
        filled = len(data) == RECV_SIZE
        if data:
            data = self._unwrap(data)
        if data or held_over:
            self._handle_chunk(data)
        self._backlog_since = since if filled or self.backlogged else None
        if self._said_bye():
            return True
        if self._discarding():
            self.leave_hub()  # condemned: tell the others now, then linger
        return False

    def _receive(self) -> bytes | bool:
        """What the socket holds, or nothing to handle: True once finished."""
        try:
            data = self.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._set_reason(f"connection error: {exc.strerror or exc}")
            return True
        if not data:
            self._set_reason("connection closed")
            if not self._discarding():
                self._conn.receive_eof()
            return True
        if self._discarding():
            # Condemned: discard until the client closes. Closing with unread
            # input would send RST, which can destroy the last words in flight.
            return False
        return data

    def _discarding(self) -> bool:
        """Condemned (its last words may still wait behind stored messages)."""
        return self._condemned or self.outbox.is_finishing()

    def _unwrap(self, data: bytes) -> bytes:
        """The plaintext in what arrived: TLS or not is decided by the first byte.

        A TLS ClientHello starts with 0x16, a plain frame with 0x00 (frames
        are at most 64 KiB); both share the port (docs/server.md).
        """
        if self._secure is None:
            self._secure = (
                self._tls_context is not None and data[0] == TLS_HANDSHAKE_RECORD
            )
            if self._secure:
                assert self._tls_context is not None  # noqa: S101 - checked above
                self.outbox.start_tls(TlsEngine(self._tls_context()))
            elif not self._plaintext_allowed:
                log.info("refused plaintext from %s", self.label)
                self._set_reason("plaintext refused")
                self.kick(ErrorCode.UNSUPPORTED_VERSION, PLAINTEXT_REFUSED)
                return b""
        if not self._secure:
            return data
        try:
            return self.outbox.tls_receive(data)
        except TlsProtocolError as exc:
            log.info("TLS failed with %s: %s", self.label, exc)
            self._set_reason("TLS error")
            self.kick(None, "TLS error")
            return b""

    def _handle_chunk(self, data: bytes) -> None:
        """Handle the frames `data` completes, up to `FRAMES_PER_TURN` of them.

        Frames past that, or past one that condemns the peer, stay buffered.

        A chunk that is one frame (ordinary chat) is handled at once: its
        broadcast is written to each recipient straight away, the cheapest
        path. A chunk of several frames is one batch: the hub only queues
        under its lock, and each recipient gets the batch's messages as one
        write after the lock is released. A burst (a fast talker, a
        flooder's admitted frames) then costs one send per recipient, not
        one per frame, and nobody waits on the hub while those sends happen.
        """
        events = self._conn.receive_data(data)
        try:
            if data and _one_frame(data):
                self.appetite = 1
                for event in itertools.islice(events, FRAMES_PER_TURN):
                    self._take(event)
                    if self._done():
                        return
                return
            with batched():
                self.appetite = 0
                try:
                    for event in itertools.islice(events, FRAMES_PER_TURN):
                        self.appetite += 1
                        self._take(event)
                        if self._done():
                            break  # the rest is not even decoded
                finally:
                    if self._hub.has_queued():
                        self._hub.flush_broadcasts()
        finally:
            events.close()  # frames not reached stay buffered for the next turn

    def _done(self) -> bool:
        """Condemned, or the client said Bye: nothing more it sent matters."""
        return self._discarding() or self._conn.state is State.CLOSED

    def _said_bye(self) -> bool:
        return self._conn.state is State.CLOSED

    def _take(self, event: Event) -> None:
        if self._admit(event):
            self._handle(event)

    def _admit(self, event: Event) -> bool:
        """Apply the flood limit to one incoming frame.

        A refused request with a ref is answered, so the client can tell its
        user which message did not go; others only on the first refusal.
        """
        if isinstance(event, Bye):
            return True  # leaving is never refused: it ends the flood too
        cost = self._hub.list_cost() if isinstance(event, ListUsers) else 1
        if self._bucket.take(cost):
            self._over_limit = 0
            return True
        self._over_limit += 1
        ref = getattr(event, "ref", 0)
        if ref or self._over_limit == 1:
            self._send_error(
                ErrorCode.RATE_LIMITED, "you are sending too fast; slow down", ref
            )
        if self._over_limit >= self._config.flood_kick_after:
            log.warning("flood: %s (%s) kicked", self.nick or "-", self.label)
            self._set_reason("flooding")
            self.kick(ErrorCode.RATE_LIMITED, "flooding")
            self._on_flood(self)
        return False

    def _handle(self, event: Event) -> None:
        try:
            self._dispatch(event)
        except Refusal as refusal:
            self._send_error(refusal.code, refusal.text, refusal.ref)
            if refusal.fatal:
                log.info("refused %s: %s", self.label, refusal.text)
                self.kick(None, refusal.text)

    def _dispatch(self, event: Event) -> None:  # noqa: C901, PLR0912 - one arm per message type
        match event:
            case Hello() | Identify():
                self._handshake(event)
            case SendText():
                self._hub.say(self, event)
            case SendDirect():
                self._hub.direct(self, event)
            case ListUsers():
                self._hub.list_users(self)
            case ChangeNick():
                old = self._hub.change_nick(self, event)
                if old is not None:
                    log.info("nick change %s -> %s (%s)", old, self.nick, self.label)
            case Post() | FetchHistory() | Search():
                self._history_request(event)
            case JoinRoom() | PartRoom() | ListRooms() | ListMembers() | RoomAction():
                self._room_request(event)
            case Typing():
                self._typing(event)
            case SetAway():
                if CAP_AWAY in self.capabilities:
                    self._hub.set_away(self, event)
                else:
                    self._send_error(
                        ErrorCode.UNKNOWN_MESSAGE_TYPE,
                        "SetAway needs the away capability",
                    )
            case Register() | ChangePassword() | Logout() | Moderate():
                if self._logins is None or CAP_ACCOUNTS not in self.capabilities:
                    # Capability `accounts` is not offered: refused as a
                    # server that does not know the type would (spec 4, 6).
                    text = f"{type(event).__name__} needs accounts, which this server does not offer"
                    self._send_error(ErrorCode.UNKNOWN_MESSAGE_TYPE, text, event.ref)
                else:
                    self._account_request(event, self._logins)
            case Ping():
                self._reply(self._conn.send(Pong(payload=event.payload)))
            case Pong():
                pass
            case Bye():
                self._set_reason(f"quit: {event.reason}" if event.reason else "quit")
            case Error():
                log.info(
                    "error from %s (%s): %s", self.nick or "-", self.label, event.text
                )
            case Rejected():
                log.info(
                    "refused frame from %s (%s): %s",
                    self.nick or "-",
                    self.label,
                    event.reason,
                )
                self._send_error(event.code, event.reason, event.ref)
            case _:
                # Server-only messages never get here: the state table refuses
                # them. (Only the type is named: a message may hold a secret.)
                msg = f"unhandled {type(event).__name__}"
                raise AssertionError(msg)

    def _history_request(self, event: Post | FetchHistory | Search) -> None:
        if CAP_HISTORY not in self.capabilities:
            # Capability `history` was not agreed: refused as a server that
            # does not know the type would (spec 4, 6).
            text = f"{type(event).__name__} needs the history capability"
            self._send_error(ErrorCode.UNKNOWN_MESSAGE_TYPE, text, event.ref)
            return
        match event:
            case Post():
                self._hub.post(self, event)
            case FetchHistory():
                self._hub.fetch_history(self, event)
            case Search():
                self._hub.search(self, event)

    def _room_request(
        self, event: JoinRoom | PartRoom | ListRooms | ListMembers | RoomAction
    ) -> None:
        if CAP_ROOMS not in self.capabilities:
            text = f"{type(event).__name__} needs the rooms capability"
            self._send_error(ErrorCode.UNKNOWN_MESSAGE_TYPE, text, event.ref)
            return
        match event:
            case JoinRoom():
                self._hub.join_room(self, event)
            case PartRoom():
                self._hub.part_room(self, event)
            case ListRooms():
                self._hub.list_rooms(self, event)
            case ListMembers():
                self._hub.list_members(self, event)
            case RoomAction():
                self._hub.room_action(self, event)

    def _typing(self, event: Typing) -> None:
        """At most one a second is passed on; the rest are dropped (spec 12.6)."""
        if CAP_TYPING not in self.capabilities:
            return
        now = self._clock()
        if now - self._last_typing < TYPING_INTERVAL:
            return
        self._last_typing = now
        self._hub.typing(self, event)

    def _handshake(self, event: Hello | Identify) -> None:
        if isinstance(event, Hello):
            caps = enabled_capabilities(event.version, event.capabilities)
            if CAP_SESSION in caps:
                self._waiting_hello = event  # Identify comes next (spec 12.2)
                return
            self._join(event, None)
            return
        hello = self._waiting_hello
        if hello is None:  # the state table lets Identify through only after Hello
            msg = "Identify without a Hello waiting for it"
            raise AssertionError(msg)
        self._waiting_hello = None
        caps = enabled_capabilities(
            hello.version, hello.capabilities, self._hub.offered
        )
        self.capabilities = frozenset(caps)
        if self._logins is None or CAP_ACCOUNTS not in self.capabilities:
            self._join(hello, event)  # a password is refused there (spec 12.2)
        else:
            self._identify(hello, event, self._logins)

    def _identify(self, hello: Hello, identify: Identify, logins: LoginService) -> None:
        """Log in (password or login token) or go on as a guest (spec 12.3)."""
        if identify.password is not None:
            self._may_send_password()
            logins.by_password(
                hello.nick,
                identify.password,
                self.host,
                self.post,
                lambda result: self._after(
                    lambda: self._logged_in(hello, identify, result)
                ),
            )
            return
        login = None
        if identify.token:
            found = logins.by_token(identify.token, self.host)
            if isinstance(found, Login):
                login = found
            elif self._hub.session_account(identify.token) is not None:
                # An account's session whose token was revoked (a logout,
                # a new password): it must not be resumed. Start afresh.
                identify = attrs.evolve(identify, token=b"")
        self._join(hello, identify, login)

    def _logged_in(
        self, hello: Hello, identify: Identify, result: Login | Refused
    ) -> None:
        if isinstance(result, Refused):
            raise refusal(result, fatal=True)
        self._join(hello, identify, result)

    def _join(
        self, hello: Hello, identify: Identify | None, login: Login | None = None
    ) -> None:
        logins = self._logins
        guest = login is None and not (
            identify is not None
            and identify.token
            and self._hub.knows_session(identify.token)
        )
        if logins is not None and guest:
            self._admit_guest(hello, logins)
        if login is not None:
            self.login = login
        joined = self._hub.join(self, hello, identify, login)
        if login is not None:
            self._hub.deliver_offline(self, recalled=CAP_HISTORY in self.capabilities)
        if joined.resumed:
            log.info("resumed the session of %s on %s", joined.nick, self.label)
        else:
            log.info(
                "joined %s as %s (asked for %r)", self.label, joined.nick, hello.nick
            )

    def _admit_guest(self, hello: Hello, logins: LoginService) -> None:
        accounts_asked = CAP_ACCOUNTS in hello.capabilities and hello.version >= 2
        ban = logins.accounts.active_ban(address=self.host)
        if ban is not None:
            code = ErrorCode.BANNED if accounts_asked else ErrorCode.SERVER_FULL
            raise Refusal(code, ban_message(ban)[:400], fatal=True)
        if logins.require_account:
            if accounts_asked:
                text = "this server admits members only: log in to an account"
                raise Refusal(ErrorCode.ACCOUNT_REQUIRED, text, fatal=True)
            text = (
                "this server admits members only, with a client that supports accounts"
            )
            raise Refusal(ErrorCode.UNSUPPORTED_VERSION, text, fatal=True)

    def _may_send_password(self, ref: int = 0) -> None:
        if not (self._secure or self._loopback):
            raise Refusal(ErrorCode.NOT_PERMITTED, NEEDS_TLS, ref, fatal=ref == 0)

    def _after(self, function: Callable[[], object]) -> None:
        """Finish slow work (a password check) on this reader, unless closed."""
        if self.outbox.is_finishing() or self._conn.state in (
            State.CLOSED,
            State.ERROR,
        ):
            return
        try:
            with batched():
                self._guarded(function)
        except Exception:
            log.exception(
                "unexpected error serving %s (%s)", self.nick or "-", self.label
            )
            self._set_reason("server error")
            self.kick(ErrorCode.INTERNAL_ERROR, "internal server error")

    def _guarded(self, function: Callable[[], object]) -> None:
        try:
            function()
        except Refusal as refused:
            self._send_error(refused.code, refused.text, refused.ref)
            if refused.fatal:
                log.info("refused %s: %s", self.label, refused.text)
                self.kick(None, refused.text)

    def _account_request(
        self, event: Register | ChangePassword | Logout | Moderate, logins: LoginService
    ) -> None:
        """Accounts in OPEN (spec 12.3); slow work answers later, in order."""
        ref = event.ref
        match event:
            case Register():
                if self.login is not None:
                    raise Refusal(
                        ErrorCode.NOT_PERMITTED, "you are logged in already", ref
                    )
                self._may_send_password(ref)
                logins.register(
                    self.nick or "",
                    event.password,
                    event.invite,
                    self.post,
                    lambda result: self._after(
                        lambda: self._account_changed(ref, result)
                    ),
                )
            case ChangePassword():
                login = self._logged_in_as(ref)
                self._may_send_password(ref)
                logins.change_password(
                    login,
                    event.old_password,
                    event.new_password,
                    self.post,
                    lambda result: self._after(
                        lambda: self._account_changed(ref, result)
                    ),
                )
            case Logout():
                logins.logout(self._logged_in_as(ref), everywhere=event.everywhere)
                self.login = None
                self._reply(encode_frame(AccountStatus(ref=ref)))
                self._set_reason("logged out")
                self.kick(None, "logged out")
            case Moderate():
                self._moderate(event, logins)

    def _logged_in_as(self, ref: int) -> Login:
        if self.login is None:
            raise Refusal(ErrorCode.NOT_PERMITTED, "you are not logged in", ref)
        return self.login

    def _account_changed(self, ref: int, result: Login | Refused) -> None:
        if isinstance(result, Refused):
            raise refusal(result, ref=ref)
        self.login = result
        self._hub.logged_in(self, result)
        self._reply(
            encode_frame(
                AccountStatus(
                    ref=ref, account=result.name, admin=result.admin, token=result.token
                )
            )
        )

    def _moderate(self, event: Moderate, logins: LoginService) -> None:
        def address_of(nick: str) -> str | None:
            member = self._hub.member(nick)
            return getattr(member, "host", None) or None

        done = logins.moderate(
            self.login,
            action=event.action,
            target=event.target,
            reason=event.reason,
            minutes=event.minutes,
            address_of=address_of,
        )
        if isinstance(done, Refused):
            raise refusal(done, ref=event.ref)
        if event.action in (ModerationAction.KICK, ModerationAction.BAN):
            target = self._hub.member(event.target)
            if event.action is ModerationAction.KICK and target is None:
                raise Refusal(
                    ErrorCode.UNKNOWN_USER,
                    f"nobody is called {event.target}",
                    event.ref,
                )
            if target is not None and target is not self:
                target.kick(None, f"kicked: {event.reason or 'no reason given'}")
        log.info("%s: %s by %s", event.action.name.lower(), event.target, self.nick)
        self._reply(encode_frame(Moderated(ref=event.ref, text=done)))

    def _send_error(self, code: ErrorCode, text: str, ref: int = 0) -> None:
        self._reply(encode_frame(Error(code=code, text=text[:400], ref=ref)))

    def _reply(self, data: bytes) -> None:
        """Answer directly, after the messages this batch queued in the hub.

        Requests are answered in the order they came (spec 5.1): a SendText
        queued by the hub must not be overtaken by the Error for the next one.
        """
        if self._hub.has_queued():
            self._hub.flush_broadcasts()
        if self._hub.ordering:
            self._hub.reply(self, data)  # behind our messages not yet stored
        else:
            self.deliver(data)

    def close(self) -> None:
        """Leave the hub and release the socket (reader thread, once)."""
        try:
            self.leave_hub()
        finally:
            self.outbox.close()
            reason = self._leave_reason or "connection closed"
            log.info("disconnected %s (%s): %s", self.nick or "-", self.label, reason)
            self._on_closed(self)
            memory.note_freed()  # its buffers are free heap once it is gone
