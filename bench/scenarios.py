"""The measured scenarios: fixed-rate fan-out, as-fast-as-possible, stalled reader."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from bench.loadgen import (
    Swarm,
    chat_text,
    frame_size,
    own_cpu_seconds,
    percentile_ms,
)
from bench.server_proc import ServerProcess

PROBES = 20


def _settle(swarm: Swarm, server: ServerProcess, limit: float = 60.0) -> None:
    """Keep reading until the server's CPU use stops growing (joins fan out)."""
    swarm.settle(server.cpu_seconds, limit)


def _setup(
    workdir: Path,
    clients: int,
    *,
    tls: bool = False,
    capabilities: tuple[str, ...] = (),
    **server_options: Any,
) -> tuple[ServerProcess, Swarm, dict[str, Any]]:
    """A server and `clients` connected clients (version 2 with `capabilities`)."""
    server = ServerProcess(workdir, **server_options)
    time.sleep(0.2)
    rss_idle = server.rss_bytes()
    swarm = Swarm(server.address, tls=tls, capabilities=capabilities)
    greet = swarm.connect(clients, probes=min(clients, PROBES))
    _settle(swarm, server)
    rss_loaded = server.rss_bytes()
    info = {
        "greet_s": round(greet, 3),
        "kb_per_client": round((rss_loaded - rss_idle) / clients / 1024, 1),
        "server_threads": server.threads(),
    }
    return server, swarm, info


def _measure(
    swarm: Swarm,
    server: ServerProcess,
    *,
    clients: int,
    senders: int,
    padding: int,
    send: Any,
    readers: int | None = None,
    target: str | None = None,
) -> dict[str, Any]:
    """Run `send()` (which returns when sending is over) and account for it.

    `readers` is how many clients receive each message (all of them unless
    one is stalled, or the messages go to rooms); `target` is the room the
    Delivered frames name (None: #lobby), which sets their size.
    """
    readers = clients if readers is None else readers
    size = frame_size("c0000", padding, target)
    swarm.reset_counts()
    swarm.measuring = True
    server.mark_profile()
    cpu0, gen0, t0 = server.cpu_seconds(), own_cpu_seconds(), time.monotonic()
    sent = send()
    swarm.drain(swarm.received_bytes, sent * readers * size, limit=30.0)
    elapsed = time.monotonic() - t0
    cpu1, gen1 = server.cpu_seconds(), own_cpu_seconds()
    server.mark_profile()
    swarm.measuring = False
    deliveries = swarm.received_bytes() // size
    return {
        "clients": clients,
        "senders": senders,
        "messages": sent,
        "deliveries": deliveries,
        "lost": sent * readers - deliveries,
        "deliveries_per_s": round(deliveries / elapsed),
        "server_us_per_delivery": round((cpu1 - cpu0) / max(deliveries, 1) * 1e6, 2),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "p50_ms": round(percentile_ms(swarm.latencies_ns, 0.50), 2),
        "p99_ms": round(percentile_ms(swarm.latencies_ns, 0.99), 2),
        "generator_busy": round((gen1 - gen0) / elapsed, 2),
        "seconds": round(elapsed, 2),
    }


def _fixed_rate_sender(
    swarm: Swarm,
    *,
    senders: int,
    rate: float,
    clients: int,
    duration: float,
    padding: int,
) -> Any:
    """The last `senders` clients together send `rate / clients` messages a
    second for `duration` seconds, evenly spaced: `rate` deliveries a second
    when each message reaches `clients` clients."""

    def send() -> int:
        return swarm.send_evenly(
            swarm.clients[-senders:],
            interval=senders * clients / rate,  # between two of one sender's
            duration=duration,
            padding=padding,
        )

    return send


def _flat_out_sender(
    swarm: Swarm, *, senders: int, messages: int, limit: float = 120.0
) -> Any:
    """The last `senders` clients each send `messages` as fast as their socket
    takes them (at most `limit` seconds)."""

    def send() -> int:
        talkers = swarm.clients[-senders:]
        remaining = dict.fromkeys(talkers, messages)
        deadline = time.monotonic() + limit
        sent = 0
        while remaining and time.monotonic() < deadline:
            for talker in list(remaining):
                if len(talker.outbox) < 65536:
                    swarm.send(talker, chat_text(0))
                    sent += 1
                    remaining[talker] -= 1
                    if not remaining[talker]:
                        del remaining[talker]
            swarm.pump(0)
        return sent

    return send


def fixed_rate(
    workdir: Path,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    padding: int = 0,
    tls: bool = False,
    extra: list[str] | None = None,
    profile: Path | None = None,
) -> dict[str, Any]:
    """Deliveries at a fixed total rate; latency is the figure that matters.

    `extra` is passed to the server's command line (`--no-history`);
    `profile` runs the server under cProfile (see `ServerProcess`).
    """
    server, swarm, info = _setup(
        workdir, clients, tls=tls, extra=extra, profile=profile
    )
    try:
        result = _measure(
            swarm, server, clients=clients, senders=senders, padding=padding,
            send=_fixed_rate_sender(swarm, senders=senders, rate=rate, clients=clients, duration=duration, padding=padding),
        )  # fmt: skip
        return {
            "scenario": "fixed-rate",
            "tls": tls,
            "target_per_s": rate,
            **result,
            **info,
        }
    finally:
        swarm.close()
        server.stop()


def flat_out(
    workdir: Path,
    clients: int,
    senders: int,
    messages: int,
    *,
    tls: bool = False,
    extra: list[str] | None = None,
) -> dict[str, Any]:
    """Every sender sends `messages` as fast as the socket takes them.

    `extra` is passed to the server's command line (`--no-history`).
    """
    server, swarm, info = _setup(workdir, clients, tls=tls, extra=extra)
    send = _flat_out_sender(swarm, senders=senders, messages=messages)
    try:
        result = _measure(
            swarm, server, clients=clients, senders=senders, padding=0, send=send
        )
        return {"scenario": "flat-out", "tls": tls, **result, **info}
    finally:
        swarm.close()
        server.stop()


def stalled_reader(
    workdir: Path,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    padding: int,
) -> list[dict[str, Any]]:
    """p99 with everyone reading, then with one client that stops reading."""
    server, swarm, info = _setup(workdir, clients, outbox_size=256 * 1024)
    results = []
    try:
        send = _fixed_rate_sender(
            swarm,
            senders=senders,
            rate=rate,
            clients=clients,
            duration=duration,
            padding=padding,
        )
        baseline = _measure(
            swarm, server, clients=clients, senders=senders, padding=padding, send=send
        )
        results.append(
            {"scenario": "stall-baseline", "target_per_s": rate, **baseline, **info}
        )
        victim = swarm.clients[PROBES]
        swarm.stall(victim)
        # Long enough for the victim's kernel buffers and outbox to fill.
        send = _fixed_rate_sender(
            swarm,
            senders=senders,
            rate=rate,
            clients=clients,
            duration=max(duration, 10.0),
            padding=padding,
        )
        stalled_at = time.monotonic_ns()
        loaded = _measure(
            swarm,
            server,
            clients=clients,
            senders=senders,
            padding=padding,
            send=send,
            readers=clients - 1,
        )
        drops = [
            when
            for when, message in swarm.events
            if getattr(message, "reason", "") == "slow consumer"
        ]
        dropped_after = round((drops[0] - stalled_at) / 1e9, 2) if drops else None
        results.append(
            {
                "scenario": "stall-one-reader",
                "target_per_s": rate,
                "dropped_after_s": dropped_after,
                **loaded,
                **info,
            }
        )
        return results
    finally:
        swarm.close()
        server.stop()


def summarize(rows: list[dict[str, Any]]) -> str:
    """A readable table of result rows."""
    columns = [
        ("scenario", "scenario", 16), ("clients", "N", 5), ("senders", "S", 3),
        ("deliveries_per_s", "deliv/s", 9), ("server_us_per_delivery", "µs/deliv", 9),
        ("p50_ms", "p50 ms", 8), ("p99_ms", "p99 ms", 8), ("kb_per_client", "KB/cl", 7),
        ("greet_s", "greet s", 8), ("generator_busy", "gen", 5), ("lost", "lost", 6),
        ("dropped_after_s", "drop s", 6),
    ]  # fmt: skip
    lines = ["  ".join(f"{title:>{width}}" for _, title, width in columns)]
    lines += [
        "  ".join(f"{row.get(key, '')!s:>{width}}" for key, _, width in columns)
        for row in rows
    ]
    lines += [
        f"note: N={r['clients']} S={r['senders']} {r['scenario']}: the generator was "
        "CPU-bound, so deliv/s is a floor, not the server's limit"
        for r in rows
        if r.get("generator_busy", 0) >= 0.9
    ]
    medians = [r["server_us_per_delivery"] for r in rows if r.get("deliveries")]
    if medians:
        lines.append(
            f"median server CPU per delivery: {statistics.median(medians):.2f} µs"
        )
    return "\n".join(lines)


# For scenarios in other modules (bench.logins).
setup = _setup
measure = _measure
fixed_rate_sender = _fixed_rate_sender
flat_out_sender = _flat_out_sender
settle_swarm = _settle
