"""The load generator: N protocol clients on one selector, in this process.

Every client counts the bytes it receives; since every chat frame in a run
has the same size, bytes / frame size = deliveries, with no parsing. A few
"probe" clients decode every frame and measure end-to-end latency from the
send time carried in the text (CLOCK_MONOTONIC is shared by all processes).
The probes are spread evenly over the order the clients joined in
(`probe_indexes`): a server sends a message's copies in some order, and
probes bunched at one end of it would time only the first or the last
copies.
By default the clients speak version 1 (SendText); given capabilities, they
speak version 2 (Hello + Identify, then Post with a fresh txn, and JoinRoom).
`SelectorSwarm` is the part that does not care what the clients speak; the
IRC load generator (`bench.irc_load`) is built on it too. Only loopback
addresses are ever used, and every loop is bounded in time.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import attrs

import protocol as p
from clients.core.tls import TlsClient, pinning_context

TEXT_DIGITS = 20


def chat_text(padding: int) -> str:
    """A text carrying its send time, padded to a fixed size."""
    return f"{time.monotonic_ns():0{TEXT_DIGITS}d}" + "x" * padding


def frame_size(nick: str, padding: int, target: str | None = None) -> int:
    """The size of every Delivered frame a run produces (all nicks equally long).

    `target` is the room the messages go to (None: #lobby, spec 12.5).
    """
    message = p.Delivered(
        id=0,
        timestamp_ms=0,
        sender=nick,
        target=target,
        text="0" * TEXT_DIGITS + "x" * padding,
    )
    return len(p.frame(p.encode_body(message)))


RECV_BYTES = 262144
"""The most one read takes from a socket."""


def open_socket(address: tuple[str, int], source: str | None = None) -> socket.socket:
    """A non-blocking TCP connection under way to `address`, from `source` if given.

    Nagle is off: chat is many small writes, and it would add its delay to
    every latency measured.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if source is not None:
        sock.bind((source, 0))
    sock.setblocking(False)
    sock.connect_ex(address)
    return sock


class _Endpoint(Protocol):
    """The selector-side state of one client, whatever it speaks."""

    sock: socket.socket
    reading: bool
    closed: bool
    mask: int
    outbox: bytearray


_C = TypeVar("_C", bound=_Endpoint)


class SelectorSwarm(Generic[_C]):
    """Clients of one run on one selector, whatever protocol they speak.

    This moves bytes, paces connections and senders, and waits for the
    server to go quiet; what the received bytes mean is each subclass's
    `_read` (Chinwag frames in `Swarm`, IRC lines in `bench.irc_load`).
    """

    __slots__ = ()
    selector: selectors.BaseSelector
    clients: list[_C]

    def send(self, client: _C, text: str) -> None:
        """One chat line from `client`."""
        raise NotImplementedError

    def _read(self, client: _C) -> None:
        raise NotImplementedError

    def pump(self, duration: float) -> None:
        """Handle socket events for up to `duration` seconds."""
        for key, mask in self.selector.select(timeout=max(0.0, duration)):
            client: _C = key.data
            if mask & selectors.EVENT_READ:
                self._read(client)
            if mask & selectors.EVENT_WRITE:
                self._flush(client)

    def close(self) -> None:
        for client in self.clients:
            self._quiet(client)
            client.sock.close()
        self.selector.close()

    def send_evenly(
        self, talkers: Sequence[_C], *, interval: float, duration: float, padding: int
    ) -> int:
        """Each talker sends a line every `interval` s for `duration` s; the count.

        The talkers' turns are spread evenly over the interval, so the
        server sees a steady rate rather than bursts.
        """
        start = time.monotonic()
        due = [start + i * interval / len(talkers) for i in range(len(talkers))]
        sent = 0
        while (now := time.monotonic()) < start + duration:
            for index, when in enumerate(due):
                if when <= now:
                    self.send(talkers[index], chat_text(padding))
                    due[index] = when + interval
                    sent += 1
            self.pump(max(0.0, min(due) - time.monotonic()))
        return sent

    def settle(self, cpu_seconds: Callable[[], float], limit: float = 60.0) -> None:
        """Keep reading until the server's CPU use stops growing.

        The notices of who joined keep fanning out for a while after the last
        greeting; a measurement that starts before they end counts them too.
        """
        deadline = time.monotonic() + limit
        last = cpu_seconds()
        while time.monotonic() < deadline:
            end = time.monotonic() + 0.3
            while time.monotonic() < end:
                self.pump(0.02)
            now = cpu_seconds()
            if now - last < 0.006:
                return
            last = now

    def drain(self, received: Callable[[], int], expected: int, limit: float) -> None:
        """Read until `received()` reaches `expected` or stays still for 2 s."""
        deadline = time.monotonic() + limit
        quiet_since = time.monotonic()
        seen = received()
        while time.monotonic() < deadline and seen < expected:
            self.pump(0.02)
            now_seen = received()
            if now_seen != seen:
                seen, quiet_since = now_seen, time.monotonic()
            elif time.monotonic() - quiet_since > 2.0:
                return

    def _open_paced(
        self,
        count: int,
        in_flight: int,
        deadline: float,
        open_client: Callable[[int], _C],
        ready: Callable[[_C], bool],
    ) -> bool:
        """Open clients 0..count-1 with `open_client`, pumping until each is
        `ready` or closed; False if `deadline` passed first.

        At most `in_flight` of them (0: any number) are neither at once: a
        crowd connecting at once overflows a server's accept queue, and the
        kernel sends the dropped SYNs again only after 1, 3, 7... s.
        """
        waiting: list[_C] = []
        index = 0
        while index < count or waiting:
            waiting = [c for c in waiting if not ready(c) and not c.closed]
            while index < count and (in_flight <= 0 or len(waiting) < in_flight):
                waiting.append(open_client(index))
                index += 1
            if time.monotonic() > deadline:
                return False
            self.pump(0.05)
        return True

    def _receive(self, client: _C) -> bytes:
        """What `client`'s socket holds now; b"" if nothing, or if it closed.

        A closed client is marked so and no longer watched.
        """
        try:
            data = client.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            data = b""
        if not data:
            client.closed = True
            self._quiet(client)
        return data

    def _quiet(self, client: _C) -> None:
        """Stop reading and writing for `client` (its socket stays open)."""
        client.reading = False
        client.outbox.clear()
        self._update(client)

    def _flush(self, client: _C) -> None:
        """Send what the kernel takes of `client`'s outbox now."""
        if client.outbox:
            try:
                del client.outbox[: client.sock.send(client.outbox)]
            except (BlockingIOError, InterruptedError):
                pass  # the kernel's buffer is full: EVENT_WRITE says when to go on
            except OSError:
                client.outbox.clear()  # gone: its next read sees the close
        self._update(client)

    def _update(self, client: _C) -> None:
        """Register for exactly the events the client needs now."""
        wanted = (selectors.EVENT_READ if client.reading else 0) | (
            selectors.EVENT_WRITE if client.outbox else 0
        )
        client.mask = set_interest(
            self.selector, client.sock, client.mask, wanted, client
        )


@attrs.define(eq=False)
class Client:
    nick: str
    sock: socket.socket
    conn: p.Connection
    probe: bool = False
    welcomed: bool = False
    reading: bool = True
    rx_bytes: int = 0
    closed: bool = False
    mask: int = 0
    outbox: bytearray = attrs.field(factory=bytearray)
    decoder: p.FrameDecoder | None = None
    tls: TlsClient | None = None
    held: bytearray = attrs.field(factory=bytearray)
    """Plaintext waiting for the TLS handshake to finish."""
    target: str | None = None
    """Where its Posts go (a room's name; None: #lobby). Version 2 only."""
    ref: int = 0
    """The ref of its last request (they increase, spec 12.2)."""
    joining: int = 0
    """JoinRooms sent and not answered yet: read every frame meanwhile."""
    rooms: list[str] = attrs.field(factory=list)
    """The rooms the server said it is in (RoomJoined)."""
    agreed: tuple[str, ...] = ()
    """The capabilities its Welcome enabled."""


@attrs.define
class Swarm(SelectorSwarm[Client]):
    """Chinwag clients of one run; `pump` moves bytes until a deadline."""

    address: tuple[str, int]
    tls: bool = False
    capabilities: tuple[str, ...] = ()
    """Empty: version 1 clients. Else version 2 asking for these (with
    `session`, each sends Identify; with `history`, Posts instead of SendText)."""
    clients: list[Client] = attrs.field(factory=list)
    selector: selectors.BaseSelector = attrs.field(factory=selectors.DefaultSelector)
    latencies_ns: list[int] = attrs.field(factory=list)
    events: list[tuple[int, p.Message]] = attrs.field(factory=list)
    refusals: list[p.Error] = attrs.field(factory=list)
    """Errors answering a JoinRoom."""
    measuring: bool = False

    def connect(self, count: int, probes: int, timeout: float = 60.0) -> float:
        """Open `count` connections and complete every handshake.

        Returns:
            Seconds from the first connect to the last Welcome.
        """
        if self.address[0] not in ("127.0.0.1", "::1"):
            msg = "the benchmark only ever targets loopback"
            raise ValueError(msg)
        started = time.monotonic()
        chosen = probe_indexes(count, probes)
        for index in range(count):
            self._open(index, probe=index in chosen)
        deadline = started + timeout
        while not all(c.welcomed for c in self.clients):
            if time.monotonic() > deadline:
                msg = "handshakes did not finish in time"
                raise TimeoutError(msg)
            self.pump(0.05)
        return time.monotonic() - started

    def _open(self, index: int, *, probe: bool) -> Client:
        """Connect client number `index` and queue its greeting."""
        sock = open_socket(self.address)
        client = Client(f"c{index:04d}", sock, p.Connection(p.Role.CLIENT), probe=probe)
        if self.tls:
            client.tls = TlsClient(pinning_context(), self.address[0])
            client.tls.handshake()
            client.outbox += client.tls.pending()
        self._write(client, self._hello(client))
        self.clients.append(client)
        self._update(client)
        return client

    def _hello(self, client: Client) -> bytes:
        if not self.capabilities:
            return client.conn.send(
                p.Hello(version=1, client_name="bench", nick=client.nick)
            )
        data = client.conn.send(
            p.Hello(
                version=2,
                client_name="bench",
                nick=client.nick,
                capabilities=self.capabilities,
            )
        )
        if p.CAP_SESSION in self.capabilities:
            data += client.conn.send(p.Identify())
        return data

    def send(self, client: Client, text: str) -> None:
        """One chat line: SendText, or with `history` a Post to `client.target`."""
        if p.CAP_HISTORY in self.capabilities:
            client.ref += 1
            message: p.Message = p.Post(
                ref=client.ref,
                txn=os.urandom(p.TXN_BYTES),
                target=client.target,
                text=text,
            )
        else:
            message = p.SendText(text=text)
        self._write(client, client.conn.send(message))
        self._flush(client)

    def join(self, client: Client, room: str) -> None:
        """Send a JoinRoom (spec 12.5); the answer lands in `client.rooms`."""
        client.ref += 1
        client.joining += 1
        self._write(client, client.conn.send(p.JoinRoom(ref=client.ref, room=room)))
        self._flush(client)

    def _write(self, client: Client, data: bytes) -> None:
        """Queue plaintext: sealed at once with TLS, held until its handshake ends."""
        tls = client.tls
        if tls is None:
            client.outbox += data
        elif not tls.handshake_done:
            client.held += data
        else:
            client.outbox += tls.encrypt(data)

    def stall(self, client: Client) -> None:
        """Stop reading from `client` (it keeps its socket open).

        Its receive buffer is shrunk so the kernel stops soaking up data and
        the server's own limit is what fills.
        """
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        client.reading = False
        self._update(client)

    def reset_counts(self) -> None:
        for client in self.clients:
            client.rx_bytes = 0
        self.latencies_ns.clear()
        self.events.clear()

    def received_bytes(self) -> int:
        return sum(c.rx_bytes for c in self.clients)

    def _read(self, client: Client) -> None:
        data = self._receive(client)
        if not data:
            return
        if client.tls is not None:
            data = self._unseal(client, data)
        client.rx_bytes += len(data)
        if client.welcomed and not client.probe and not client.joining:
            return
        now = time.monotonic_ns()
        for message in client.conn.receive_data(data):
            if isinstance(message, p.Welcome):
                client.welcomed = True
                client.agreed = message.capabilities
                client.rx_bytes = 0
            elif isinstance(message, p.Delivered):
                self.latencies_ns.append(now - int(message.text[:TEXT_DIGITS]))
            elif isinstance(message, p.RoomJoined) and client.joining:
                client.joining -= 1
                client.rooms.append(message.room)
            elif isinstance(message, p.Error) and client.joining and message.ref:
                client.joining -= 1
                self.refusals.append(message)
            elif self.measuring and isinstance(message, p.UserLeft | p.Error):
                self.events.append((now, message))

    def _unseal(self, client: Client, data: bytes) -> bytes:
        tls = client.tls
        assert tls is not None  # noqa: S101 - only called with TLS
        if not tls.handshake_done:
            tls.receive(data)
            done = tls.handshake()
            client.outbox += tls.pending()
            if not done:
                self._update(client)
                return b""
            client.outbox += tls.encrypt(bytes(client.held))
            client.held.clear()
            self._update(client)
            data = b""
        return tls.feed(data)


def probe_indexes(count: int, probes: int) -> frozenset[int]:
    """Which of `count` clients, by the order they connect in, are probes:
    `probes` of them, evenly spaced from the first."""
    probes = min(probes, count)
    return (
        frozenset(i * count // probes for i in range(probes)) if probes else frozenset()
    )


def set_interest(
    selector: selectors.BaseSelector,
    sock: socket.socket,
    mask: int,
    wanted: int,
    data: object,
) -> int:
    """Register `sock` for exactly the `wanted` events (0: none); the new mask.

    `mask` is what it is registered for now (0: not registered).
    """
    if wanted == mask:
        return mask
    if mask == 0:
        selector.register(sock, wanted, data)
    elif wanted == 0:
        selector.unregister(sock)
    else:
        selector.modify(sock, wanted, data)
    return wanted


def percentile_ms(values_ns: list[int], q: float) -> float:
    """The `q` quantile of nanosecond values, in milliseconds (NaN if none)."""
    if not values_ns:
        return float("nan")
    ordered = sorted(values_ns)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system
