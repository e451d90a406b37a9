"""Fault injection for stored history (issue 14): the pieces of test_chaos.py.

A real server process that can be killed with SIGKILL and restarted on the
same port and data directory, a TCP relay that cuts connections at random
byte counts (mid-frame too), real client cores (`build_client`, the real
`Transport`, a journal on disk) driven by their own threads, and a
read-only look into the server's SQLite file. Loopback only; every loop is
bounded in time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import random
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import attrs

import server
from clients.core import events as ev
from clients.core.client import ChatClient
from clients.core.launch import Security, build_client
from clients.core.session import Backoff
from clients.core.transport import TransportEvent
from protocol import nick_key

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
DATABASE = "chinwag.sqlite3"


# --- settings -------------------------------------------------------------------


def _env_int(name: str, default: int, low: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        msg = f"{name} must be a whole number, not {raw!r}"
        raise ValueError(msg) from None
    if value < low:
        msg = f"{name} must be at least {low}, not {value}"
        raise ValueError(msg)
    return value


def _env_float(name: str, default: float, low: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        msg = f"{name} must be a number of seconds, not {raw!r}"
        raise ValueError(msg) from None
    if not value >= low:
        msg = f"{name} must be at least {low}, not {value}"
        raise ValueError(msg)
    return value


@attrs.frozen(kw_only=True)
class ChaosSettings:
    """How much chaos: the short run by default, longer from the environment.

    Attributes:
        clients: chatting clients.
        messages: lines typed in all (spread evenly over the clients).
        seconds: the window over which they are typed; kills, client
            restarts and connection cuts happen inside it.
        kills: SIGKILLs of the server (each followed by a restart).
        restarts: client "crashes" (the client core is dropped without a
            word and a new one starts from the same journal).
        settle: seconds the quiet period may take, at most.
        seed: the schedule's random seed (printed on failure).
    """

    clients: int = 4
    messages: int = 300
    seconds: float = 12.0
    kills: int = 2
    restarts: int = 1
    settle: float = 45.0
    seed: int = 0

    @property
    def per_client(self) -> int:
        return -(-self.messages // self.clients)

    @property
    def pace(self) -> float:
        """Seconds between two lines of one client."""
        return self.seconds / self.per_client

    @property
    def budget(self) -> float:
        """A generous bound on the whole test, for pytest-timeout."""
        return self.seconds + self.settle + 10.0 * self.kills + 90.0

    @classmethod
    def from_env(cls) -> ChaosSettings:
        """CHINWAG_CHAOS_{CLIENTS,MESSAGES,SECONDS,KILLS,RESTARTS,SETTLE,SEED}.

        Raises:
            ValueError: a variable is malformed.
        """
        seed_text = os.environ.get("CHINWAG_CHAOS_SEED", "")
        seed = (
            _env_int("CHINWAG_CHAOS_SEED", 0, 0)
            if seed_text
            else random.SystemRandom().randrange(2**32)
        )
        short = cls()
        settings = cls(
            clients=_env_int("CHINWAG_CHAOS_CLIENTS", short.clients, 2),
            messages=_env_int("CHINWAG_CHAOS_MESSAGES", short.messages, 2),
            seconds=_env_float("CHINWAG_CHAOS_SECONDS", short.seconds, 1.0),
            kills=_env_int("CHINWAG_CHAOS_KILLS", short.kills, 0),
            restarts=_env_int("CHINWAG_CHAOS_RESTARTS", short.restarts, 0),
            settle=_env_float("CHINWAG_CHAOS_SETTLE", short.settle, 5.0),
            seed=seed,
        )
        if settings.messages < settings.clients:
            msg = "CHINWAG_CHAOS_MESSAGES must be at least CHINWAG_CHAOS_CLIENTS"
            raise ValueError(msg)
        return settings


def settings_or_default() -> ChaosSettings:
    """`from_env`, or the defaults when the environment is malformed (for the
    timeout marker at import; the test itself reports the error)."""
    try:
        return ChaosSettings.from_env()
    except ValueError:
        return ChaosSettings()


# --- the server process -------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


class ServerProcess:
    """`python -m server` on a fixed loopback port, killed and started at will.

    Args:
        workdir: its data directory, logs and captured output go here.
        port: the port every incarnation listens on.
    """

    def __init__(self, workdir: Path, port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.data_dir = workdir / "server-data"
        self.log_file = workdir / "server.log"
        self.database = self.data_dir / DATABASE
        self.starts = 0
        self.kills = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start it and wait until it listens; retries while the port is busy.

        Raises:
            RuntimeError: it did not come up in `timeout` seconds.
        """
        assert not self.alive, "the server is running already"
        deadline = time.monotonic() + timeout
        output = ""
        while time.monotonic() < deadline:
            proc, out_path = self._launch()
            while time.monotonic() < deadline:
                output = out_path.read_text(errors="replace")
                if "listening on" in output:
                    self._proc = proc
                    return
                if proc.poll() is not None:
                    break
                time.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if "cannot listen" not in output:
                break  # not a busy port: retrying will not help
            time.sleep(0.1)
        msg = f"the server did not start on port {self.port}: {output!r}"
        raise RuntimeError(msg)

    def spawn(self) -> None:
        """Start it without waiting (to kill it while it starts up)."""
        assert not self.alive, "the server is running already"
        self._proc, _ = self._launch()

    def _launch(self) -> tuple[subprocess.Popen[bytes], Path]:
        self.starts += 1
        out_path = self.workdir / f"server-out-{self.starts}.txt"
        command = [
            sys.executable, "-m", "server",
            "--host", LOOPBACK, "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            "--log-file", str(self.log_file),
            "--name", "chaos",
        ]  # fmt: skip
        with out_path.open("wb") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=_same_code(),
            )
        return proc, out_path

    def create_accounts(self, names: list[str], password: str) -> None:
        """`chinwag-server admin create-user` for each (before the server starts).

        Raises:
            RuntimeError: a command failed.
        """
        env = _same_code()
        env["CHINWAG_PASSWORD"] = password
        self.data_dir.mkdir(parents=True, exist_ok=True)
        procs = []
        for name in names:
            command = [sys.executable, "-m", "server", "admin"]
            command += ["--data-dir", str(self.data_dir), "create-user", name]
            procs.append(
                subprocess.Popen(
                    command,
                    env=env,
                    cwd=self.workdir,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        failures = []
        for name, proc in zip(names, procs, strict=True):
            try:
                output, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                output, _ = proc.communicate()
            if proc.returncode != 0:
                failures.append(f"{name}: {output.strip()}")
        if failures:
            msg = f"could not create the accounts: {failures}"
            raise RuntimeError(msg)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, no clean close of the database."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        self.kills += 1

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, as an admin stops it; SIGKILL if it does not leave."""
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _same_code() -> dict[str, str]:
    """The environment for `python -m server` to run the code under test
    (the checkout these tests come from), whatever is installed."""
    env = dict(os.environ)
    root = str(Path(server.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


@attrs.frozen
class StoredRow:
    id: int
    text: str
    txn: bytes | None
    sender: str
    target: str | None

    def visible_to(self, account: str | None) -> bool:
        """Spec 12.4: to everyone, or a direct message to or from `account`."""
        if self.target is None:
            return True
        return account is not None and nick_key(account) in {
            nick_key(self.sender),
            nick_key(self.target),
        }


def stored_rows(database: Path) -> list[StoredRow]:
    """Every stored message, read through a read-only connection."""
    if not database.exists():
        return []
    uri = f"{database.as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10.0)) as db:
        rows = db.execute(
            "SELECT id, text, txn, sender, target FROM messages ORDER BY id"
        ).fetchall()
    return [
        StoredRow(
            int(i),
            str(text),
            None if txn is None else bytes(txn),
            str(sender),
            None if target is None else str(target),
        )
        for i, text, txn, sender, target in rows
    ]


# --- the relay that cuts connections ------------------------------------------------


class _FrameCursor:
    """Follows the frame boundaries (4-byte length + body) of one direction."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._body_left = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._body_left:
                take = min(self._body_left, len(view))
                self._body_left -= take
                view = view[take:]
                continue
            take = min(4 - len(self._header), len(view))
            self._header += view[:take]
            view = view[take:]
            if len(self._header) == 4:
                self._body_left = int.from_bytes(self._header, "big")
                self._header.clear()

    @property
    def at_boundary(self) -> bool:
        return not self._header and not self._body_left


@attrs.frozen
class ProxyStats:
    connections: int
    refused: int
    cuts: dict[str, int]
    mid_frame: int


_HIGH_WATER = 1 << 20
_CUT_MODES = ("close", "reset", "stall")
_CUT_WEIGHTS = (0.45, 0.35, 0.2)


class _Leg:
    """One direction: bytes read from `source`, waiting to be written to `sink`."""

    def __init__(self, source: socket.socket, sink: socket.socket) -> None:
        self.source = source
        self.sink = sink
        self.buffer = bytearray()
        self.budget: int | None = None
        self.frames = _FrameCursor()
        self.eof = False


class _Pair:
    """A client connection and its connection to the server."""

    def __init__(
        self, client: socket.socket, upstream: socket.socket, rng: random.Random
    ) -> None:
        self.up = _Leg(client, upstream)
        self.down = _Leg(upstream, client)
        self.rng = rng
        self.mode = "close"
        self.stalled_until: float | None = None
        self.closed = False

    def legs(self) -> tuple[_Leg, _Leg]:
        return self.up, self.down

    def arm(self) -> None:
        """Cut after a random number of bytes in one direction or both."""
        self.mode = self.rng.choices(_CUT_MODES, _CUT_WEIGHTS)[0]
        which = self.rng.random()
        if which < 0.7:
            self.down.budget = self.rng.randint(0, 6000)
        if which > 0.4:
            self.up.budget = self.rng.randint(0, 1000)

    def disarm(self) -> None:
        self.up.budget = self.down.budget = None


class ChaosProxy:
    """A relay on 127.0.0.1 between the clients and the server.

    It forwards bytes in random-sized pieces. While `chaotic`, each new
    connection is armed to be cut after a random number of bytes (usually
    in the middle of a frame): closed, reset (RST), or stalled (nothing
    relayed, both ends left open for a while, like a dead network path).
    Connecting while the server is down is answered by closing at once.

    Args:
        target: the server's address.
        seed: the relay's random source.
        lifetime: the relay stops by itself after this many seconds.
    """

    def __init__(self, target: tuple[str, int], seed: int, lifetime: float) -> None:
        self._target = target
        self._rng = random.Random(seed)
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.setblocking(False)
        self.address: tuple[str, int] = self._listener.getsockname()[:2]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._interest: dict[socket.socket, int] = {}
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._chaotic = False
        self._connections = self._refused = self._mid_frame = 0
        self._cuts = dict.fromkeys(_CUT_MODES, 0)
        self._stop = threading.Event()
        self._deadline = time.monotonic() + lifetime
        self._thread = threading.Thread(target=self._run, name="chaos-proxy")
        self._thread.start()

    @property
    def stats(self) -> ProxyStats:
        with self._lock:
            return ProxyStats(
                self._connections, self._refused, dict(self._cuts), self._mid_frame
            )

    def set_chaotic(self, chaotic: bool) -> None:
        """Arm new connections (True), or disarm every connection (False)."""
        with self._lock:
            self._chaotic = chaotic
            if not chaotic:
                for pair in self._pairs:
                    pair.disarm()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        for pair in list(self._pairs):
            self._close_pair(pair)
        self._selector.close()
        self._listener.close()

    # --- the relay thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                for key, mask in self._selector.select(0.02):
                    if key.data is None:
                        self._accept()
                        continue
                    pair: _Pair = key.data
                    sock: socket.socket = key.fileobj  # type: ignore[assignment]
                    if pair.closed:
                        continue
                    if mask & selectors.EVENT_READ:
                        self._read(pair, sock)
                    if mask & selectors.EVENT_WRITE and not pair.closed:
                        self._write(pair, sock)
                self._housekeeping()
        except Exception:
            log.exception("chaos proxy failed")

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self._target, timeout=2.0)
        except OSError:
            with self._lock:
                self._refused += 1
            client.close()
            return
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)
        pair = _Pair(client, upstream, self._rng)
        with self._lock:
            self._connections += 1
            if self._chaotic and self._rng.random() < 0.8:
                pair.arm()
            self._pairs.append(pair)
        for sock in (client, upstream):
            self._set_interest(sock, pair, selectors.EVENT_READ)

    def _read(self, pair: _Pair, sock: socket.socket) -> None:
        leg = pair.up if sock is pair.up.source else pair.down
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data:
            if pair.stalled_until is None:
                leg.buffer += data
            return
        leg.eof = True
        if pair.stalled_until is not None:
            if leg is pair.up:
                # The client gave up on a dead path; the server still
                # believes in it for a moment (its session can be resumed).
                pair.stalled_until = time.monotonic() + self._rng.uniform(0.3, 2.5)
            else:
                self._close_pair(pair)
            return
        if not leg.buffer:
            self._close_pair(pair)

    def _write(self, pair: _Pair, sock: socket.socket) -> None:
        leg = pair.up if sock is pair.up.sink else pair.down
        if not leg.buffer or pair.stalled_until is not None:
            return
        piece = self._rng.choice(
            (self._rng.randint(1, 16), self._rng.randint(1, 512), 65536)
        )
        piece = min(piece, len(leg.buffer))
        if leg.budget is not None:
            piece = min(piece, leg.budget)
        sent = 0
        if piece:
            try:
                sent = sock.send(leg.buffer[:piece])
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._close_pair(pair)
                return
        leg.frames.feed(bytes(leg.buffer[:sent]))
        del leg.buffer[:sent]
        if leg.budget is not None:
            leg.budget -= sent
            if leg.budget <= 0:
                self._cut(pair, leg)
                return
        if leg.eof and not leg.buffer:
            self._close_pair(pair)

    def _cut(self, pair: _Pair, leg: _Leg) -> None:
        with self._lock:
            self._cuts[pair.mode] += 1
            if not leg.frames.at_boundary:
                self._mid_frame += 1
        pair.disarm()
        if pair.mode == "stall":
            # Sometimes over the clients' 3 s of patience: they give up and
            # come back while the server still holds the dead connection.
            pair.stalled_until = time.monotonic() + self._rng.uniform(1.0, 6.0)
            for each in pair.legs():
                each.buffer.clear()
            return
        if pair.mode == "reset":
            for each in pair.legs():
                with contextlib.suppress(OSError):
                    each.source.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
        self._close_pair(pair)

    def _close_pair(self, pair: _Pair) -> None:
        if pair.closed:
            return
        pair.closed = True
        with self._lock:
            if pair in self._pairs:
                self._pairs.remove(pair)
        for leg in pair.legs():
            sock = leg.source
            if self._interest.pop(sock, 0):
                with contextlib.suppress(KeyError, ValueError, OSError):
                    self._selector.unregister(sock)
            sock.close()

    def _housekeeping(self) -> None:
        now = time.monotonic()
        for pair in list(self._pairs):
            if pair.closed:
                continue
            if pair.stalled_until is not None and now >= pair.stalled_until:
                self._close_pair(pair)
                continue
            for leg in pair.legs():
                self._set_interest(leg.source, pair, self._wanted(pair, leg))

    @staticmethod
    def _wanted(pair: _Pair, leg: _Leg) -> int:
        """What to watch `leg.source` for: reading it, and writing to it."""
        stalled = pair.stalled_until is not None
        wanted = 0
        if not leg.eof and (stalled or len(leg.buffer) < _HIGH_WATER):
            wanted |= selectors.EVENT_READ
        towards = pair.down if leg is pair.up else pair.up
        if towards.buffer and not stalled:
            wanted |= selectors.EVENT_WRITE
        return wanted

    def _set_interest(self, sock: socket.socket, pair: _Pair, wanted: int) -> None:
        current = self._interest.get(sock, 0)
        if wanted == current:
            return
        if current == 0:
            self._selector.register(sock, wanted, pair)
        elif wanted == 0:
            self._selector.unregister(sock)
        else:
            self._selector.modify(sock, wanted, pair)
        self._interest[sock] = wanted


# --- the clients ---------------------------------------------------------------------


@attrs.define
class Incarnation:
    """What one run of a client's core showed (a restart starts a new one)."""

    number: int
    lines: list[ev.ChatLine] = attrs.field(factory=list)
    pending: dict[int, str] = attrs.field(factory=dict)
    confirmed: list[str] = attrs.field(factory=list)
    not_delivered: list[str] = attrs.field(factory=list)
    errors: list[str] = attrs.field(factory=list)
    odd: list[str] = attrs.field(factory=list)
    connects: int = 0
    logins: int = 0
    kept_notices: int = 0
    """"N messages while you were away": direct messages kept for it."""

    def copy(self) -> Incarnation:
        return attrs.evolve(
            self,
            lines=list(self.lines),
            pending=dict(self.pending),
            confirmed=list(self.confirmed),
            not_delivered=list(self.not_delivered),
            errors=list(self.errors),
            odd=list(self.odd),
        )


@attrs.frozen
class ClientState:
    """A consistent copy of what a `ChaosClient` knows, for the test thread.

    Attributes:
        account: the account it logs in to; None for a guest.
        typed: every line typed (and accepted), with its addressee (None:
            everyone).
    """

    nick: str
    account: str | None
    typed: tuple[tuple[str, str | None], ...]
    incarnations: tuple[Incarnation, ...]
    connected: bool
    catching_up: bool
    unconfirmed: int
    failure: str | None

    def shown(self) -> Iterator[ev.ChatLine]:
        for incarnation in self.incarnations:
            yield from incarnation.lines

    def confirmed(self) -> set[str]:
        return {text for i in self.incarnations for text in i.confirmed}


class ChaosClient:
    """One chatting user: a real client core run by its own thread (its "UI").

    It types `count` numbered lines ("c3-0042 and some words"), the first
    as soon as it starts and the rest, once `go()` is called, one every
    `pace` seconds (with jitter); some of them as direct messages to one of
    `friends`. `restart()` drops the client core as a crash would (no Bye,
    no journal write) and starts a new one on the same journal.

    Args:
        index: its number (the nick is `c<index>`).
        address: where to connect (the relay).
        home: its private directory (journal, pins, tokens).
        password: log in to the account named like the nick (None: a guest).
        friends: accounts it sends direct messages to now and then.
        count: lines to type.
        pace: mean seconds between lines.
        seed: its random source.
        lifetime: the thread stops by itself after this many seconds.
    """

    def __init__(
        self,
        index: int,
        address: tuple[str, int],
        home: Path,
        *,
        password: str | None,
        friends: tuple[str, ...],
        count: int,
        pace: float,
        seed: int,
        lifetime: float,
    ) -> None:
        self.nick = f"c{index}"
        self._address = address
        self._home = home
        self._password = password
        self._friends = friends
        self._count = count
        self._pace = pace
        self._rng = random.Random(seed)
        self._deadline = time.monotonic() + lifetime
        self._lock = threading.Lock()
        self._incarnations: list[Incarnation] = []
        self._typed: list[tuple[str, str | None]] = []
        self._connected = False
        self._catching_up = False
        self._unconfirmed = -1
        self._failure: str | None = None
        self._closing = False
        self._go = threading.Event()
        self._stop = threading.Event()
        self._crash = threading.Event()
        self._away = 0.0
        self._next_line_at = 0.0
        self._thread = threading.Thread(target=self._run, name=f"chaos-{self.nick}")

    def start(self) -> None:
        self._thread.start()

    def go(self) -> None:
        """Start typing the numbered lines after the first."""
        self._go.set()

    def restart(self, away: float = 0.0) -> None:
        """Crash the client core; a new one starts `away` seconds later."""
        with self._lock:
            self._away = away
        self._crash.set()

    def stop(self) -> None:
        """Leave (Bye) and end the thread."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def state(self) -> ClientState:
        with self._lock:
            return ClientState(
                nick=self.nick,
                account=None if self._password is None else self.nick,
                typed=tuple(self._typed),
                incarnations=tuple(i.copy() for i in self._incarnations),
                connected=self._connected,
                catching_up=self._catching_up,
                unconfirmed=self._unconfirmed,
                failure=self._failure,
            )

    # --- its thread ------------------------------------------------------------------

    def _boot(self) -> tuple[ChatClient, queue.SimpleQueue[TransportEvent]]:
        inbox: queue.SimpleQueue[TransportEvent] = queue.SimpleQueue()
        security = Security(
            plaintext=True,
            login=self._password is not None,
            program="chaos",
            known_servers=self._home / "known_servers.json",
            tokens=self._home / "tokens.json",
            journals=self._home / "journal",
        )
        client = build_client(
            self._address[0],
            self._address[1],
            self.nick,
            inbox.put,
            security=security,
            session_options={
                "backoff": Backoff(base=0.05, cap=0.5),
                "ping_interval": 1.0,
                "dead_after": 3.0,
            },
        )
        with self._lock:
            self._incarnations.append(Incarnation(len(self._incarnations) + 1))
        self._feed(client, client.start())
        return client, inbox

    def _run(self) -> None:
        client: ChatClient | None = None
        try:
            client, inbox = self._boot()
            self._type(client)  # the first line: before anything else
            last_tick = time.monotonic()
            while not self._stop.is_set() and time.monotonic() < self._deadline:
                if self._crash.is_set():
                    self._crash.clear()
                    self._die(client)
                    with self._lock:
                        away = self._away
                    # Nobody types into a client that is not running.
                    if self._stop.wait(away):
                        break
                    client, inbox = self._boot()
                try:
                    event = inbox.get(timeout=0.01)
                except queue.Empty:
                    pass
                else:
                    self._feed(client, client.handle(event))
                now = time.monotonic()
                if now - last_tick >= 0.02:
                    last_tick = now
                    self._feed(client, client.tick())
                if self._go.is_set():
                    self._type(client)
                self._publish(client)
        except Exception as exc:
            log.exception("chaos client %s failed", self.nick)
            with self._lock:
                self._failure = f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._closing = True
            if client is not None:
                client.close("chaos over")

    def _die(self, client: ChatClient) -> None:
        """As if the process died: the socket goes, nothing else happens."""
        transport = client._transport
        client._transport = None
        if transport is not None:
            transport.close(flush=False)

    def _type(self, client: ChatClient) -> None:
        now = time.monotonic()
        with self._lock:
            typed = len(self._typed)
        if typed >= self._count or now < self._next_line_at:
            return
        text = f"{self.nick}-{typed:04d}{self._filler()}"
        friend = None
        if typed and self._friends and self._rng.random() < DIRECT_SHARE:
            friend = self._rng.choice(self._friends)
        result = client.submit(text if friend is None else f"@{friend} {text}")
        self._feed(client, result.events)
        self._next_line_at = now + self._pace * self._rng.uniform(0.5, 1.5)
        if result.accepted:
            with self._lock:
                self._typed.append((text, friend))

    def _filler(self) -> str:
        """Words after the number: mostly a few, now and then a long line,
        so frames and history pages come in every size."""
        rng = self._rng
        count = (
            rng.randint(300, 3000) // 6 if rng.random() < 0.05 else rng.randint(0, 8)
        )
        return "".join(" " + rng.choice(_WORDS) for _ in range(count))

    def _publish(self, client: ChatClient) -> None:
        session = client.session
        with self._lock:
            self._connected = session.status is ev.ConnectionStatus.CONNECTED
            self._catching_up = session._scrollback.catching_up
            self._unconfirmed = session.unconfirmed

    def _feed(self, client: ChatClient, events: list[ev.UiEvent]) -> None:
        """Record what the UI would show; answer the password question as
        the user would (the first login; a saved token does the rest)."""
        pending = list(events)
        while pending:
            event = pending.pop(0)
            with self._lock:
                if self._closing or not self._incarnations:
                    return
                now = self._incarnations[-1]
                _note(now, event)
            if isinstance(event, ev.PasswordRequest) and self._password is not None:
                with self._lock:
                    now.logins += 1
                pending += client.answer_password(event.id, self._password)


DIRECT_SHARE = 0.15
"""The share of lines sent as direct messages (by clients with friends)."""

_WORDS = (
    "tea",
    "lunch",
    "café",
    "ok",
    "naïve",
    "über",
    "日本",
    "emoji🙂",
    "later",
    "x",
)


def _note(now: Incarnation, event: ev.UiEvent) -> None:
    match event:
        case ev.ChatLine():
            now.lines.append(event)
        case ev.Pending(local_id=local_id, text=text):
            now.pending[local_id] = text
        case ev.PendingDone(local_id=local_id, delivered=delivered):
            text = now.pending.get(local_id, f"<unknown local id {local_id}>")
            (now.confirmed if delivered else now.not_delivered).append(text)
        case ev.Notice(level=ev.NoticeLevel.ERROR, text=text):
            now.errors.append(text)
        case ev.Notice(text=text) if text.endswith("while you were away"):
            now.kept_notices += 1
        case ev.ConnectionChanged(status=ev.ConnectionStatus.CONNECTED):
            now.connects += 1
        case ev.ConnectionChanged(status=ev.ConnectionStatus.DISCONNECTED, detail=d):
            now.errors.append(f"gave up connecting: {d}")
        case ev.EarlierLines() | ev.SearchResults() | ev.Context():
            now.odd.append(type(event).__name__)
        case ev.TrustQuestion():
            now.errors.append(f"unexpected question: {event.text}")
        case _:
            pass
