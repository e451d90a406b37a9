"""`Peer`: one client connection, its reader thread and its outbox.

The reader thread is the only one that touches the peer's `Connection`:
recv → `receive_data` → hub. Other threads reach the peer only through
`deliver` (non-blocking, via the outbox) and `kick` (which shuts the socket
down so the blocked `recv` returns and the reader cleans up).
"""

from __future__ import annotations

import logging
import select
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
    encode_body,
    frame,
)
from server.config import ServerConfig
from server.hub import Hub, Refusal
from server.outbox import Flusher, Outbox, batched
from server.ratelimit import TokenBucket

log = logging.getLogger(__name__)

RECV_SIZE = 65536


def last_words(code: ErrorCode | None, text: str) -> bytes:
    """An Error (if `code`) followed by a Bye, ready to send as a goodbye."""
    parts = [] if code is None else [frame(encode_body(Error(code=code, text=text)))]
    parts.append(frame(encode_body(Bye(reason=text))))
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
        self._sock = sock
        self._hub = hub
        self._config = config
        self._clock = clock
        self._on_closed = on_closed
        self._conn = Connection(Role.SERVER, max_frame_size=config.max_frame_size)
        self.outbox = Outbox(sock, config.outbox_size, flusher)
        now = clock()
        self.connected_at = now
        self.last_heard = now
        self.pinged = False
        self.finish_deadline: float | None = None
        self._bucket = TokenBucket(config.rate_burst, config.rate_per_second, now)
        self._over_limit = 0
        self._leave_reason: str | None = None
        self._reason_lock = threading.Lock()
        self.thread = threading.Thread(
            target=self._run, name=f"peer {address}", daemon=True
        )

    @property
    def joined(self) -> bool:
        return self.nick is not None

    def start(self) -> None:
        self.thread.start()

    # --- called from any thread ------------------------------------------

    def deliver(self, data: bytes) -> None:
        if not self.outbox.put(data):
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
        self.deliver(frame(encode_body(Ping(payload=b"chinwag"))))

    # --- the reader thread ---------------------------------------------------

    def _set_reason(self, reason: str) -> None:
        with self._reason_lock:
            if self._leave_reason is None:
                self._leave_reason = reason

    def _run(self) -> None:
        try:
            self._read_until_closed()
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
        finally:
            self._close()

    def _read_until_closed(self) -> None:
        while self._conn.state is not State.CLOSED and not self.outbox.is_finishing():
            try:
                data = self._sock.recv(RECV_SIZE)
            except OSError as exc:
                self._set_reason(f"connection error: {exc.strerror or exc}")
                return
            if not data:
                self._conn.receive_eof()
                self._set_reason("connection closed")
                return
            self.last_heard = self._clock()
            self.pinged = False
            events = self._conn.receive_data(data)
            # A lone frame is written at once. When a chunk holds more, what
            # they cause is written once all are handled, so a burst leaves
            # as one send per recipient instead of one per frame.
            for event in events:
                self._take(event)
                with batched():
                    for later in events:
                        self._take(later)
                break

    def _take(self, event: Event) -> None:
        if not self.outbox.is_finishing() and self._admit():
            self._handle(event)

    def _admit(self) -> bool:
        """Apply the flood limit to one incoming frame."""
        if self._bucket.take(self._clock()):
            self._over_limit = 0
            return True
        self._over_limit += 1
        if self._over_limit == 1:
            self._send_error(
                ErrorCode.RATE_LIMITED, "you are sending too fast; slow down"
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
        self.deliver(frame(encode_body(Error(code=code, text=text[:400], ref=ref))))

    def _linger(self) -> None:
        """Read and discard until the client closes, so our last words arrive.

        Closing a socket with unread input makes the kernel send RST, which
        can destroy the Error and Bye still in flight to the client.
        """
        deadline = self._clock() + self._config.close_grace
        try:
            while (remaining := deadline - self._clock()) > 0:
                readable, _, _ = select.select([self._sock], [], [], remaining)
                if readable and not self._sock.recv(RECV_SIZE):
                    return
        except (OSError, ValueError):
            return

    def _close(self) -> None:
        reason = self._leave_reason or "connection closed"
        try:
            self._hub.leave(self, reason)
            if self.outbox.is_finishing():
                self._linger()
        finally:
            self.outbox.close()
            log.info("disconnected %s (%s): %s", self.nick or "-", self.label, reason)
            self._on_closed(self)
