"""`ChatServer`: the listening socket, the accept loop, housekeeping and shutdown.

Threads: one acceptor, one housekeeper (timeouts, keepalive pings, join and
leave notices, condemned peers leaving the hub), one flusher (partial sends)
and a few readers, each serving many clients through `selectors`.

Each client is a file descriptor, so the open-file limit caps the clients
too: see `client_cap` and `AcceptFailures` (docs/server.md, "Open files").
"""

from __future__ import annotations

import errno
import logging
import math
import os
import queue
import resource
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path

import argon2
import attrs
from argon2 import PasswordHasher

from protocol import ErrorCode, encode_frame
from server import memory
from server.accounts import Accounts, Registration
from server.addresses import AddressLimiter, is_loopback
from server.config import ServerConfig
from server.history import Recorder
from server.hub import Hub
from server.logins import LoginService
from server.loop import SelectorLoop
from server.outbox import Flusher, OutboxBudget, batched
from server.paths import default_data_dir
from server.peer import Peer, last_words
from server.precedence import Precedence
from server.readers import ReaderPool
from server.store import SqliteStore
from server.store.messages import SqliteMessageStore
from server.store.rooms import SqliteRoomStore
from server.tls import (
    ReloadableContext,
    ReloadFailed,
    default_certificate_names,
    ensure_certificate,
)

log = logging.getLogger(__name__)

LISTEN_BACKLOG = socket.SOMAXCONN
"""The accept queue's length: the largest the system allows (the kernel also
caps it at `net.core.somaxconn`), so a crowd connecting at once is queued
instead of losing SYNs and retrying seconds later (docs/performance.md)."""
FD_MARGIN = 64
"""Descriptors kept free beyond those the server holds once started: the
socket of a connection being refused, sockets the flusher closes after their
peer has gone, SQLite's temporary files, the certificate and key read by a
TLS reload, log rotation. Generous on purpose: running out stalls every
newcomer, while 64 is 0.3% of a 20,000 limit."""
ACCEPT_PAUSE_FIRST = 0.05
"""Seconds the acceptor stops polling after accept() ran out of descriptors."""
ACCEPT_PAUSE_MAX = 1.0
"""The longest pause: it doubles while refusing waiting connections fails too."""
ACCEPT_LOG_INTERVAL = 10.0
"""At most one "accept failed" line (out of descriptors) per this many seconds."""
ACCEPT_ERROR_PAUSE = 0.05
"""Seconds the acceptor waits after any other accept() error."""
SHED_MAX = 64
"""Waiting connections refused per turn while out of descriptors."""
FULL_TEXT = "server full, try again later"
SHUTDOWN_REASON = "server shutting down"
PRESENCE_INTERVAL = 0.03
"""Seconds between sends of gathered join/leave notices."""
PRUNE_INTERVAL = 10.0
"""Seconds between clean-ups of the per-address connection counts."""


class ChatServer:
    """A running Chinwag server.

    Use as a context manager, or call `start()` and later `stop()`::

        with ChatServer(ServerConfig(port=0)) as server:
            host, port = server.address

    Args:
        config: where to listen and what to tolerate.
        clock: monotonic seconds, for timeouts.
        wall_clock: seconds since the epoch, for message timestamps.
    """

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config = config or ServerConfig()
        self._clock = clock
        self._logins: LoginService | None = None
        self._store: SqliteStore | None = None
        self._messages: SqliteMessageStore | None = None
        self._rooms: SqliteRoomStore | None = None
        self._recorder: Recorder | None = None
        self._wall_clock = wall_clock
        self.hub = Hub(
            owns=self._owns if config.accounts else None,
            server_name=config.server_name,
            motd=config.motd,
            wall_clock=wall_clock,
            clock=clock,
            limits_frame=encode_frame(config.limits()),
        )
        self.budget = OutboxBudget(config.outbox_total)
        self._addresses = AddressLimiter(
            max_concurrent=config.max_per_address,
            max_new=config.new_per_address,
            window=config.new_per_address_window,
            exempt_loopback=config.exempt_loopback,
            clock=clock,
        )
        # Peers kicked or dropped from any thread; the housekeeper makes them
        # leave the hub (it may not happen where the verdict is reached: that
        # can be inside the hub's lock).
        self._condemned: queue.SimpleQueue[Peer] = queue.SimpleQueue()
        self._flusher = Flusher()
        # The readers stand aside while quiet clients' messages are published.
        self._precedence = Precedence()
        self._readers = ReaderPool(config.reader_threads, clock, self._precedence)
        self._acceptor: _Acceptor | None = None
        self._accept_failures = AcceptFailures(clock)
        # One descriptor held back so that, when accept() fails with EMFILE,
        # waiting connections can still be accepted and told SERVER_FULL
        # instead of hanging in the accept queue (libuv's "EMFILE trick").
        self._spare: int | None = None
        # The effective max clients: `start()` lowers it to what the open-file
        # limit leaves room for.
        self.cap = ClientCap(clients=config.max_clients, configured=config.max_clients)
        self._stopping = threading.Event()
        self._peers: set[Peer] = set()
        self._peers_lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._tls: ReloadableContext | None = None
        self._cert_file: Path | None = None
        self._housekeeper = threading.Thread(
            target=self._housekeep, name="housekeeper", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        """The (host, port) actually bound; useful with port 0."""
        if self._listener is None:
            msg = "server not started"
            raise RuntimeError(msg)
        host, port = self._listener.getsockname()[:2]
        return host, port

    def peer_count(self) -> int:
        with self._peers_lock:
            return len(self._peers)

    def start(self) -> None:
        """Bind, listen and start the server's threads; returns at once.

        Raises:
            OSError: the address cannot be bound.
            TlsError: the certificate or key cannot be made or read.
        """
        if self.config.tls:
            self._start_tls()
        if self.config.accounts:
            self._start_accounts()
        if self.config.history:
            self._start_history()
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        self._listener = socket.create_server(
            (self.config.host, self.config.port),
            family=family,
            backlog=LISTEN_BACKLOG,
        )
        self._listener.setblocking(False)
        self._spare = _open_spare()
        self._flusher.start()
        self._readers.start()
        self._acceptor = _Acceptor(
            self._listener, self._accept_pending, self._accept_failures.report
        )
        self.cap = self._cap_by_open_files()  # everything of ours is open now
        self._acceptor.start()
        self._housekeeper.start()
        host, port = self.address
        log.info("server started on %s:%d", host, port)

    def _cap_by_open_files(self) -> ClientCap:
        """The clients the open-file limit leaves room for (raised if allowed).

        Counted once everything the server holds for itself is open (stores,
        log, selectors, the listener), before anyone is accepted.
        """
        configured = self.config.max_clients
        in_use = _descriptors_in_use(self.config.reader_threads)
        limit = _obtain_open_files(configured + in_use + FD_MARGIN)
        cap = client_cap(configured, limit, in_use)
        if cap.clients == 0:
            log.warning(
                "the open-file limit (%s) leaves no descriptor for clients: "
                "every connection will be refused; raise it (ulimit -n)",
                f"{limit:,}",
            )
        elif cap.clients < configured:
            log.info(
                "max clients %s (open-file limit %s, %d kept for the server; "
                "configured %s)",
                f"{cap.clients:,}",
                f"{limit:,}",
                cap.reserved,
                f"{configured:,}",
            )
        return cap

    def _start_accounts(self) -> None:
        config = self.config
        data_dir = config.data_dir or default_data_dir()
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._store = SqliteStore.in_data_dir(data_dir)
        hasher = (
            PasswordHasher.from_parameters(argon2.profiles.CHEAPEST)
            if config.cheap_hashing
            else None
        )
        accounts = Accounts(
            self._store,
            hasher=hasher,
            registration={
                "open": Registration.OPEN,
                "invite": Registration.INVITE_ONLY,
                "closed": Registration.CLOSED,
            }[config.registration],
        )
        self._logins = LoginService(accounts, require_account=config.require_account)
        log.info(
            "accounts in %s (registration %s%s)",
            data_dir,
            config.registration,
            ", guests refused" if config.require_account else "",
        )

    def _start_history(self) -> None:
        config = self.config
        data_dir = config.data_dir or default_data_dir()
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        store = SqliteMessageStore.in_data_dir(data_dir)
        self._messages = store
        self.hub.attach_history(store, on_quiet_message=self._precedence.expedite)
        self._rooms = SqliteRoomStore.in_data_dir(data_dir)
        self.hub.attach_rooms(self._rooms)
        prune = None
        if config.retention_days is not None:
            keep_ms = int(config.retention_days * 86_400_000)

            def prune() -> None:
                cutoff = int(self._wall_clock() * 1000) - keep_ms
                removed = store.prune(cutoff)
                if removed:
                    log.info("retention: %d messages deleted", removed)

            prune()

        self._recorder = Recorder(
            take=self.hub.take_steps,
            publish=self.hub.publish,
            store=store,
            prune=prune,
            wake=self.hub.wake_recorder,
            urgent=self.hub.took_express,
            precedence=self._precedence,
        )
        self._recorder.start()
        log.info("history in %s (last message id %d)", data_dir, store.last_id())

    def _owns(self, nick: str) -> bool:
        return self._logins is not None and self._logins.owns(nick)

    def _start_tls(self) -> None:
        config = self.config
        if config.tls_cert is not None and config.tls_key is not None:
            cert, key = config.tls_cert, config.tls_key
        else:
            paths = ensure_certificate(
                config.data_dir or default_data_dir(),
                default_certificate_names(config.tls_names),
            )
            if paths.missing_names:
                log.warning(
                    "the certificate does not name %s; make a new one by removing %s",
                    ", ".join(paths.missing_names),
                    paths.cert_file,
                )
            cert, key = paths.cert_file, paths.key_file
        self._tls = ReloadableContext(cert, key)
        self._cert_file = cert
        log.info(
            "TLS certificate %s, SHA-256 fingerprint %s", cert, self._tls.fingerprint
        )

    def stop(self, timeout: float = 1.5) -> None:
        """Say Bye to everyone, close every socket and join every thread."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._acceptor is not None:
            self._acceptor.stop()
            self._acceptor.thread.join(timeout)
        self._accept_failures.report(final=True)
        if self._housekeeper.is_alive():
            self._housekeeper.join(timeout)
        with self._peers_lock:
            peers = list(self._peers)
        for peer in peers:
            peer.kick(None, SHUTDOWN_REASON)
        # Clients close when they read the Bye; those that do not are cut off.
        self._wait_for_peers(timeout / 2)
        for peer in peers:
            peer.outbox.abort()
        self._wait_for_peers(timeout / 2)
        self._readers.stop(timeout=0.5)
        if self._recorder is not None:
            self._recorder.stop()
        self._flusher.stop()
        self._flusher.thread.join(0.5)
        if self._listener is not None:
            self._listener.close()
        if self._spare is not None:
            os.close(self._spare)
            self._spare = None
        self._close_stores()
        log.info("server stopped")

    def _close_stores(self) -> None:
        if self._logins is not None:
            self._logins.accounts.close()
        if self._store is not None:
            self._store.close()
        if self._messages is not None:
            self._messages.close()
        if self._rooms is not None:
            self._rooms.close()

    def _wait_for_peers(self, seconds: float) -> None:
        """Wait until every peer has closed, or `seconds` have passed."""
        deadline = self._clock() + seconds
        while self.peer_count() and self._clock() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> ChatServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- threads -------------------------------------------------------------

    def _accept_pending(self) -> float:
        """Accept every waiting connection.

        Returns:
            Seconds the acceptor should stop polling the listening socket
            (0: none), so an error that persists is not retried in a spin.
        """
        assert self._listener is not None  # noqa: S101
        while not self._stopping.is_set():
            try:
                sock, addr = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return self._accept_failures.failed(exc, self._shed())
                log.error("accept failed: %s", exc)
                return ACCEPT_ERROR_PAUSE
            self._admit(sock, addr[0], f"{addr[0]}:{addr[1]}")
        self._accept_failures.succeeded()
        if self._spare is None:
            self._spare = _open_spare()
        return 0.0

    def _shed(self) -> int:
        """Out of descriptors: refuse waiting connections with the spare one.

        Closing the spare frees a descriptor, each accepted connection takes
        it and gives it back once told SERVER_FULL, then the spare is taken
        again (if another thread got it meanwhile, the next turn retries).

        Returns:
            How many waiting connections were refused.
        """
        assert self._listener is not None  # noqa: S101
        if self._spare is None:
            return 0
        os.close(self._spare)
        self._spare = None
        refused = 0
        try:
            for _ in range(SHED_MAX):
                try:
                    sock, _addr = self._listener.accept()
                except OSError:
                    break
                _refuse(sock, FULL_TEXT)
                refused += 1
        finally:
            self._spare = _open_spare()
        return refused

    def _admit(self, sock: socket.socket, host: str, label: str) -> None:
        sock.setblocking(True)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cap = self.cap
        with self._peers_lock:
            full = len(self._peers) >= cap.clients
        if full:
            why = (
                "" if cap.open_files is None else f", open-file limit {cap.open_files}"
            )
            log.warning(
                "refused %s: server full (%d clients%s)", label, cap.clients, why
            )
            _refuse(sock, FULL_TEXT)
            return
        admission = self._addresses.admit(host)
        if admission.refusal is not None:
            log.warning("refused %s: %s", label, admission.refusal)
            _refuse(sock, admission.refusal)
            return
        peer = Peer(
            sock,
            label,
            tls_context=None if self._tls is None else self._current_tls_context,
            logins=self._logins,
            host=host,
            plaintext_allowed=self.config.allow_plaintext or is_loopback(host),
            hub=self.hub,
            config=self.config,
            flusher=self._flusher,
            budget=self.budget,
            clock=self._clock,
            on_closed=self._forget,
            on_condemned=self._condemned.put,
            on_flood=self._flooded,
            address_key=admission.key,
        )
        with self._peers_lock:
            self._peers.add(peer)
        log.info("connected %s", label)
        self._readers.add(peer)

    def _current_tls_context(self) -> ssl.SSLContext:
        assert self._tls is not None  # noqa: S101 - only handed out with TLS
        return self._tls.context

    @property
    def fingerprint(self) -> str | None:
        """SHA-256 of the certificate served (None without TLS)."""
        return None if self._tls is None else self._tls.fingerprint

    @property
    def certificate(self) -> Path | None:
        """The certificate file served (None without TLS)."""
        return self._cert_file

    def reload_tls(self) -> str:
        """Read the certificate and key again (SIGHUP); say what happened."""
        if self._tls is None:
            return "TLS is off; nothing to reload"
        result = self._tls.reload()
        if isinstance(result, ReloadFailed):
            log.error(
                "TLS reload failed, keeping the old certificate: %s", result.reason
            )
            return f"reload failed, the old certificate stays: {result.reason}"
        log.info("TLS certificate reloaded; fingerprint %s", result.fingerprint)
        return f"certificate reloaded; fingerprint {result.fingerprint}"

    def _flooded(self, peer: Peer) -> None:
        self._addresses.penalize(peer.address_key, self.config.flood_cooldown)

    def _forget(self, peer: Peer) -> None:
        with self._peers_lock:
            self._peers.discard(peer)
        self._addresses.release(peer.address_key)

    def _housekeep(self) -> None:
        next_check = next_prune = self._clock()
        while not self._stopping.wait(PRESENCE_INTERVAL):
            try:
                now = self._clock()
                if now >= next_check:
                    next_check = now + self.config.housekeeping_interval
                    self._check_timeouts()
                if now >= next_prune:
                    next_prune = now + PRUNE_INTERVAL
                    self._addresses.prune()
                self._release_condemned()
                with batched():  # the writes happen once the hub is released
                    self.hub.flush_presence()
                memory.trim_if_due()  # heap freed by handshakes and departures
            except Exception:
                log.exception("housekeeping error")

    def _release_condemned(self) -> None:
        """Condemned peers give up their nicks now, not when their socket closes."""
        while True:
            try:
                peer = self._condemned.get_nowait()
            except queue.Empty:
                return
            peer.leave_hub()

    def _check_timeouts(self) -> None:
        config = self.config
        now = self._clock()
        with self._peers_lock:
            peers = list(self._peers)
        for peer in peers:
            if peer.finish_deadline is not None:
                if now > peer.finish_deadline:
                    peer.outbox.abort()
                continue
            silent = now - peer.last_heard
            if not peer.joined:
                if now - peer.connected_at > config.handshake_timeout:
                    log.info("handshake timeout %s", peer.label)
                    peer.kick(ErrorCode.HANDSHAKE_TIMEOUT, "no Hello received in time")
            elif silent > config.idle_timeout:
                log.info("ping timeout %s (%s)", peer.nick, peer.label)
                peer.kick(ErrorCode.PING_TIMEOUT, "ping timeout")
            elif silent > config.ping_interval and not peer.pinged:
                peer.ping()


@attrs.frozen(kw_only=True)
class ClientCap:
    """How many clients are served at once, and what set the number.

    Attributes:
        clients: the effective maximum: more are refused with SERVER_FULL.
        configured: `ServerConfig.max_clients`.
        open_files: the open-file limit, when it lowered the maximum.
        reserved: descriptors kept for the server's own use then.
    """

    clients: int
    configured: int
    open_files: int | None = None
    reserved: int = 0


def client_cap(configured: int, open_files: int | None, in_use: int) -> ClientCap:
    """The clients that fit in `open_files` descriptors besides the server's own.

    The server keeps the `in_use` descriptors it already holds plus
    `FD_MARGIN` (half of what is left, under a tiny limit), so a client
    past the cap is refused with SERVER_FULL rather than by accept() failing.

    Args:
        configured: `ServerConfig.max_clients`.
        open_files: the soft open-file limit; None when there is none.
        in_use: descriptors open before any client is accepted.
    """
    if open_files is None:
        return ClientCap(clients=configured, configured=configured)
    free = max(0, open_files - in_use)
    margin = min(FD_MARGIN, free // 2)
    clients = free - margin
    if clients >= configured:
        return ClientCap(clients=configured, configured=configured)
    return ClientCap(
        clients=clients,
        configured=configured,
        open_files=open_files,
        reserved=in_use + margin,
    )


def _descriptors_in_use(reader_threads: int) -> int:
    """Descriptors this process has open; an estimate where it cannot tell."""
    for directory in ("/proc/self/fd", "/dev/fd"):
        try:
            # Listing the directory opens it: that one is listed too.
            return sum(1 for _ in Path(directory).iterdir()) - 1
        except OSError:
            continue
    # stdin/out/err, the log, a socket pair and a selector per thread
    # (readers, acceptor, flusher), the listener, SQLite (a file, its WAL
    # and shm per connection), the spare.
    return 3 + 1 + 3 * (reader_threads + 2) + 1 + 16 + 1


def _obtain_open_files(wanted: int) -> int | None:
    """Raise the soft open-file limit towards `wanted` where allowed.

    Returns:
        The soft limit in effect afterwards; None when there is none.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return None
    if soft >= wanted or soft == hard:
        return soft
    new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError) as exc:
        log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
        return soft
    log.info("raised the open-file limit from %d to %d", soft, new)
    return new


def _open_spare() -> int | None:
    """A descriptor to give up when accept() runs out of them; None if none is left."""
    try:
        return os.open(os.devnull, os.O_RDONLY)
    except OSError:
        return None


class AcceptFailures:
    """accept() out of descriptors: how long to pause, and a rate-limited log.

    At most one "accept failed" line per `interval` seconds; the failures in
    between are counted and reported in the next line (or by `report`, which
    the acceptor calls every turn, at most a second apart).

    Args:
        clock: monotonic seconds.
        interval: seconds between two lines at least.
    """

    def __init__(
        self, clock: Callable[[], float], interval: float = ACCEPT_LOG_INTERVAL
    ) -> None:
        self._clock = clock
        self._interval = interval
        self._pause = 0.0
        self._logged_at = -math.inf
        self._unlogged = 0
        self._refused = 0
        self._last_error = ""

    @property
    def pause(self) -> float:
        """The pause the last failure asked for; 0 once accept() works again."""
        return self._pause

    def failed(self, error: OSError, refused: int) -> float:
        """accept() failed with EMFILE or ENFILE.

        Args:
            error: what accept() raised.
            refused: waiting connections told SERVER_FULL after it.

        Returns:
            Seconds to stop polling the listening socket: short while
            waiting connections can still be refused, doubling up to
            `ACCEPT_PAUSE_MAX` while nothing can be done.
        """
        self._unlogged += 1
        self._refused += refused
        self._last_error = str(error)
        if refused or not self._pause:
            self._pause = ACCEPT_PAUSE_FIRST
        else:
            self._pause = min(ACCEPT_PAUSE_MAX, self._pause * 2)
        if self._clock() - self._logged_at >= self._interval:
            self._log()
        return self._pause

    def succeeded(self) -> None:
        """A turn of accept() calls ended without an error."""
        self._pause = 0.0

    def report(self, *, final: bool = False) -> None:
        """Log the failures not logged yet, if a line is allowed by now.

        Args:
            final: the server is stopping: log them whatever the time.
        """
        if self._unlogged and (
            final or self._clock() - self._logged_at >= self._interval
        ):
            self._log()

    def _log(self) -> None:
        if self._unlogged > 1:
            log.error(
                "accept failed %d times since the last report: %s; "
                "%d waiting connections refused",
                self._unlogged,
                self._last_error,
                self._refused,
            )
        else:
            log.error(
                "accept failed: %s; %d waiting connections refused",
                self._last_error,
                self._refused,
            )
        self._logged_at = self._clock()
        self._unlogged = self._refused = 0


def _refuse(sock: socket.socket, text: str) -> None:
    """Tell a connection we will not serve why (best effort), and close it."""
    try:
        sock.send(last_words(ErrorCode.SERVER_FULL, text), socket.MSG_DONTWAIT)
        sock.shutdown(socket.SHUT_WR)
        # Whatever the client already sent is read first: closing with
        # unread input would send RST, which can destroy the Error in flight.
        sock.recv(65536, socket.MSG_DONTWAIT)
    except OSError:
        pass
    sock.close()


class _Acceptor(SelectorLoop):
    """Calls `on_ready` whenever the listening socket has connections waiting.

    `on_ready` returns how long to stop polling the listening socket: the
    thread waits that long (`stop()` cuts the wait short) before its next
    `select`, which would otherwise report the same waiting connection again
    at once. `on_turn` runs before every `select`, at least once a second.
    """

    def __init__(
        self,
        listener: socket.socket,
        on_ready: Callable[[], float],
        on_turn: Callable[[], None],
    ) -> None:
        super().__init__("acceptor")
        self._on_ready = on_ready
        self._on_turn = on_turn
        self._selector.register(listener, selectors.EVENT_READ)

    def _before_select(self) -> None:
        try:
            self._on_turn()
        except Exception:
            log.exception("acceptor turn error")

    def _ready(self, key: selectors.SelectorKey) -> None:  # noqa: ARG002
        try:
            pause = self._on_ready()
        except Exception:
            log.exception("accept loop error")
            pause = 0.1
        if pause > 0:
            self._stopping.wait(pause)
