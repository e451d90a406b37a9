"""`Peer`: one client connection, its protocol state and its outbox.

One reader thread (see `server.readers`) owns the peer's `Connection`: it
calls `on_readable` when the socket has data, and `close` once that says the
peer is finished. Other threads reach the peer only through `deliver`
(non-blocking, via the outbox) and `kick` (last words, then our side of the
socket is shut, so the client closes and the reader sees end-of-file).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable

from protocol import (
    Bye,
    ChangeNick,
    Connection,
    Error,
    ErrorCode,
    Event,
    Hello,
    ListUsers,
    Ping,
    Pong,
    Rejected,
    RemoteProtocolError,
    Role,
    SendDirect,
    SendText,
    State,
    Welcome,
    encode_frame,
)
from server.config import ServerConfig
from server.hub import Hub, Refusal
from server.outbox import Flusher, Outbox, batched
from server.ratelimit import TokenBucket

log = logging.getLogger(__name__)

RECV_SIZE = 65536


def last_words(code: ErrorCode | None, text: str) -> bytes:
    """An Error (if `code`) followed by a Bye, ready to send as a goodbye."""
    parts = [] if code is None else [encode_frame(Error(code=code, text=text))]
    parts.append(encode_frame(Bye(reason=text)))
    return b"".join(parts)


class Peer:
    """One connected client.

    Args:
        sock: the accepted socket (blocking).
        address: the client's address, for logs.
        hub: where requests go.
        config: limits and timeouts.
        flusher: finishes partial sends.
        clock: monotonic seconds (injected for tests).
        on_closed: called from the reader thread once the peer is gone.
    """

    def __init__(
        self,
        sock: socket.socket,
        address: str,
        *,
        hub: Hub,
        config: ServerConfig,
        flusher: Flusher,
        clock: Callable[[], float],
        on_closed: Callable[[Peer], None],
    ) -> None:
        self.nick: str | None = None
        self.label = address
        self.sock = sock
        self._hub = hub
        self._config = config
        self._clock = clock
        self._on_closed = on_closed
        self._conn = Connection(Role.SERVER, max_frame_size=config.max_frame_size)
        self.outbox = Outbox(sock, config.outbox_size, flusher, self._too_slow)
        # The hub calls this once per recipient per message: make it the
        # outbox's own method, with no extra call in between.
        self.deliver = self.outbox.put
        now = clock()
        self.connected_at = now
        self.last_heard = now
        self.pinged = False
        self.finish_deadline: float | None = None
        self._bucket = TokenBucket(config.rate_burst, config.rate_per_second, now)
        self._over_limit = 0
        self._leave_reason: str | None = None
        self._reason_lock = threading.Lock()
        self._left = False

    @property
    def joined(self) -> bool:
        return self.nick is not None

    # --- called from any thread ------------------------------------------

    def _too_slow(self) -> None:
        log.warning(
            "slow consumer %s (%s) dropped: %d bytes waiting",
            self.nick or "-",
            self.label,
            self.outbox.pending,
        )
        self._set_reason("slow consumer")
        self.outbox.abort()

    def welcome(self, message: Welcome) -> None:
        self.deliver(self._conn.send(message))

    def kick(self, code: ErrorCode | None, text: str) -> None:
        """Say why (best effort) and close this connection."""
        self._set_reason(text)
        self.finish_deadline = self._clock() + self._config.close_grace
        self.outbox.finish(last_words(code, text))

    def ping(self) -> None:
        self.pinged = True
        self.deliver(encode_frame(Ping(payload=b"chinwag")))

    # --- the reader thread (see server.readers) --------------------------------

    def _set_reason(self, reason: str) -> None:
        with self._reason_lock:
            if self._leave_reason is None:
                self._leave_reason = reason

    def on_readable(self) -> bool:
        """Handle what the socket has (reader thread); True once finished.

        Never raises: a protocol error or a bug kicks this peer only.
        """
        try:
            return self._read_once()
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
        self._leave()
        return False

    def _read_once(self) -> bool:
        try:
            data = self.sock.recv(RECV_SIZE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._set_reason(f"connection error: {exc.strerror or exc}")
            return True
        if not data:
            self._set_reason("connection closed")
            if not self.outbox.is_finishing():
                self._conn.receive_eof()
            return True
        if self.outbox.is_finishing():
            # Lingering after our last words: discard until the client closes.
            # Closing with unread input would send RST, which can destroy the
            # Error and Bye still in flight to it.
            return False
        self.last_heard = self._clock()
        self.pinged = False
        events = self._conn.receive_data(data)
        # A lone frame is written at once. When a chunk holds more, what
        # they cause is written once all are handled, so a burst leaves
        # as one send per recipient instead of one per frame.
        first = next(events, None)
        if first is not None:
            self._take(first)
            with batched():
                for event in events:
                    self._take(event)
        if self._conn.state is State.CLOSED:
            return True
        if self.outbox.is_finishing():
            self._leave()  # kicked: tell the others now, then linger
        return False

    def _take(self, event: Event) -> None:
        if not self.outbox.is_finishing() and self._admit(event):
            self._handle(event)

    def _admit(self, event: Event) -> bool:
        """Apply the flood limit to one incoming frame.

        A refused request with a ref is answered, so the client can tell its
        user which message did not go; others only on the first refusal.
        """
        if self._bucket.take(self._clock()):
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
            self.kick(ErrorCode.RATE_LIMITED, "flooding")
        return False

    def _handle(self, event: Event) -> None:
        try:
            self._dispatch(event)
        except Refusal as refusal:
            self._send_error(refusal.code, refusal.text, refusal.ref)
            if refusal.fatal:
                log.info("refused %s: %s", self.label, refusal.text)
                self.kick(None, refusal.text)

    def _dispatch(self, event: Event) -> None:  # noqa: C901 - one arm per message type
        match event:
            case Hello():
                nick = self._hub.join(self, event)
                log.info("joined %s as %s (asked for %r)", self.label, nick, event.nick)
            case SendText():
                self._hub.say(self, event)
            case SendDirect():
                self._hub.direct(self, event)
            case ListUsers():
                self._hub.list_users(self)
            case ChangeNick():
                old = self._hub.change_nick(self, event)
                log.info("nick change %s -> %s (%s)", old, self.nick, self.label)
            case Ping():
                self.deliver(self._conn.send(Pong(payload=event.payload)))
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
                # Server-only messages never get here: the state table refuses them.
                msg = f"unhandled {event!r}"
                raise AssertionError(msg)

    def _send_error(self, code: ErrorCode, text: str, ref: int = 0) -> None:
        self.deliver(encode_frame(Error(code=code, text=text[:400], ref=ref)))

    def _leave(self) -> None:
        if not self._left:
            self._left = True
            self._hub.leave(self, self._leave_reason or "connection closed")

    def close(self) -> None:
        """Leave the hub and release the socket (reader thread, once)."""
        try:
            self._leave()
        finally:
            self.outbox.close()
            reason = self._leave_reason or "connection closed"
            log.info("disconnected %s (%s): %s", self.nick or "-", self.label, reason)
            self._on_closed(self)
