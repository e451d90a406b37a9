"""`python -m bench.ngircd` (`nox -s bench-vs-ngircd`): Chinwag against ngIRCd.

Both servers side by side in one run: the fan-out scenarios of bench/scenarios.py
for Chinwag (storage on, as it ships) and the same scenarios in IRC
(bench/irc_load.py) for ngIRCd, in interleaved rounds; medians in the table of
issue 16. Also: Chinwag over TLS against plaintext, Chinwag holding 10,000
clients, where holding more breaks, and a profile of the flat-out run. See
docs/performance.md. Only loopback addresses are used.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import multiprocessing
import os
import pstats
import re
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs
import psutil

import protocol as p
from bench import irc_load, scenarios
from bench.harness import flat_messages, raise_fd_limit, recording
from bench.irc_load import listen_overflows
from bench.loadgen import Client, Swarm, probe_indexes
from bench.server_proc import ServerProcess

# Where Debian puts the daemon; `shutil.which` looks there too, since sbin is
# often missing from a non-root PATH.
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")

_CONFIG = """\
# Written by bench/ngircd.py for one run: loopback only, limits opened up.
[Global]
\tName = bench.chinwag.test
\tInfo = ngIRCd under load from bench
\tAdminInfo1 = bench
\tAdminInfo2 = loopback
\tAdminEMail = bench@localhost
\tListen = {host}
\tPorts = {port}
\tMotdPhrase = "bench"
\tPidFile = {pid_file}
\tHelpFile = {help_file}
[Limits]
\t# 0: no limit on connections, per address and channels per user.
\tMaxConnections = 0
\tMaxConnectionsIP = 0
\tMaxJoins = 0
\tMaxNickLength = 16
\t# 0 turns penalty times (ngIRCd's flood throttling) off. What is left of
\t# its flood control is built in: at most 3 commands of a client per loop
\t# and a 32 KiB write buffer per client (a client further behind is
\t# dropped, as Chinwag drops one past its outbox).
\tMaxPenaltyTime = 0
\tPingTimeout = 3600
\tPongTimeout = 3600
\tIdleTimeout = 0
[Options]
\tDNS = no
\tIdent = no
\tPAM = no
\tRequireAuthPing = no
\tIncludeDir = {include_dir}
"""


# --- finding and running ngIRCd ---------------------------------------------


def find_ngircd(*, install: bool) -> tuple[str | None, str]:
    """The ngircd binary, installed with apt-get where missing and allowed.

    Returns:
        Its path (None if there is none) and what was done or why not.
    """
    search = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = shutil.which("ngircd", path=search)
    if found:
        return found, f"using {found}"
    if not install:
        return None, "ngircd is not installed (and --no-install was given)"
    if shutil.which("apt-get") is None:
        return None, "ngircd is not installed and there is no apt-get to install it"
    if os.geteuid() != 0:
        return None, "ngircd is not installed; as root run `apt-get install -y ngircd`"
    return _apt_install(search)


def _apt_install(search: str) -> tuple[str | None, str]:
    """`apt-get install -y ngircd`, with one `apt-get update` if that fails."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    output = ""
    for command in (
        ["apt-get", "install", "-y", "ngircd"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "ngircd"],
    ):
        try:
            done = subprocess.run(
                command,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return None, f"`{' '.join(command)}` failed: {error}"
        output = done.stdout + done.stderr
        found = shutil.which("ngircd", path=search)
        if found:
            return found, f"installed ngircd with apt-get: {found}"
    tail = " | ".join(output.strip().splitlines()[-3:])
    return None, f"`apt-get install -y ngircd` did not install it: {tail}"


def ngircd_version(binary: str) -> str:
    try:
        done = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = (done.stdout or done.stderr).splitlines()
    return first[0].strip() if first else "unknown"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class NgircdProcess:
    """ngIRCd in the foreground on 127.0.0.1, with a generated configuration.

    Args:
        binary: the ngircd executable.
        workdir: where its configuration and log go (a fresh directory).
        host: the loopback address to listen on.
    """

    def __init__(self, binary: str, workdir: Path, host: str = "127.0.0.1") -> None:
        if not irc_load.is_loopback(host):
            msg = "the benchmark only ever targets loopback"
            raise ValueError(msg)
        workdir.mkdir(parents=True, exist_ok=True)
        include = workdir / "conf.d"
        include.mkdir(exist_ok=True)  # empty: no system snippets
        self.log_path = workdir / "ngircd.log"
        last_error = ""
        for _attempt in range(3):  # another process may take the free port first
            port = _free_port(host)
            config = workdir / "ngircd.conf"
            config.write_text(
                _CONFIG.format(
                    host=host,
                    port=port,
                    pid_file=workdir / "ngircd.pid",
                    help_file=workdir / "help.txt",
                    include_dir=include,
                ),
                encoding="utf-8",
            )
            with self.log_path.open("ab") as log:
                self.proc = subprocess.Popen(
                    [binary, "--nodaemon", "--config", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            self.address = (host, port)
            if self._wait_listening(10.0):
                return
            self.stop()
            last_error = self.log_tail(5)
        msg = f"ngircd did not start listening: {last_error}"
        raise RuntimeError(msg)

    def _wait_listening(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(self.address, timeout=1.0):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def alive(self) -> bool:
        return self.proc.poll() is None

    def cpu_seconds(self) -> float:
        return irc_load.proc_cpu_seconds(self.proc.pid)

    def rss_bytes(self) -> int:
        return irc_load.proc_rss_bytes(self.proc.pid)

    def log_tail(self, lines: int) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the side-by-side rounds --------------------------------------------------


def _chinwag(
    workdir: Path, args: argparse.Namespace, *, tls: bool
) -> list[dict[str, Any]]:
    """Chinwag flat out, then at the fixed rate (a fresh server each)."""
    kind = "tls" if tls else "plain"
    (workdir / f"flat-{kind}").mkdir()
    (workdir / f"fixed-{kind}").mkdir()
    try:
        return _chinwag_runs(workdir, args, kind=kind, tls=tls)
    except BaseException:
        _stop_stray_servers()
        raise


def _chinwag_runs(
    workdir: Path, args: argparse.Namespace, *, kind: str, tls: bool
) -> list[dict[str, Any]]:
    overflows = listen_overflows()
    flat = scenarios.flat_out(
        workdir / f"flat-{kind}",
        clients=args.clients,
        senders=args.senders,
        messages=flat_messages(args.messages, args.clients, args.senders),
        tls=tls,
    )
    flat["listen_overflows"] = listen_overflows() - overflows
    overflows = listen_overflows()
    fixed = scenarios.fixed_rate(
        workdir / f"fixed-{kind}",
        clients=args.clients,
        senders=args.senders,
        rate=args.rate,
        duration=args.duration,
        tls=tls,
    )
    fixed["listen_overflows"] = listen_overflows() - overflows
    return [flat, fixed]


def _stop_stray_servers() -> None:
    """Stop the Chinwag servers this process started and a failed scenario
    left running (`bench.scenarios` starts one before connecting, and a
    failed connect leaves it): only our own children, by their pid."""
    for child in psutil.Process().children():
        try:
            command = child.cmdline()
        except psutil.Error:
            continue
        if command[1:3] == ["-m", "server"] or command[1:2] == ["-c"]:
            child.terminate()
            try:
                child.wait(timeout=20)
            except psutil.TimeoutExpired:
                child.kill()


def _ngircd(
    binary: str, workdir: Path, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """ngIRCd flat out, then at the fixed rate (a fresh server each)."""
    rows = []
    for name in ("flat", "fixed"):
        server = NgircdProcess(binary, workdir / f"ngircd-{name}")
        try:
            if name == "flat":
                row = irc_load.flat_out(
                    server,
                    clients=args.clients,
                    senders=args.senders,
                    messages=flat_messages(args.messages, args.clients, args.senders),
                    in_flight=args.irc_in_flight,
                )
            else:
                row = irc_load.fixed_rate(
                    server,
                    clients=args.clients,
                    senders=args.senders,
                    rate=args.rate,
                    duration=args.duration,
                    in_flight=args.irc_in_flight,
                )
            if not server.alive():
                row["error"] = f"ngircd exited: {server.log_tail(5)}"
            drops = server.log_tail(2000).count("Write buffer space exhausted")
            row["ngircd_sendq_drops"] = drops
        finally:
            server.stop()
        rows.append(row)
    return rows


def _median(rows: list[dict[str, Any]], key: str) -> float:
    values = [float(r[key]) for r in rows if r.get(key) is not None]
    values = [v for v in values if v == v]  # noqa: PLR0124 - drop NaN
    return statistics.median(values) if values else float("nan")


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per server (`chinwag`, `chinwag-tls`, `ngircd`) and scenario."""
    summary: dict[str, Any] = {"scenario": "vs-ngircd-summary"}
    for server in ("chinwag", "chinwag-tls", "ngircd"):
        mine = [r for r in rows if r["server"] == server]
        if not mine:
            continue
        flat = [r for r in mine if r.get("scenario") == "flat-out"]
        fixed = [r for r in mine if r.get("scenario") == "fixed-rate"]
        summary[server] = {
            "rounds": len(flat),
            "flat_us": _median(flat, "server_us_per_delivery"),
            "flat_per_s": _median(flat, "deliveries_per_s"),
            "flat_generator_busy": _median(flat, "generator_busy"),
            "fixed_us": _median(fixed, "server_us_per_delivery"),
            "fixed_per_s": _median(fixed, "deliveries_per_s"),
            "p50_ms": _median(fixed, "p50_ms"),
            "p99_ms": _median(fixed, "p99_ms"),
            "kb_per_client": _median(mine, "kb_per_client"),
            "greet_s": _median(mine, "greet_s"),
            "lost": sum(int(r.get("lost", 0)) for r in mine),
        }
    return summary


def _ratio(mine: float, theirs: float) -> float:
    return mine / theirs if theirs else float("nan")


_TIMES = "\u00d7"  # the multiplication sign of the table


def _rows(a: dict[str, Any], b: dict[str, Any], clients: int, k: str) -> list[str]:
    """Table rows comparing figures `a` with `b` (the ratio is a / b)."""

    def row(label: str, mine: str, theirs: str, ratio: float, what: str = "") -> str:
        return f"| {label} | {mine} | {theirs} | {what}{ratio:.2f}{_TIMES} |"

    return [
        row(
            "CPU µs per delivery, flat out",
            f"{a['flat_us']:.2f}",
            f"{b['flat_us']:.2f}",
            _ratio(a["flat_us"], b["flat_us"]),
        ),
        row(
            f"CPU µs per delivery at {k} deliveries/s",
            f"{a['fixed_us']:.2f}",
            f"{b['fixed_us']:.2f}",
            _ratio(a["fixed_us"], b["fixed_us"]),
        ),
        row(
            f"p50 / p99 latency at {k}/s",
            f"{a['p50_ms']:.1f} / {a['p99_ms']:.1f} ms",
            f"{b['p50_ms']:.1f} / {b['p99_ms']:.1f} ms",
            _ratio(a["p99_ms"], b["p99_ms"]),
            "p99 ",
        ),
        row(
            "max deliveries/s",
            f"{a['flat_per_s'] / 1e6:.2f} M",
            f"{b['flat_per_s'] / 1e6:.2f} M",
            _ratio(a["flat_per_s"], b["flat_per_s"]),
        ),
        row(
            "RSS per client",
            f"{a['kb_per_client']:.1f} KB",
            f"{b['kb_per_client']:.1f} KB",
            _ratio(a["kb_per_client"], b["kb_per_client"]),
        ),
        row(
            f"{clients} clients greeted",
            f"{a['greet_s']:.2f} s",
            f"{b['greet_s']:.2f} s",
            _ratio(a["greet_s"], b["greet_s"]),
        ),
    ]


def table(summary: dict[str, Any], clients: int, rate: float) -> str:
    """The issue's table: figure | Chinwag | ngIRCd | ratio (Chinwag / ngIRCd);
    then Chinwag over TLS against plaintext (TLS / plaintext)."""
    c, n, t = (summary.get(k) for k in ("chinwag", "ngircd", "chinwag-tls"))
    k = f"{rate / 1000:g}k"
    lines = []
    if c is not None and n is not None:
        lines += ["| figure | Chinwag | ngIRCd | ratio |", "|---|---|---|---|"]
        lines += _rows(c, n, clients, k)
    if c is not None and t is not None:
        lines += ["", "| Chinwag | TLS | plaintext | TLS / plaintext |"]
        lines += ["|---|---|---|---|", *_rows(t, c, clients, k)]
    return "\n".join(lines) or "(no figures: no round ran)"


def goals(summary: dict[str, Any]) -> str:
    """Issue 16's goals, each met or not, from the medians."""
    c, n, t = (summary.get(k) for k in ("chinwag", "ngircd", "chinwag-tls"))
    if c is None or n is None:
        return ""
    checks = [
        (
            "flat-out CPU per delivery <= 1.0x ngIRCd",
            _ratio(c["flat_us"], n["flat_us"]) <= 1.0,
        ),
        ("p99 at the fixed rate <= ngIRCd's", c["p99_ms"] <= n["p99_ms"]),
        ("max deliveries/s >= ngIRCd's", c["flat_per_s"] >= n["flat_per_s"]),
        ("clients greeted in <= 0.5 s", c["greet_s"] <= 0.5),
        ("RSS per client <= 16 KB (plaintext)", c["kb_per_client"] <= 16),
    ]
    if t is not None:
        checks += [
            ("RSS per client <= 16 KB with TLS", t["kb_per_client"] <= 16),
            (
                "TLS CPU per delivery <= 1.5x plaintext (at the fixed rate)",
                _ratio(t["fixed_us"], c["fixed_us"]) <= 1.5,
            ),
            (
                "TLS CPU per delivery <= 1.5x plaintext (flat out)",
                _ratio(t["flat_us"], c["flat_us"]) <= 1.5,
            ),
        ]
    return "\n".join(
        f"  {'met    ' if ok else 'NOT met'}  {what}" for what, ok in checks
    )


def notes(rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for row in rows:
        where = f"{row['server']} {row['scenario']} round {row['round']}"
        if row.get("generator_busy", 0) >= 0.9:
            out.append(
                f"note: {where}: the load generator was CPU-bound "
                f"({row['generator_busy']}), so deliveries/s is a floor"
            )
        if row.get("lost"):
            out.append(f"note: {where}: {row['lost']} deliveries lost")
        if row.get("dropped_clients") or row.get("ngircd_sendq_drops"):
            out.append(
                f"note: {where}: {row.get('dropped_clients', 0)} clients closed "
                f"({row.get('ngircd_sendq_drops', 0)} write-buffer drops in its log)"
            )
        if row.get("error"):
            out.append(f"note: {where}: {row['error']}")
    return out


def side_by_side(
    binary: str | None,
    workdir: Path,
    args: argparse.Namespace,
    record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """`args.rounds` interleaved rounds; the servers' order flips every round."""
    servers = ["chinwag", "ngircd"] if binary else ["chinwag"]
    if args.tls:
        servers.append("chinwag-tls")
    rows: list[dict[str, Any]] = []
    for round_ in range(args.rounds):
        order = servers if round_ % 2 == 0 else servers[::-1]
        for server in order:
            run_dir = workdir / f"round{round_}-{server}"
            run_dir.mkdir()
            print(f"round {round_ + 1}/{args.rounds}: {server} ...", file=sys.stderr)
            try:
                if server == "ngircd":
                    assert binary is not None  # noqa: S101 - only listed with one
                    got = _ngircd(binary, run_dir, args)
                else:
                    got = _chinwag(run_dir, args, tls=server == "chinwag-tls")
            except (OSError, RuntimeError) as error:  # TimeoutError is an OSError
                got = [
                    {"scenario": "failed", "error": f"{type(error).__name__}: {error}"}
                ]
            for row in got:
                row.update(mode="vs-ngircd", server=server, round=round_)
                record(row)
                rows.append(row)
    return rows


def herd(
    binary: str,
    workdir: Path,
    args: argparse.Namespace,
    record: Callable[[dict[str, Any]], None],
) -> str:
    """ngIRCd's N clients connecting all at once, as Chinwag's do."""
    server = NgircdProcess(binary, workdir / "ngircd-herd")
    swarm = irc_load.IrcSwarm(server.address)
    overflows = listen_overflows()
    started = time.monotonic()
    try:
        swarm.connect(args.clients, probes=0, timeout=150.0)
        error = ""
    except (OSError, ConnectionError) as failure:  # TimeoutError is an OSError
        error = f"{type(failure).__name__}: {failure}"
    finally:
        swarm.close()
        server.stop()
    joined = sum(c.joined for c in swarm.clients)
    row = {
        "mode": "vs-ngircd-herd",
        "server": "ngircd",
        "clients": args.clients,
        "joined": joined,
        "closed": sum(c.closed for c in swarm.clients),
        "last_joined_s": round(swarm.joined_at - started, 2) if joined else None,
        "listen_overflows": listen_overflows() - overflows,
        "error": error,
    }
    record(row)
    return (
        f"ngIRCd, {args.clients} clients connecting at once (as Chinwag's do): "
        f"{joined} joined, the last after {row['last_joined_s']} s; "
        f"{row['closed']} reset by the kernel; {row['listen_overflows']} SYNs "
        "dropped by full accept queues"
    )


# --- 10,000 clients -----------------------------------------------------------


@attrs.define
class LeanSwarm(Swarm):
    """`bench.loadgen.Swarm` that can greet 10,000 clients.

    Two differences, both on the load generator's side:

    - A plain member decodes only up to its Welcome. The stock swarm decodes
      everything in the read that brings it; once thousands connect at once
      those reads carry the UserJoined notices of everyone who joined since
      (up to 256 KiB, some 17,000 frames), so greeting N clients costs the
      generator O(N²) decodes. Here the bytes after a plain member's Welcome
      are only counted, as they are once it is welcomed. Probes and TLS
      clients are read as before.
    - `connect(in_flight=K)` keeps at most K handshakes unfinished at once.
      10,000 connects at once overflow the server's accept queue (1024
      here): the kernel drops the SYNs past it and the clients send them
      again after 1, 3, 7, 15... s, and after about two minutes of that
      give up, so some are never welcomed.
    """

    pending: dict[Client, bytearray] = attrs.field(factory=dict)

    def connect(
        self, count: int, probes: int, timeout: float = 60.0, *, in_flight: int = 0
    ) -> float:
        """As `Swarm.connect`; `in_flight` > 0 bounds the handshakes under way.

        Raises:
            TimeoutError: not every client was welcomed in time.
            ConnectionError: some connections were closed before their Welcome.
        """
        if in_flight <= 0:
            return super().connect(count, probes, timeout)
        if self.address[0] not in ("127.0.0.1", "::1") or self.tls:
            msg = "in_flight: plaintext to loopback only"
            raise ValueError(msg)
        started = time.monotonic()
        chosen = probe_indexes(count, probes)
        if not self._open_paced(
            count,
            in_flight,
            started + timeout,
            lambda index: self._open(index, probe=index in chosen),
            lambda c: c.welcomed,
        ):
            welcomed = sum(c.welcomed for c in self.clients)
            msg = f"{welcomed} of {count} welcomed in {timeout:g} s"
            raise TimeoutError(msg)
        closed = sum(c.closed for c in self.clients)
        if closed:
            msg = f"{closed} of {count} connections closed before their Welcome"
            raise ConnectionError(msg)
        return time.monotonic() - started

    def _read(self, client: Client) -> None:
        if client.welcomed or client.probe or client.tls is not None:
            super()._read(client)
            return
        data = self._receive(client)
        if not data:
            return
        buffer = self.pending.setdefault(client, bytearray())
        buffer += data
        while len(buffer) >= _HEADER:
            end = _HEADER + int.from_bytes(buffer[:_HEADER], "big")
            if len(buffer) < end:
                return
            frame = bytes(buffer[:end])
            del buffer[:end]
            for message in client.conn.receive_data(frame):
                if isinstance(message, p.Welcome):
                    client.welcomed = True
                    client.agreed = message.capabilities
                    client.rx_bytes = 0
                    del self.pending[client]
                    return


_HEADER = 4  # a frame's big-endian length (docs/protocol.md)


@contextlib.contextmanager
def chinwag_up(
    workdir: Path,
    clients: int,
    *,
    extra: list[str] | None = None,
    profile: Path | None = None,
    timeout: float = 600.0,
    in_flight: int = 0,
    tls: bool = False,
) -> Iterator[tuple[ServerProcess, Swarm, dict[str, Any]]]:
    """A Chinwag server (limits opened up) with `clients` connected and settled.

    As `bench.scenarios.setup`, with the lean swarm, a longer greeting
    timeout, and the server stopped whatever happens.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(workdir, extra=extra, profile=profile)
    swarm = LeanSwarm(server.address, tls=tls)
    try:
        time.sleep(0.2)
        rss_idle = server.rss_bytes()
        overflows = listen_overflows()
        greet = swarm.connect(
            clients,
            probes=min(clients, scenarios.PROBES),
            timeout=timeout,
            in_flight=in_flight,
        )
        overflows = listen_overflows() - overflows
        scenarios.settle_swarm(swarm, server, limit=120.0)
        info = {
            "greet_s": round(greet, 3),
            "kb_per_client": round((server.rss_bytes() - rss_idle) / clients / 1024, 1),
            "server_threads": server.threads(),
            "listen_overflows": overflows,
            "lean_swarm": True,
            "in_flight": in_flight,
        }
        yield server, swarm, info
    finally:
        swarm.close()
        server.stop()


def hold(
    workdir: Path,
    args: argparse.Namespace,
    record: Callable[[dict[str, Any]], None],
) -> str:
    """Chinwag with `args.hold` clients connected: p99 at the fixed rate."""
    clients = args.hold
    soft = raise_fd_limit(clients + 1024)
    if soft < clients + 64:
        return (
            f"hold {clients}: this process may open only {soft} files "
            f"(hard limit), not enough for {clients} clients"
        )
    duration = max(args.duration, 10.0)
    try:
        with chinwag_up(
            workdir / f"hold-{clients}",
            clients,
            extra=["--max-clients", str(2 * clients)],
            in_flight=args.in_flight,
        ) as (server, swarm, info):
            row = scenarios.measure(
                swarm,
                server,
                clients=clients,
                senders=args.senders,
                padding=0,
                send=scenarios.fixed_rate_sender(
                    swarm,
                    senders=args.senders,
                    rate=args.rate,
                    clients=clients,
                    duration=duration,
                    padding=0,
                ),
            )
            row.update(info, scenario="fixed-rate", target_per_s=args.rate)
    except (OSError, RuntimeError) as error:  # TimeoutError is an OSError
        row = {"scenario": "fixed-rate", "error": f"{type(error).__name__}: {error}"}
    row.update(mode="vs-ngircd-hold", server="chinwag", clients=clients)
    record(row)
    if "error" in row:
        return f"hold {clients}: FAILED: {row['error']}"
    return (
        f"Chinwag with {clients} clients connected: greeted in {row['greet_s']} s "
        f"(at most {args.in_flight or 'all'} handshakes at once; "
        f"{row['listen_overflows']} SYNs dropped by full accept queues), "
        f"{row['kb_per_client']} KB RSS per client, {row['server_threads']} "
        f"threads; at {args.rate:g} deliveries/s for {duration:g} s "
        f"({row['deliveries_per_s']} reached): p50 {row['p50_ms']} ms, p99 "
        f"{row['p99_ms']} ms, {row['server_us_per_delivery']} µs CPU per delivery,"
        f" lost {row['lost']}, load generator busy {row['generator_busy']}"
    )


def hold_ngircd(
    binary: str,
    workdir: Path,
    args: argparse.Namespace,
    record: Callable[[dict[str, Any]], None],
) -> str:
    """ngIRCd with `args.hold` clients in the channel: p99 at the fixed rate."""
    clients = args.hold
    server = NgircdProcess(binary, workdir / f"ngircd-hold-{clients}")
    try:
        row = irc_load.fixed_rate(
            server,
            clients=clients,
            senders=args.senders,
            rate=args.rate,
            duration=max(args.duration, 10.0),
            in_flight=args.irc_in_flight,
            timeout=1200.0,
        )
    except (OSError, RuntimeError) as error:  # TimeoutError is an OSError
        row = {"scenario": "fixed-rate", "error": f"{type(error).__name__}: {error}"}
    finally:
        server.stop()
    row.update(mode="vs-ngircd-hold", server="ngircd", clients=clients)
    record(row)
    if "error" in row:
        return f"ngIRCd hold {clients}: FAILED: {row['error']}"
    return (
        f"ngIRCd with {clients} clients in the channel: registered and joined in "
        f"{row['greet_s']} s ({args.irc_in_flight} at once), "
        f"{row['kb_per_client']} KB RSS per "
        f"client; at {args.rate:g} deliveries/s ({row['deliveries_per_s']} "
        f"reached): p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, "
        f"{row['server_us_per_delivery']} µs CPU per delivery, lost {row['lost']}"
    )


# --- where holding more clients breaks ----------------------------------------

_PER_HOLDER = 8000  # connections per holder process, far below its file limit


def _holder(
    pipe: Connection, address: tuple[str, int], source: str, prefix: str
) -> None:
    """A child process holding Chinwag clients, all from one source address.

    Commands on `pipe`: ("open", n) opens n more connections, ("report",)
    answers with counts, ("stop",) ends. It also ends after an hour or when
    the parent goes away.
    """
    raise_fd_limit(_PER_HOLDER + 256)
    selector = selectors.DefaultSelector()
    conns: dict[int, tuple[socket.socket, p.Connection | None, bytearray]] = {}
    counts: collections.Counter[str] = collections.Counter()
    deadline = time.monotonic() + 3600
    opened = 0

    def close(fd: int) -> None:
        sock, _conn, _out = conns.pop(fd)
        selector.unregister(sock)
        sock.close()
        counts["closed"] += 1

    running = True
    while running and time.monotonic() < deadline:
        while pipe.poll(0):
            try:
                command = pipe.recv()
            except EOFError:
                command = ("stop",)
            if command[0] == "open":
                for _ in range(int(command[1])):
                    try:
                        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    except OSError as error:
                        counts[f"socket: {errno.errorcode.get(error.errno or 0)}"] += 1
                        continue
                    try:
                        sock.bind((source, 0))
                        sock.setblocking(False)
                        code = sock.connect_ex(address)
                    except OSError as error:
                        sock.close()
                        name = errno.errorcode.get(error.errno or 0)
                        counts[f"bind/connect: {name}"] += 1
                        continue
                    if code not in (0, errno.EINPROGRESS):
                        sock.close()
                        counts[f"connect: {errno.errorcode.get(code)}"] += 1
                        continue
                    machine = p.Connection(p.Role.CLIENT)
                    hello = p.Hello(
                        version=1, client_name="bench", nick=f"{prefix}{opened}"
                    )
                    opened += 1
                    conns[sock.fileno()] = (
                        sock,
                        machine,
                        bytearray(machine.send(hello)),
                    )
                    selector.register(
                        sock,
                        selectors.EVENT_READ | selectors.EVENT_WRITE,
                        sock.fileno(),
                    )
                    counts["opened"] += 1
            elif command[0] == "report":
                pipe.send(dict(counts))
            else:
                running = False
        for key, mask in selector.select(0.05):
            fd = key.data
            sock, conn, out = conns[fd]
            if mask & selectors.EVENT_WRITE and out:
                try:
                    del out[: sock.send(out)]
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError as error:
                    counts[f"send: {errno.errorcode.get(error.errno or 0)}"] += 1
                    close(fd)
                    continue
                if not out:
                    selector.modify(sock, selectors.EVENT_READ, fd)
            if mask & selectors.EVENT_READ:
                try:
                    data = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as error:
                    counts[f"recv: {errno.errorcode.get(error.errno or 0)}"] += 1
                    data = b""
                if not data:
                    close(fd)
                    continue
                counts["rx_bytes"] += len(data)
                if conn is None:
                    continue  # welcomed: what follows is only counted
                try:
                    messages = conn.receive_data(data)
                except p.ProtocolError:
                    counts["protocol errors"] += 1
                    close(fd)
                    continue
                for message in messages:
                    if isinstance(message, p.Welcome):
                        counts["welcomed"] += 1
                        conns[fd] = (sock, None, out)
                        break
                    if isinstance(message, p.Error):
                        counts[f"refused: {message.code.name}"] += 1
    for fd in list(conns):
        conns[fd][0].close()
    selector.close()
    pipe.close()


def _server_facts(server: ServerProcess) -> dict[str, Any]:
    pid = server.proc.pid
    try:
        fds = sum(1 for _ in Path(f"/proc/{pid}/fd").iterdir())
        limits = Path(f"/proc/{pid}/limits").read_text()
    except OSError:
        return {}
    match = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
    return {
        "server_fds": fds,
        "server_fd_limit": int(match.group(1)) if match else None,
        "server_rss_mb": round(server.rss_bytes() / 2**20, 1),
        "server_threads": server.threads(),
        "server_cpu_s": round(server.cpu_seconds(), 2),
    }


def _log_counts(log: Path) -> dict[str, Any]:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return {}
    accept = [line for line in text.splitlines() if "accept failed" in line]
    return {
        "accept_failures_logged": len(accept),
        "last_accept_failure": accept[-1][-120:] if accept else "",
        "refused_full_logged": text.count("server full"),
        "slow_consumer_logged": text.count("slow consumer"),
    }


def find_break(
    workdir: Path,
    steps: list[int],
    record: Callable[[dict[str, Any]], None],
    *,
    step_timeout: float = 180.0,
) -> str:
    """Connect Chinwag clients in steps until a step is not fully welcomed.

    The clients come from holder processes of at most `_PER_HOLDER`
    connections each, every holder from its own 127.0.0.x address, so
    neither the load side's file limit nor its source ports (about 28,000
    per source address and destination) is what runs out first.
    """
    run_dir = workdir / "break"
    run_dir.mkdir()
    server = ServerProcess(run_dir, extra=["--max-clients", str(max(steps) * 2)])
    context = multiprocessing.get_context("spawn")
    holders: list[tuple[Any, Connection, int]] = []  # process, pipe, opened
    lines = [
        (
            "where holding more Chinwag clients breaks (one server, clients added "
            "in steps, each holder process from its own 127.0.0.x):"
        )
    ]
    try:
        time.sleep(0.3)
        rss_idle = server.rss_bytes()
        opened = 0
        for target in steps:
            need = target - opened
            started = time.monotonic()
            while need > 0:
                if not holders or holders[-1][2] >= _PER_HOLDER:
                    ours, theirs = context.Pipe()
                    number = len(holders)
                    process = context.Process(
                        target=_holder,
                        args=(
                            theirs,
                            server.address,
                            f"127.0.0.{2 + number}",
                            f"h{number}n",
                        ),
                        daemon=True,
                    )
                    process.start()
                    holders.append((process, ours, 0))
                process, pipe, count = holders[-1]
                batch = min(need, _PER_HOLDER - count)
                pipe.send(("open", batch))
                holders[-1] = (process, pipe, count + batch)
                need -= batch
                opened += batch
            counts: collections.Counter[str] = collections.Counter()
            best, best_at = -1, time.monotonic()
            while time.monotonic() - started < step_timeout:
                time.sleep(1.0)
                counts = collections.Counter()
                for _process, pipe, _count in holders:
                    pipe.send(("report",))
                    if pipe.poll(30):
                        counts.update(pipe.recv())
                if counts["welcomed"] >= target:
                    break
                if counts["welcomed"] > best:
                    best, best_at = counts["welcomed"], time.monotonic()
                elif time.monotonic() - best_at > 30:
                    break  # no progress for 30 s
            seconds = time.monotonic() - started
            row = {
                "mode": "vs-ngircd-break",
                "target": target,
                "welcomed": counts["welcomed"],
                "seconds": round(seconds, 1),
                "holders": len(holders),
                "load_counts": {k: v for k, v in counts.items() if k != "rx_bytes"},
                "kb_per_client": round(
                    (server.rss_bytes() - rss_idle) / max(counts["welcomed"], 1) / 1024,
                    1,
                ),
                "load_1min": round(os.getloadavg()[0], 2),
                **_server_facts(server),
                **_log_counts(run_dir / "bench-server.log"),
            }
            record(row)
            lines.append(
                f"  {target:>6} wanted: {row['welcomed']:>6} welcomed in "
                f"{row['seconds']} s; server {row.get('server_fds')} fds of "
                f"{row.get('server_fd_limit')}, {row.get('server_rss_mb')} MB RSS "
                f"({row['kb_per_client']} KB/client), {row.get('server_threads')} "
                f"threads; accept failures logged: "
                f"{row.get('accept_failures_logged')}; load side: "
                f"{row['load_counts']}"
            )
            if row["welcomed"] < target:
                lines.append(
                    f"  broke between {steps[max(0, steps.index(target) - 1)]} "
                    f"and {target}: {row.get('last_accept_failure') or 'see the row'}"
                )
                break
    finally:
        for _process, pipe, _count in holders:
            try:
                pipe.send(("stop",))
            except OSError:
                pass
        for process, _pipe, _count in holders:
            process.join(timeout=30)
            if process.is_alive():
                process.terminate()
                process.join(timeout=10)
        server.stop()
    return "\n".join(lines)


# --- the profile --------------------------------------------------------------


def _short(path: str) -> str:
    for root in ("server/", "protocol/", "bench/", "clients/"):
        if root in path:
            return root + path.rsplit(root, 1)[1]
    return path.rsplit("/", 1)[-1] if "/" in path else path


def _flat_profiled(
    swarm: Swarm, server: ServerProcess, args: argparse.Namespace
) -> dict[str, Any]:
    return scenarios.measure(
        swarm,
        server,
        clients=args.clients,
        senders=args.senders,
        padding=0,
        send=scenarios.flat_out_sender(
            swarm, senders=args.senders, messages=args.profile_messages, limit=300
        ),
    )


def profile_cprofile(
    workdir: Path, args: argparse.Namespace, *, top: int = 25
) -> tuple[dict[str, Any], str]:
    """A flat-out run with the server under cProfile (every thread, CPU time)."""
    out = workdir / "cprofile" / "server.prof"
    with chinwag_up(out.parent, args.clients, profile=out) as (server, swarm, info):
        row = _flat_profiled(swarm, server, args)
    row.update(info, scenario="flat-out", profiled="cprofile")
    stats: Any = pstats.Stats(str(out))
    table = {
        where: entry
        for where, entry in stats.stats.items()
        if not (
            where[0] == "<string>"
            or where[0].endswith("cProfile.py")
            or "_lsprof" in where[2]
        )
    }
    deliveries = max(int(row["deliveries"]), 1)
    total = sum(entry[2] for entry in table.values())
    ranked = sorted(table.items(), key=lambda item: item[1][2], reverse=True)
    lines = [
        (
            f"cProfile (CPU per thread), Chinwag flat out: {row['deliveries']} "
            f"deliveries, {total / deliveries * 1e6:.3f} µs own CPU per delivery "
            f"under the profiler; top {top} by own CPU (µs per delivery, share, "
            "cumulative µs, calls):"
        )
    ]
    row["top"] = []
    for where, entry in ranked[:top]:
        us = entry[2] / deliveries * 1e6
        name = f"{_short(where[0])}:{where[1]}({where[2]})"
        lines.append(
            f"  {us:7.3f} µs {entry[2] / total:6.1%}  "
            f"cum {entry[3] / deliveries * 1e6:7.3f}  {entry[1]:>9} calls  {name}"
        )
        row["top"].append([name, round(us, 4), entry[1]])
    return row, "\n".join(lines)


def profile_pyspy(
    workdir: Path, args: argparse.Namespace, *, top: int = 25
) -> tuple[dict[str, Any] | None, str]:
    """A flat-out run of the unprofiled server, sampled by py-spy (if found).

    `--gil`: only the thread holding the GIL is sampled. That is where the
    server's Python work happens, one thread at a time; system calls and
    SQLite run without the GIL and do not show (cProfile counts them).
    """
    search = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    pyspy = shutil.which("py-spy", path=search)
    if pyspy is None:
        return None, "py-spy: not installed (pip install py-spy), skipped"
    raw = workdir / "pyspy" / "flat.txt"
    spy = None
    with chinwag_up(raw.parent, args.clients) as (server, swarm, info):
        try:
            spy = subprocess.Popen(
                [
                    pyspy, "record", "--pid", str(server.proc.pid), "--rate", "1000",
                    "--gil", "--threads", "--format", "raw",
                    "--output", str(raw), "--duration", "600",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )  # fmt: skip
            time.sleep(2.0)  # attached
            if spy.poll() is not None:
                error = spy.stderr.read().decode(errors="replace") if spy.stderr else ""
                return None, f"py-spy could not attach: {error.strip()[-300:]}"
            row = _flat_profiled(swarm, server, args)
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        finally:
            if spy is not None and spy.poll() is None:
                spy.kill()
                spy.wait()
    row.update(info, scenario="flat-out", profiled="py-spy --gil")
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        threads[frames[0]] += count
        python = [f for f in frames[1:] if "(" in f]
        if python:
            own[_frame(python[-1])] += count
        for name in {_frame(f) for f in python}:
            inclusive[name] += count
    if total == 0:
        return row, "py-spy: no samples"
    lines = [
        (
            f"py-spy --gil (1000 samples/s of the thread holding the GIL; the "
            f"server not otherwise profiled), Chinwag flat out: {total} samples; "
            "by thread: "
            + ", ".join(f"{name} {n / total:.0%}" for name, n in threads.most_common(6))
        ),
        f"  top {top} by own samples (the function on top of the stack):",
    ]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in own.most_common(top)]
    lines.append(f"  top {top} inclusive (the function anywhere on the stack):")
    lines += [f"  {n / total:6.1%}  {name}" for name, n in inclusive.most_common(top)]
    row["own"] = [[name, n] for name, n in own.most_common(top)]
    row["inclusive"] = [[name, n] for name, n in inclusive.most_common(top)]
    row["samples"] = total
    return row, "\n".join(lines)


def _frame(frame: str) -> str:
    """py-spy's `function (path:line)` without the line, path shortened."""
    match = re.match(r"(.*) \((.*?)(?::\d+)?\)$", frame)
    if not match:
        return frame
    return f"{match.group(1)} ({_short(match.group(2))})"


# --- the command ----------------------------------------------------------------


def _steps(text: str) -> list[int]:
    return sorted({int(part) for part in text.split(",") if part.strip()})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ngircd", description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="N clients")
    parser.add_argument("--senders", type=int, default=10, help="S senders")
    parser.add_argument(
        "--rate", type=float, default=50_000, help="deliveries/s of the fixed-rate runs"
    )
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds of each fixed-rate run"
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=1000,
        help="messages per sender in the flat-out runs (`python -m bench` sends "
        "200; 1000 makes Chinwag's run last long enough for the CPU clock's "
        "10 ms ticks)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds of each server (0: no side-by-side)",
    )
    parser.add_argument(
        "--no-tls",
        dest="tls",
        action="store_false",
        help="leave out Chinwag over TLS",
    )
    parser.add_argument(
        "--no-install",
        dest="install",
        action="store_false",
        help="do not apt-get install ngircd where it is missing",
    )
    parser.add_argument(
        "--irc-in-flight",
        type=int,
        default=8,
        metavar="K",
        help="IRC clients connecting and not yet joined at once (ngIRCd listens "
        "with a backlog of 10: a crowd past it loses SYNs, which come again "
        "after 1, 3, 7... s, and the kernel resets some after a minute; "
        "0: all at once, as Chinwag's clients connect)",
    )
    parser.add_argument(
        "--herd",
        action="store_true",
        help="also: ngIRCd's clients all at once, once (how many get in, and when)",
    )
    parser.add_argument(
        "--hold",
        type=int,
        default=0,
        metavar="N",
        help="also: Chinwag with N clients connected, p99 at --rate (e.g. 10000)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=1000,
        metavar="K",
        help="--hold: at most K handshakes under way at once (0: all at once, "
        "which overflows the server's accept queue at 10,000)",
    )
    parser.add_argument(
        "--hold-ngircd",
        action="store_true",
        help="--hold: ngIRCd too, with the same number of clients",
    )
    parser.add_argument(
        "--break-at",
        default="",
        metavar="N,N,...",
        help="also: add Chinwag clients in these steps (e.g. 10000,15000,20000,"
        "25000) until one is not fully welcomed, and say why",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also: profile Chinwag flat out (cProfile per thread, and py-spy "
        "if installed)",
    )
    parser.add_argument(
        "--profile-messages",
        type=int,
        default=1500,
        help="messages per sender in the profiled flat-out runs",
    )
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results/results.jsonl")
    )
    args = parser.parse_args(argv)
    args.senders = min(args.senders, args.clients)
    raise_fd_limit(4 * max(args.clients, args.hold) + 256)

    binary: str | None = None
    version = how = ""
    if args.rounds > 0 or args.herd or args.hold_ngircd:
        binary, how = find_ngircd(install=args.install)
        if binary is None:
            how = f"SKIPPED ngIRCd: {how}; measuring Chinwag alone"
        else:
            version = ngircd_version(binary)
            how = f"{how} ({version})"
        print(how, file=sys.stderr)
    report: list[str] = []
    stamp = {"ngircd_version": version} if version else {}
    with recording(args.output, stamp=stamp) as (workdir, record):
        if args.rounds > 0:
            rows = side_by_side(binary, workdir, args, record)
            summary = summarize(rows)
            summary.update(
                mode="vs-ngircd",
                clients=args.clients,
                senders=args.senders,
                rate=args.rate,
            )
            record(summary)
            report += [
                (
                    f"Chinwag (storage on) against {version or 'ngIRCd (not run)'}: "
                    f"N={args.clients}, S={args.senders}, medians of {args.rounds} "
                    f"interleaved rounds; {os.cpu_count()} cores"
                ),
                "",
                table(summary, args.clients, args.rate),
                "",
                (
                    "Chinwag's clients connect all at once; ngIRCd's at most "
                    f"{args.irc_in_flight} at a time (its listen backlog is 10)"
                    if args.irc_in_flight
                    else "both servers' clients connect all at once"
                ),
                "",
                "issue 16's goals:",
                goals(summary),
                *notes(rows),
            ]
        if args.herd and binary is not None:
            report += ["", herd(binary, workdir, args, record)]
        if args.hold:
            report += ["", hold(workdir, args, record)]
            if args.hold_ngircd and binary is not None:
                report += ["", hold_ngircd(binary, workdir, args, record)]
        if args.break_at:
            report += ["", find_break(workdir, _steps(args.break_at), record)]
        if args.profile:
            row, text = profile_cprofile(workdir, args)
            record(row)
            report += ["", text]
            spied, text = profile_pyspy(workdir, args)
            if spied is not None:
                record(spied)
            report += ["", text]
    if how:
        report.insert(0, how)
    print("\n".join(report))
    print(f"\nresults appended to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
