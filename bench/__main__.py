"""`python -m bench` (or `nox -s bench`): the fan-out benchmark. See bench/README.md."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import history, rooms, scenarios
from bench.abuse import PROBES, abuse
from bench.floor import send_floor_us
from bench.harness import flat_messages, raise_fd_limit, recording
from bench.logins import login_storm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--clients", default="10,100,1000", help="comma-separated N values"
    )
    parser.add_argument("--senders", default="1,10", help="comma-separated S values")
    parser.add_argument(
        "--rate",
        type=float,
        default=50_000,
        help="deliveries/s for the fixed-rate runs",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=5.0,
        help="seconds of sending per fixed-rate run",
    )
    parser.add_argument(
        "--messages", type=int, default=200, help="messages per sender in flat-out runs"
    )
    parser.add_argument(
        "--no-stall", action="store_true", help="skip the stalled-reader scenario"
    )
    parser.add_argument(
        "--output", type=Path, default=Path("bench/results/results.jsonl")
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="compare TLS with plaintext instead: server CPU per delivery (flat "
        "out and at --rate) and the time to greet the clients, for each --clients",
    )
    parser.add_argument(
        "--logins",
        type=float,
        default=0,
        metavar="PER_S",
        help="measure chat latency at --rate while this many password logins a "
        "second hit the server (the first --clients value), instead",
    )
    history_options = parser.add_argument_group(
        "history",
        "stored history's cost: fan-out with storage on against --no-history "
        "(the largest --clients and --senders), and resuming a client that "
        "missed many messages",
    )
    history_options.add_argument(
        "--history", action="store_true", help="run the history comparison instead"
    )
    history_options.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="fan-out rounds of storage off and on, alternating (0: skip the "
        "fan-out); with --rooms, rounds of the three layouts",
    )
    history_options.add_argument(
        "--resume-messages",
        type=int,
        default=100_000,
        help="messages the resuming client missed (0: skip the resume)",
    )
    history_options.add_argument(
        "--profile",
        action="store_true",
        help="then two more fixed-rate runs, storage off and on (with --rooms: "
        "rooms and lobby, at the first --room-rates), with the server under "
        "cProfile (all threads, CPU time); print the hot spots and what "
        "storage (rooms) adds",
    )
    rooms_options = parser.add_argument_group(
        "rooms",
        "fan-out in rooms (issue 15): the largest --clients value spread over "
        "rooms against the same clients in one room and in #lobby, at the same "
        "deliveries/s; also uses --rounds, --duration and --profile",
    )
    rooms_options.add_argument(
        "--rooms", action="store_true", help="run the rooms comparison instead"
    )
    rooms_options.add_argument(
        "--room-count",
        type=int,
        default=100,
        help="rooms to spread the clients over, one sender in each",
    )
    rooms_options.add_argument(
        "--room-rates",
        default="10000,50000",
        help="comma-separated deliveries/s of the fixed-rate runs",
    )
    rooms_options.add_argument(
        "--flat-deliveries",
        type=int,
        default=500_000,
        help="deliveries of each flat-out run (0: skip them)",
    )
    abuse_options = parser.add_argument_group(
        "abuse", "healthy clients chatting while flooders and ListUsers spammers run"
    )
    abuse_options.add_argument(
        "--abuse", action="store_true", help="run the abuse scenario instead"
    )
    abuse_options.add_argument(
        "--healthy", type=int, default=50, help="chatting clients"
    )
    abuse_options.add_argument(
        "--flooders", type=int, default=50, help="flooding clients"
    )
    abuse_options.add_argument(
        "--spammers", type=int, default=500, help="clients sending ListUsers bursts"
    )
    abuse_options.add_argument(
        "--abuse-seconds", type=float, default=10.0, help="seconds per phase"
    )
    abuse_options.add_argument(
        "--chat-interval",
        type=float,
        default=5.0,
        help="seconds between two messages of one healthy client",
    )
    abuse_options.add_argument(
        "--flood-reconnects",
        type=int,
        default=20,
        help="times each kicked flooder connects again (2 s apart)",
    )
    args = parser.parse_args(argv)
    if args.abuse:
        return _run_abuse(args)
    if args.history:
        return _run_history(args)
    if args.rooms:
        return _run_rooms(args)
    if args.tls:
        return _run_tls(args)
    if args.logins:
        return _run_logins(args)

    raise_fd_limit(4 * max(int(n) for n in args.clients.split(",")) + 256)
    rows: list[dict[str, Any]] = []
    with recording(args.output, load=False) as (workdir, write):

        def record(row: dict[str, Any]) -> None:
            write(row)
            rows.append(row)

        for clients in (int(n) for n in args.clients.split(",")):
            for wanted in (int(s) for s in args.senders.split(",")):
                senders = min(wanted, clients)
                messages = flat_messages(args.messages, clients, senders)
                record(
                    scenarios.flat_out(
                        workdir,
                        clients=clients,
                        senders=senders,
                        messages=messages,
                    )
                )
                record(
                    scenarios.fixed_rate(
                        workdir,
                        clients=clients,
                        senders=senders,
                        rate=args.rate,
                        duration=args.duration,
                    )
                )
        if not args.no_stall:
            stall = scenarios.stalled_reader(
                workdir,
                clients=100,
                senders=10,
                rate=20_000,
                duration=args.duration,
                padding=3000,
            )
            for row in stall:
                record(row)
    floor = send_floor_us()
    print(scenarios.summarize(rows))
    fixed = [r for r in rows if r["scenario"] == "fixed-rate" and r["clients"] >= 1000]
    print(
        f"floor: one non-blocking send() from Python over loopback costs {floor:.2f} µs CPU here"
    )
    for row in fixed:
        ratio = row["server_us_per_delivery"] / floor
        print(
            f"  N={row['clients']} S={row['senders']} fixed-rate: {ratio:.1f}x the floor"
        )
    print(f"\n{os.cpu_count()} cores; results appended to {args.output}")
    return 0


def _run_tls(args: argparse.Namespace) -> int:
    """TLS against plaintext, interleaved, in one run (issue: ratio <= 1.5)."""
    counts = [int(n) for n in args.clients.split(",")]
    raise_fd_limit(4 * max(counts) + 256)
    senders = 10
    lines = []
    with recording(args.output, load=False) as (tmp, record):
        for clients in counts:
            messages = flat_messages(args.messages, clients, senders)
            rows: dict[tuple[str, bool], dict[str, Any]] = {}
            for tls in (False, True):
                workdir = tmp / f"{clients}-{tls}"
                workdir.mkdir()
                rows["flat", tls] = scenarios.flat_out(
                    workdir,
                    clients=clients,
                    senders=min(senders, clients),
                    messages=messages,
                    tls=tls,
                )
                rows["fixed", tls] = scenarios.fixed_rate(
                    workdir,
                    clients=clients,
                    senders=min(senders, clients),
                    rate=args.rate,
                    duration=args.duration,
                    tls=tls,
                )
            for row in rows.values():
                record(row)
            for kind in ("flat", "fixed"):
                plain, sealed = rows[kind, False], rows[kind, True]
                ratio = sealed["server_us_per_delivery"] / max(
                    plain["server_us_per_delivery"], 1e-9
                )
                lines.append(
                    f"N={clients} {kind:>5}: plaintext {plain['server_us_per_delivery']} µs"
                    f", TLS {sealed['server_us_per_delivery']} µs per delivery "
                    f"(ratio {ratio:.2f}, goal <= 1.5); p99 {plain['p99_ms']} / "
                    f"{sealed['p99_ms']} ms"
                )
            lines.append(
                f"N={clients} greeted in {rows['flat', False]['greet_s']} s plaintext, "
                f"{rows['flat', True]['greet_s']} s TLS"
            )
    print("\n".join(lines))
    return 0


def _run_history(args: argparse.Namespace) -> int:
    """Storage on against off, interleaved; then the resume (issue 14)."""
    clients = max(int(n) for n in args.clients.split(","))
    senders = min(max(int(s) for s in args.senders.split(",")), clients)
    raise_fd_limit(4 * clients + 256)
    report = []
    with recording(args.output) as (workdir, record):
        if args.rounds > 0:
            rows = history.fan_out(
                workdir,
                clients=clients,
                senders=senders,
                rate=args.rate,
                duration=args.duration,
                messages=flat_messages(args.messages, clients, senders),
                rounds=args.rounds,
                record=record,
            )
            summary = history.compare(rows)
            summary["fsync_ms"] = history.fsync_floor_ms(workdir)
            record(summary)
            report.append(history.describe_fan_out(summary, rows))
        if args.resume_messages > 0:
            resumed = history.resume(
                workdir / "resume",
                count=args.resume_messages,
                rounds=max(args.rounds, 1),
                record=record,
            )
            report.append(history.describe_resume(resumed))
        if args.profile:
            profiles = [
                history.profile_fixed_rate(
                    workdir,
                    clients=clients,
                    senders=senders,
                    rate=args.rate,
                    duration=args.duration,
                    storage=storage,
                )
                for storage in (False, True)
            ]
            for profile in profiles:
                record(profile.row)
            report.append(history.hot_spots(profiles[1], profiles[0]))
    print("\n".join(report))
    print(f"\n{os.cpu_count()} cores; results appended to {args.output}")
    return 0


def _run_rooms(args: argparse.Namespace) -> int:
    """Rooms against one room and #lobby, interleaved (issue 15)."""
    clients = max(int(n) for n in args.clients.split(","))
    rates = [float(r) for r in args.room_rates.split(",")]
    raise_fd_limit(4 * clients + 256)
    report = []
    with recording(args.output) as (workdir, record):
        if args.rounds > 0:
            rows = rooms.compare_layouts(
                workdir,
                clients=clients,
                room_count=args.room_count,
                rates=rates,
                duration=args.duration,
                flat_deliveries=args.flat_deliveries,
                rounds=args.rounds,
                record=record,
            )
            summary = rooms.compare(rows)
            record(summary)
            report.append(rooms.describe(summary, rows))
        if args.profile:
            spread, _one, lobby = rooms.layouts(args.room_count)
            profiles = [
                rooms.profile_run(
                    workdir,
                    layout,
                    "fixed-rate",
                    clients=clients,
                    senders=args.room_count,
                    rate=rates[0],  # one the profiled server keeps up with
                    duration=args.duration,
                    flat_deliveries=args.flat_deliveries,
                )
                for layout in (spread, lobby)
            ]
            for profile in profiles:
                record(profile.row)
            report.append(rooms.hot_spots(profiles[0], profiles[1]))
    print("\n".join(report))
    print(f"\n{os.cpu_count()} cores; results appended to {args.output}")
    return 0


def _run_logins(args: argparse.Namespace) -> int:
    clients = int(args.clients.split(",")[0])
    raise_fd_limit(4 * clients + 1024)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        row = login_storm(
            Path(tmp),
            clients=clients,
            rate=args.rate,
            duration=args.duration,
            logins_per_s=args.logins,
        )
    row["cores"] = os.cpu_count()
    with args.output.open("a", encoding="utf-8") as out:
        out.write(json.dumps(row) + "\n")
    print(
        f"login storm: {row['clients']} clients chatting at {row['target_per_s']:g} "
        f"deliveries/s; {row['logins_per_s']:g} password logins/s\n"
        f"  chat p99 quiet: {row['quiet_p99_ms']} ms, during the storm: "
        f"{row['storm_p99_ms']} ms (ratio {row['ratio']})\n"
        f"  logins: {row['logins']}"
    )
    return 0


def _run_abuse(args: argparse.Namespace) -> int:
    raise_fd_limit(4 * (args.healthy + args.flooders * 21 + args.spammers) + 256)
    with recording(args.output, load=False) as (workdir, record):
        row = abuse(
            workdir,
            healthy=args.healthy,
            flooders=args.flooders,
            spammers=args.spammers,
            seconds=args.abuse_seconds,
            reconnects=args.flood_reconnects,
            chat_interval=args.chat_interval,
        )
        record(row)
    print(
        f"abuse: {row['healthy']} healthy clients (a message every "
        f"{row['chat_interval']:g} s each), "
        f"{row['flooders']} flooders (up to {row['flood_reconnects_allowed']} "
        f"reconnections each), {row['spammers']} ListUsers spammers, "
        f"{row['seconds']:g} s per phase\n"
        f"  healthy p50 / p99 without abusers: {row['baseline_p50_ms']} / "
        f"{row['baseline_p99_ms']} ms\n"
        f"  healthy p50 / p99 with abusers:    {row['abuse_p50_ms']} / "
        f"{row['abuse_p99_ms']} ms (p99 ratio {row['ratio']}, goal <= 2)\n"
        f"  (each healthy message is timed by each of {PROBES} probes: about "
        f"{row['healthy_messages'] // 2} messages per phase, so the p99 is "
        f"about the worst of them)\n"
        f"  slowest healthy message: {row['baseline_worst_ms']} ms without "
        f"abusers (sent {row['baseline_worst_sent_ms']:g} ms into that phase), "
        f"{row['abuse_worst_ms']} ms with them (sent "
        f"{row['abuse_worst_sent_ms']:g} ms after the abusers began)\n"
        f"  healthy clients refused (RATE_LIMITED): {row['healthy_rate_limited']}, "
        f"dropped: {row['healthy_dropped']} (goal 0)\n"
        f"  flooders kicked: {row['flood_kicks']}, reconnections: "
        f"{row['flood_reconnects']}; spammers dropped: {row['spammers_dropped']}; "
        f"server CPU during abuse: {row['server_cpu_share']:.0%} of one core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
