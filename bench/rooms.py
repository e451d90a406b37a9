"""Rooms' fan-out (issue 15): clients spread over many small rooms against the
same clients in one conversation, at the same deliveries per second.

Three layouts of the same N version 2 clients (`limits`, `session`,
`history`, `rooms`; Post with a fresh 16-byte txn, as the real client):

- `rooms`: every client joins one of R rooms (N/R members each) and one
  sender per room Posts to it;
- `one-room`: every client joins the room `#all` and the same senders Post
  to it;
- `lobby`: nobody joins anything; the same senders Post to #lobby.

A delivery is one Delivered received by one client (the sender's own copy
included), so a message is N/R deliveries in `rooms` and N in the others:
the fixed-rate runs send R times as many messages a second in `rooms` to
reach the same deliveries a second, and the flat-out runs send R times as
many. Each layout runs on a fresh server and data directory per round; the
order of the layouts rotates every round so a machine getting busier favours
none of them; the medians are compared. Loopback only; every loop that sends
traffic is bounded in count and time.
"""

from __future__ import annotations

import pstats
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import protocol as p
from bench import scenarios
from bench.history import Profile
from bench.loadgen import Swarm
from bench.server_proc import ServerProcess

ROOM_CAPS = (p.CAP_LIMITS, p.CAP_SESSION, p.CAP_HISTORY, p.CAP_ROOMS)
JOIN_TIMEOUT = 120.0
"""Seconds all the JoinRooms of a setup may take."""


@attrs.frozen
class Layout:
    """Where the clients are and where the senders Post.

    Attributes:
        name: `rooms`, `one-room` or `lobby`.
        rooms: the rooms the clients join, client i the (i mod R)-th; empty:
            everyone stays in #lobby only. All names are equally long, so
            every Delivered frame of a run has the same size.
    """

    name: str
    rooms: tuple[str, ...]

    def room_of(self, index: int) -> str | None:
        return self.rooms[index % len(self.rooms)] if self.rooms else None

    def fan_out(self, clients: int) -> int:
        """Deliveries per message."""
        return clients // len(self.rooms) if self.rooms else clients

    @property
    def target(self) -> str | None:
        """The `target` of every Delivered frame (None in #lobby)."""
        return self.rooms[0] if self.rooms else None


def layouts(room_count: int) -> tuple[Layout, Layout, Layout]:
    """The spread layout with `room_count` rooms, then the two single ones."""
    width = len(str(room_count - 1))
    spread = tuple(f"#r{k:0{width}d}" for k in range(room_count))
    return (
        Layout("rooms", spread),
        Layout("one-room", ("#all",)),
        Layout("lobby", ()),
    )


def setup(
    workdir: Path,
    layout: Layout,
    *,
    clients: int,
    profile: Path | None = None,
) -> tuple[ServerProcess, Swarm, dict[str, Any]]:
    """A server with `clients` version 2 clients, each in its room of `layout`.

    Raises:
        RuntimeError: the server did not enable `rooms`, or refused a join.
        TimeoutError: the joins did not finish in `JOIN_TIMEOUT` seconds.
    """
    server, swarm, info = scenarios.setup(
        workdir, clients, capabilities=ROOM_CAPS, profile=profile
    )
    try:
        missing = set(ROOM_CAPS) - set(swarm.clients[0].agreed)
        if missing:
            msg = f"the server did not enable {sorted(missing)}"
            raise RuntimeError(msg)
        started, cpu = time.monotonic(), server.cpu_seconds()
        for index, client in enumerate(swarm.clients):
            client.target = layout.room_of(index)
            if client.target is not None:
                swarm.join(client, client.target)
        while any(c.joining for c in swarm.clients):
            if time.monotonic() - started > JOIN_TIMEOUT:
                msg = "the joins did not finish in time"
                raise TimeoutError(msg)
            swarm.pump(0.05)
        joined = time.monotonic() - started
        if swarm.refusals:
            msg = f"{len(swarm.refusals)} joins refused, first: {swarm.refusals[0]}"
            raise RuntimeError(msg)
        wrong = [c.nick for c in swarm.clients if c.rooms != [c.target] and c.target]
        if wrong:
            msg = f"{len(wrong)} clients not in their room, first: {wrong[0]}"
            raise RuntimeError(msg)
        scenarios.settle_swarm(swarm, server)
        join_cpu = server.cpu_seconds() - cpu
    except BaseException:
        swarm.close()
        server.stop()
        raise
    if layout.rooms:
        info["join_s"] = round(joined, 3)
        info["join_server_cpu_s"] = round(join_cpu, 2)  # with the notices' fan-out
    return server, swarm, info


def _row(
    kind: str,
    layout: Layout,
    result: dict[str, Any],
    info: dict[str, Any],
    fan: int,
) -> dict[str, Any]:
    seconds = max(result["seconds"], 1e-9)
    return {
        "scenario": f"rooms-{kind}",
        "layout": layout.name,
        "rooms": len(layout.rooms),
        "fan_out": fan,
        **result,
        "messages_per_s": round(result["messages"] / seconds, 1),
        # With more digits: flat out it is a fraction of a µs.
        "server_us_per_delivery": round(
            result["server_cpu_s"] / max(result["deliveries"], 1) * 1e6, 3
        ),
        "server_us_per_message": round(
            result["server_cpu_s"] / max(result["messages"], 1) * 1e6, 1
        ),
        **info,
    }


def fixed_rate(
    swarm: Swarm,
    server: ServerProcess,
    layout: Layout,
    *,
    senders: int,
    rate: float,
    duration: float,
    info: dict[str, Any],
) -> dict[str, Any]:
    """`rate` deliveries a second for `duration` seconds: `rate / fan-out`
    messages a second from `senders` clients together."""
    clients = len(swarm.clients)
    fan = layout.fan_out(clients)
    send = scenarios.fixed_rate_sender(
        swarm, senders=senders, rate=rate, clients=fan, duration=duration, padding=0
    )
    result = scenarios.measure(
        swarm, server, clients=clients, senders=senders, padding=0, send=send,
        readers=fan, target=layout.target,
    )  # fmt: skip
    row = _row("fixed-rate", layout, result, info, fan)
    row["target_per_s"] = rate
    row["target_messages_per_s"] = round(rate / fan, 1)
    return row


def flat_out(
    swarm: Swarm,
    server: ServerProcess,
    layout: Layout,
    *,
    senders: int,
    deliveries: int,
    info: dict[str, Any],
) -> dict[str, Any]:
    """Each sender sends its share of `deliveries` as fast as its socket takes."""
    clients = len(swarm.clients)
    fan = layout.fan_out(clients)
    messages = max(1, deliveries // (senders * fan))
    send = scenarios.flat_out_sender(swarm, senders=senders, messages=messages)
    result = scenarios.measure(
        swarm, server, clients=clients, senders=senders, padding=0, send=send,
        readers=fan, target=layout.target,
    )  # fmt: skip
    return _row("flat-out", layout, result, info, fan)


def compare_layouts(
    workdir: Path,
    *,
    clients: int,
    room_count: int,
    rates: list[float],
    duration: float,
    flat_deliveries: int,
    rounds: int,
    record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Every layout once a round, each on a fresh server: a fixed-rate run at
    each of `rates`, then a flat-out run (if `flat_deliveries`). The order of
    the layouts rotates every round.

    Returns:
        One row per run (each also given to `record` as soon as it is
        measured), with `round` added.
    """
    if room_count < 2 or clients % room_count:
        msg = f"{clients} clients do not split evenly into {room_count} rooms"
        raise ValueError(msg)
    every = layouts(room_count)
    senders = room_count  # one per room in the spread layout
    rows = []
    for index in range(rounds):
        shift = index % len(every)
        for layout in every[shift:] + every[:shift]:
            run_dir = workdir / f"{layout.name}-{index}"
            run_dir.mkdir()
            server, swarm, info = setup(run_dir, layout, clients=clients)
            runs = []
            try:
                for rate in rates:
                    runs.append(
                        fixed_rate(
                            swarm, server, layout, senders=senders, rate=rate,
                            duration=duration, info=info,
                        )
                    )  # fmt: skip
                    scenarios.settle_swarm(swarm, server)
                if flat_deliveries > 0:
                    runs.append(
                        flat_out(
                            swarm, server, layout, senders=senders,
                            deliveries=flat_deliveries, info=info,
                        )
                    )  # fmt: skip
            finally:
                swarm.close()
                server.stop()
            for row in runs:
                row["round"] = index
                rows.append(row)
                record(row)
    return rows


FIGURES = (
    ("server_us_per_delivery", "server CPU µs/delivery"),
    ("server_us_per_message", "server CPU µs/message"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("deliveries_per_s", "deliveries/s"),
    ("messages_per_s", "messages/s"),
    ("generator_busy", "generator CPU share"),
)
NAMES = ("rooms", "one-room", "lobby")


def _groups(rows: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The runs by kind: `fixed-rate@<rate>` for each rate, then `flat-out`."""
    rates = sorted({r["target_per_s"] for r in rows if "target_per_s" in r})
    groups = [
        (
            f"fixed-rate@{rate:g}",
            [r for r in rows if r.get("target_per_s") == rate],
        )
        for rate in rates
    ]
    flat = [r for r in rows if r["scenario"] == "rooms-flat-out"]
    if flat:
        groups.append(("flat-out", flat))
    return groups


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per kind of run, layout and figure; `rooms` over each single
    layout; and the split of server CPU into per message and per delivery."""
    summary: dict[str, Any] = {"scenario": "rooms-summary"}
    for group, runs in _groups(rows):
        for key, _title in FIGURES:
            cell: dict[str, Any] = {
                name: round(
                    statistics.median(r[key] for r in runs if r["layout"] == name), 3
                )
                for name in NAMES
            }
            for single in ("one-room", "lobby"):
                cell[f"rooms/{single}"] = (
                    round(cell["rooms"] / cell[single], 2) if cell[single] else None
                )
            summary[f"{group}:{key}"] = cell
        summary[f"{group}:split"] = _split(runs)
        for key in ("join_s", "join_server_cpu_s"):
            summary[f"{group}:{key}"] = {
                name: statistics.median(
                    r.get(key, 0.0) for r in runs if r["layout"] == name
                )
                for name in ("rooms", "one-room")
            }
    return summary


def _split(runs: list[dict[str, Any]]) -> dict[str, float] | None:
    """Server CPU as a cost per message plus a cost per delivery, solved from
    the medians of `one-room` and `rooms` (the same code path, with fan-outs
    R times apart)."""
    cpu: dict[str, float] = {}
    messages: dict[str, float] = {}
    deliveries: dict[str, float] = {}
    for name in ("rooms", "one-room"):
        mine = [r for r in runs if r["layout"] == name]
        cpu[name] = statistics.median(r["server_cpu_s"] for r in mine)
        messages[name] = statistics.median(r["messages"] for r in mine)
        deliveries[name] = statistics.median(r["deliveries"] for r in mine)
    # cpu = a * messages + b * deliveries, for both layouts.
    determinant = (
        messages["rooms"] * deliveries["one-room"]
        - messages["one-room"] * deliveries["rooms"]
    )
    if not determinant:
        return None
    per_message = (
        cpu["rooms"] * deliveries["one-room"] - cpu["one-room"] * deliveries["rooms"]
    ) / determinant
    per_delivery = (
        messages["rooms"] * cpu["one-room"] - messages["one-room"] * cpu["rooms"]
    ) / determinant
    return {
        "us_per_message": round(per_message * 1e6, 1),
        "us_per_delivery": round(per_delivery * 1e6, 3),
    }


def describe(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    first = rows[0]
    rounds = len({r["round"] for r in rows})
    lines = [
        (
            f"rooms: {first['clients']} clients in {first['rooms']} rooms of "
            f"{first['fan_out']} (rooms) against the same clients all in one room "
            f"#all (one-room) and all in #lobby (lobby); {first['senders']} senders "
            f"(one per room); medians of {rounds} rounds, layout order rotating:"
        )
    ]
    for group, _runs in _groups(rows):
        head = (
            "  "
            + group.replace("@", " at ")
            + (" deliveries/s" if group.startswith("fixed") else "")
        )
        lines.append(
            f"{head:<46}{'rooms':>10}{'one-room':>10}{'lobby':>10}"
            f"{'rooms/one':>11}{'rooms/lobby':>12}"
        )
        for key, title in FIGURES:
            if group == "flat-out" and key.startswith("p"):
                continue  # flat out, latency is queueing, not a figure
            cell = summary[f"{group}:{key}"]
            lines.append(
                f"    {title:<42}{cell['rooms']:>10}{cell['one-room']:>10}"
                f"{cell['lobby']:>10}{cell['rooms/one-room']!s:>11}"
                f"{cell['rooms/lobby']!s:>12}"
            )
        split = summary.get(f"{group}:split")
        if split:
            lines.append(
                f"    split (rooms against one-room): {split['us_per_message']} µs "
                f"per message + {split['us_per_delivery']} µs per delivery"
            )
    group = _groups(rows)[0][0]
    joins, cpu = summary[f"{group}:join_s"], summary[f"{group}:join_server_cpu_s"]
    lines.append(
        f"  all {first['clients']} JoinRooms sent at once: answered in "
        f"{joins['rooms']} s, {cpu['rooms']} s of server CPU (rooms); "
        f"{joins['one-room']} s, {cpu['one-room']} s of CPU (one-room: each "
        "join is told to every member already in)"
    )
    lost = [r for r in rows if r["lost"]]
    lines += [
        f"  note: {r['scenario']} {r['layout']} round {r['round']}: "
        f"{r['lost']} deliveries lost"
        for r in lost
    ]
    busy = [r for r in rows if r["generator_busy"] >= 0.9]
    lines += [
        f"  note: {r['scenario']} {r['layout']} round {r['round']}: the generator "
        "was CPU-bound; deliveries/s is a floor, not the server's limit"
        for r in busy
    ]
    return "\n".join(lines)


# --- where the server's CPU goes ------------------------------------------------


def profile_run(
    workdir: Path,
    layout: Layout,
    kind: str,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    flat_deliveries: int,
) -> Profile:
    """One more run of `layout` (`kind` fixed-rate or flat-out) with the
    server under cProfile.

    Only the measured window is profiled (see `ServerProcess`); cProfile
    makes every call dearer, so compare functions with each other, not the
    totals with unprofiled runs.
    """
    run_dir = workdir / f"profiled-{kind}-{layout.name}"
    run_dir.mkdir()
    out = run_dir / "server.prof"
    server, swarm, info = setup(run_dir, layout, clients=clients, profile=out)
    try:
        if kind == "fixed-rate":
            row = fixed_rate(
                swarm, server, layout, senders=senders, rate=rate,
                duration=duration, info=info,
            )  # fmt: skip
        else:
            row = flat_out(
                swarm, server, layout, senders=senders,
                deliveries=flat_deliveries, info=info,
            )  # fmt: skip
    finally:
        swarm.close()
        server.stop()
    stats: Any = pstats.Stats(str(out))
    table = {
        where: entry for where, entry in stats.stats.items() if not _is_profiler(where)
    }
    return Profile(table, {**row, "profiled": True})


def _is_profiler(where: tuple[str, int, str]) -> bool:
    """The profiler's own snapshots (SIGUSR1), taken inside the window."""
    return (
        where[0] == "<string>"
        or where[0].endswith("cProfile.py")
        or "_lsprof" in where[2]
    )


_OURS = ("server/hub.py", "server/rooms.py")


def hot_spots(rooms: Profile, single: Profile, count: int = 15) -> str:
    """Where the server's CPU goes in `rooms`, against the single layout.

    Figures are own CPU (callees not counted) in µs per delivery, from all
    threads, during the measured window.
    """
    total_rooms = sum(rooms.own_us(where) for where in rooms.table)
    total_single = sum(single.own_us(where) for where in single.table)
    ranked = sorted(rooms.table, key=rooms.own_us, reverse=True)
    name = single.row["layout"]

    def line(where: tuple[str, int, str]) -> str:
        entry = rooms.table[where]
        figure = rooms.own_us(where)
        return (
            f"  {figure:7.3f} µs {figure / total_rooms:6.1%}  ({name} "
            f"{single.own_us(where):6.3f})  {entry[1]:>8} calls  {_short(where)}"
        )

    lines = [
        (
            f"profiled (cProfile, CPU per thread): {total_rooms:.2f} µs/delivery in "
            f"rooms ({rooms.row['deliveries']} deliveries of "
            f"{rooms.row['messages']} messages), {total_single:.2f} in {name} "
            f"({single.row['deliveries']} of {single.row['messages']}); top "
            f"{count} by own CPU in rooms:"
        )
    ]
    lines += [line(w) for w in ranked[:count]]
    lines.append(f"{', '.join(_OURS)} in rooms:")
    lines += [line(w) for w in ranked if any(part in w[0] for part in _OURS)][:count]
    growth = sorted(
        set(rooms.table) | set(single.table),
        key=lambda w: rooms.own_us(w) - single.own_us(w),
        reverse=True,
    )
    lines.append(
        f"most own CPU per delivery added by rooms over {name} "
        f"({total_rooms - total_single:+.2f} µs in all):"
    )
    lines += [
        f"  {rooms.own_us(w) - single.own_us(w):+7.3f} µs ({name} "
        f"{single.own_us(w):6.3f}, rooms {rooms.own_us(w):6.3f})  {_short(w)}"
        for w in growth[:count]
    ]
    return "\n".join(lines)


def _short(where: tuple[str, int, str]) -> str:
    path = where[0]
    for root in ("server/", "protocol/", "bench/", "clients/"):
        if root in path:
            path = root + path.rsplit(root, 1)[1]
            break
    else:
        path = path.rsplit("/", 1)[-1]
    return f"{path}:{where[1]}({where[2]})"
