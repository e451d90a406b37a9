"""An IRC load generator: the Chinwag fan-out scenario spoken to an IRC server.

N clients on one selector in this process register (NICK/USER), JOIN one
channel, and S of them PRIVMSG it with texts that carry their send time,
as `bench/loadgen.py` and `bench/scenarios.py` do for Chinwag. Every client
counts the lines it receives (an IRC server sends one line per delivery);
twenty probe clients parse every line and measure end-to-end latency from
the send time (CLOCK_MONOTONIC, shared by every process). Only loopback
addresses are ever used, and every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import re
import selectors
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import attrs

from bench.loadgen import (
    TEXT_DIGITS,
    SelectorSwarm,
    chat_text,
    open_socket,
    own_cpu_seconds,
    percentile_ms,
    probe_indexes,
)

CHANNEL = "#bench"
PROBES = 20
_PRIVMSG = f" PRIVMSG {CHANNEL} :".encode()


class MeasuredServer(Protocol):
    """What the scenarios need from the server under test (its own process)."""

    @property
    def address(self) -> tuple[str, int]: ...

    def cpu_seconds(self) -> float: ...

    def rss_bytes(self) -> int: ...

    def alive(self) -> bool: ...


def is_loopback(host: str) -> bool:
    """127.0.0.0/8 only: the benchmark never targets anything else."""
    return host.startswith("127.") and all(
        part.isdigit() and int(part) < 256 for part in host.split(".")
    )


@attrs.define(eq=False)
class IrcClient:
    nick: str
    sock: socket.socket
    probe: bool = False
    registered: bool = False
    """RPL_WELCOME (001) arrived."""
    joined: bool = False
    """RPL_ENDOFNAMES (366) for the channel arrived: the client is in."""
    reading: bool = True
    closed: bool = False
    rx_lines: int = 0
    mask: int = 0
    outbox: bytearray = attrs.field(factory=bytearray)
    partial: bytearray = attrs.field(factory=bytearray)
    """The start of a line whose end has not arrived yet (parsing clients)."""
    error: str = ""
    """The server's ERROR line, if it closed the connection with one."""


@attrs.define
class IrcSwarm(SelectorSwarm[IrcClient]):
    """IRC clients of one run; `pump` moves bytes until a deadline."""

    address: tuple[str, int]
    clients: list[IrcClient] = attrs.field(factory=list)
    selector: selectors.BaseSelector = attrs.field(factory=selectors.DefaultSelector)
    latencies_ns: list[int] = attrs.field(factory=list)
    registered_at: float = 0.0
    joined_at: float = 0.0

    def connect(
        self,
        count: int,
        probes: int,
        *,
        timeout: float = 120.0,
        sources: Sequence[str] = (),
        in_flight: int = 0,
    ) -> tuple[float, float]:
        """Open `count` connections; each registers and joins the channel.

        Args:
            count: clients to connect.
            probes: how many of them parse what they receive (spread evenly
                over the connecting order, `probe_indexes`).
            timeout: seconds to wait for the last end of NAMES.
            sources: local addresses (127.0.0.x) to spread the connections
                over, round-robin; empty lets the kernel pick.
            in_flight: if > 0, at most this many clients connecting and not
                joined yet at once (ngIRCd listens with a backlog of 10).

        Returns:
            Seconds from the first connect to the last RPL_WELCOME, and to
            the last end of the channel's NAMES list (registered and joined).

        Raises:
            TimeoutError: not every client joined in time.
            ConnectionError: some were closed before they joined.
            ValueError: a non-loopback address was given.
        """
        if not is_loopback(self.address[0]) or not all(map(is_loopback, sources)):
            msg = "the benchmark only ever targets loopback"
            raise ValueError(msg)
        width = max(4, len(str(count - 1)))
        started = time.monotonic()

        chosen = probe_indexes(count, probes)

        def open_client(index: int) -> IrcClient:
            source = sources[index % len(sources)] if sources else None
            return self._open(index, width, index in chosen, source)

        if not self._open_paced(
            count, in_flight, started + timeout, open_client, lambda c: c.joined
        ):
            joined = sum(c.joined for c in self.clients)
            msg = f"only {joined} of {count} IRC clients joined in {timeout:g} s"
            raise TimeoutError(msg)
        closed = [c for c in self.clients if c.closed]
        if closed:
            msg = (
                f"{len(closed)} of {count} IRC clients were closed while joining "
                f"(first error: {closed[0].error or 'connection closed'})"
            )
            raise ConnectionError(msg)
        return self.registered_at - started, self.joined_at - started

    def _open(
        self, index: int, width: int, probe: bool, source: str | None
    ) -> IrcClient:
        sock = open_socket(self.address, source)
        client = IrcClient(f"c{index:0{width}d}", sock, probe=probe)
        client.outbox += (
            f"NICK {client.nick}\r\nUSER u{index:0{width}d} 0 * :bench\r\n"
        ).encode()
        self.clients.append(client)
        self._update(client)
        return client

    def send(self, client: IrcClient, text: str) -> None:
        client.outbox += f"PRIVMSG {CHANNEL} :{text}\r\n".encode()
        self._flush(client)

    def reset_counts(self) -> None:
        for client in self.clients:
            client.rx_lines = 0
        self.latencies_ns.clear()

    def received_lines(self) -> int:
        return sum(c.rx_lines for c in self.clients)

    def closed_count(self) -> int:
        return sum(c.closed for c in self.clients)

    def _read(self, client: IrcClient) -> None:
        data = self._receive(client)
        if not data:
            return
        client.rx_lines += data.count(b"\n")
        if client.joined and not client.probe:
            return  # counting is all a plain member does once it is in
        now = time.monotonic_ns()
        client.partial += data
        *lines, rest = client.partial.split(b"\n")
        client.partial = bytearray(rest)
        for line in lines:
            self._line(client, bytes(line.rstrip(b"\r")), now)
            if client.joined and not client.probe:
                # What follows its end of NAMES is only counted (others'
                # JOINs when thousands arrive at once): parsing it would cost
                # the generator O(N²).
                client.partial.clear()
                return

    def _line(self, client: IrcClient, line: bytes, now: int) -> None:
        if client.joined:
            start = line.find(_PRIVMSG)
            if start >= 0:
                text = line[start + len(_PRIVMSG) :]
                self.latencies_ns.append(now - int(text[:TEXT_DIGITS]))
                return
        if line.startswith(b"PING "):
            client.outbox += b"PONG " + line[5:] + b"\r\n"
            self._flush(client)
        elif line.startswith(b"ERROR "):
            client.error = line.decode(errors="replace")
        elif line.startswith(b":"):
            command = line.split(b" ", 2)[1:2]
            if command == [b"001"] and not client.registered:
                client.registered = True
                self.registered_at = time.monotonic()
                client.outbox += f"JOIN {CHANNEL}\r\n".encode()
                self._flush(client)
            elif command == [b"366"] and not client.joined:
                client.joined = True
                client.rx_lines = 0
                self.joined_at = time.monotonic()
            elif command in ([b"432"], [b"433"], [b"451"], [b"471"], [b"474"]):
                client.error = line.decode(errors="replace")


# --- the scenarios, as bench/scenarios.py runs them for Chinwag ---------------


def setup(
    server: MeasuredServer,
    clients: int,
    *,
    sources: Sequence[str] = (),
    in_flight: int = 0,
    timeout: float = 120.0,
) -> tuple[IrcSwarm, dict[str, Any]]:
    """Connect `clients` to a started server; their greeting and memory figures."""
    time.sleep(0.2)
    rss_idle = server.rss_bytes()
    swarm = IrcSwarm(server.address)
    overflows = listen_overflows()
    try:
        registered, joined = swarm.connect(
            clients,
            probes=min(clients, PROBES),
            sources=sources,
            in_flight=in_flight,
            timeout=timeout,
        )
        overflows = listen_overflows() - overflows
        swarm.settle(server.cpu_seconds, limit=max(60.0, timeout))
    except BaseException:
        swarm.close()
        raise
    rss_loaded = server.rss_bytes()
    return swarm, {
        "registered_s": round(registered, 3),
        "greet_s": round(joined, 3),
        "kb_per_client": round((rss_loaded - rss_idle) / clients / 1024, 1),
        "listen_overflows": overflows,
        "in_flight": in_flight,
    }


def measure(
    swarm: IrcSwarm,
    server: MeasuredServer,
    *,
    clients: int,
    senders: int,
    send: Callable[[], int],
) -> dict[str, Any]:
    """Run `send()` (which returns the messages sent) and account for it.

    An IRC server does not echo a PRIVMSG to its sender, so each message
    is delivered to the `clients - 1` others.
    """
    swarm.reset_counts()
    closed0 = swarm.closed_count()
    cpu0, gen0, t0 = server.cpu_seconds(), own_cpu_seconds(), time.monotonic()
    sent = send()
    expected = sent * (clients - 1)
    swarm.drain(swarm.received_lines, expected, limit=30.0)
    elapsed = time.monotonic() - t0
    cpu1, gen1 = server.cpu_seconds(), own_cpu_seconds()
    deliveries = swarm.received_lines()
    return {
        "clients": clients,
        "senders": senders,
        "messages": sent,
        "deliveries": deliveries,
        "lost": expected - deliveries,
        "dropped_clients": swarm.closed_count() - closed0,
        "deliveries_per_s": round(deliveries / elapsed),
        "server_us_per_delivery": round((cpu1 - cpu0) / max(deliveries, 1) * 1e6, 2),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "p50_ms": round(percentile_ms(swarm.latencies_ns, 0.50), 2),
        "p99_ms": round(percentile_ms(swarm.latencies_ns, 0.99), 2),
        "latency_samples": len(swarm.latencies_ns),
        "generator_busy": round((gen1 - gen0) / elapsed, 2),
        "seconds": round(elapsed, 2),
    }


def fixed_rate(
    server: MeasuredServer,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    padding: int = 0,
    in_flight: int = 0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Deliveries at a fixed total rate (`rate` a second) for `duration` s.

    `in_flight` and `timeout` are `IrcSwarm.connect`'s.
    """
    swarm, info = setup(server, clients, in_flight=in_flight, timeout=timeout)
    talkers = swarm.clients[-senders:]
    # Seconds between two messages of one sender; each reaches clients - 1.
    interval = senders * (clients - 1) / rate

    def send() -> int:
        return swarm.send_evenly(
            talkers, interval=interval, duration=duration, padding=padding
        )

    try:
        result = measure(swarm, server, clients=clients, senders=senders, send=send)
        return {"scenario": "fixed-rate", "target_per_s": rate, **result, **info}
    finally:
        swarm.close()


def flat_out(
    server: MeasuredServer,
    *,
    clients: int,
    senders: int,
    messages: int,
    in_flight: int = 0,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Every sender sends `messages` as fast as its socket takes them.

    `in_flight` and `timeout` are `IrcSwarm.connect`'s.
    """
    swarm, info = setup(server, clients, in_flight=in_flight, timeout=timeout)
    talkers = swarm.clients[-senders:]

    def send() -> int:
        remaining = dict.fromkeys(talkers, messages)
        deadline = time.monotonic() + 120.0
        while remaining and time.monotonic() < deadline:
            for talker in list(remaining):
                if talker.closed:
                    del remaining[talker]
                elif len(talker.outbox) < 65536:
                    swarm.send(talker, chat_text(0))
                    remaining[talker] -= 1
                    if not remaining[talker]:
                        del remaining[talker]
            swarm.pump(0)
        return senders * messages - sum(remaining.values())

    try:
        result = measure(swarm, server, clients=clients, senders=senders, send=send)
        return {"scenario": "flat-out", **result, **info}
    finally:
        swarm.close()


def line_size(nick: str = "c0000", user: str = "u0000", host: str = "127.0.0.1") -> int:
    """The size of one delivered PRIVMSG line (ngIRCd prefixes `~` to the user)."""
    text = "0" * TEXT_DIGITS
    return len(f":{nick}!~{user}@{host}{_PRIVMSG.decode()}{text}\r\n")


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text(encoding="ascii")
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) * 1024 if match else 0


def listen_overflows() -> int:
    """TcpExtListenOverflows: connections dropped because an accept queue was
    full (this network namespace, every listener; a SYN dropped so is sent
    again after 1 s, then 3 s, which is what slows a greeting)."""
    try:
        lines = Path("/proc/net/netstat").read_text(encoding="ascii").splitlines()
    except OSError:
        return 0
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            table = dict(zip(names.split(), values.split(), strict=False))
            return int(table.get("ListenOverflows", 0))
    return 0
