"""What stored history costs (issue 14): fan-out with storage on against off,
and the time to resume a client that missed many messages.

Fan-out: the same fixed-rate and flat-out scenarios as the default benchmark
(`bench.scenarios`, version 1 clients sending SendText: every accepted
message is stored all the same), run alternately against a server with its
default storage and one started with `--no-history`, several rounds each;
the medians are compared. Resume: a data directory is filled through the
message store's own API before the server starts, then a version 2 client
with `history` catches up with `FetchHistory(after=..., limit=500)` while
`HistoryEnd.more`, paced by the server's `Limits` as the real client is.
Loopback only; every loop that sends traffic is bounded in count and time.
"""

from __future__ import annotations

import collections
import os
import pstats
import random
import socket
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

import protocol as p
from bench import scenarios
from bench.loadgen import own_cpu_seconds
from bench.server_proc import ServerProcess, settle
from clients.core.pacing import Pacer

HISTORY_CAPS = (p.CAP_LIMITS, p.CAP_SESSION, p.CAP_HISTORY)
PAGE = p.MAX_HISTORY_PAGE
FILL_BATCH = 10_000
"""Messages per transaction when filling the store (as a busy server's group
commit would, only bigger)."""

CPU_GOAL = 1.15
"""Issue 14: storage on costs at most 15% more server CPU per delivery..."""
P99_GOAL_MS = 20.0
"""...and p99 stays at most 20 ms, at 50k deliveries/s."""

_CHAT = (
    "the lunch meeting moved to three deploy went fine any news about release "
    "coffee build is green again see you tomorrow thanks that works for me "
    "who broke main sorry my fault fixing it now weekend plans rain again"
)
_WORDS = tuple(_CHAT.split(" "))


# --- fan-out with storage on and off -----------------------------------------


def fan_out(
    workdir: Path,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    messages: int,
    rounds: int,
    record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Flat-out and fixed-rate runs, storage off and on, alternating.

    The order flips every round (off, on / on, off / ...) so that a machine
    getting busier or quieter during the run does not favour one side.

    Returns:
        One row per run (each also given to `record` as soon as it is
        measured), with `storage` and `round` added.
    """
    rows = []
    for index in range(rounds):
        order = (False, True) if index % 2 == 0 else (True, False)
        for storage in order:
            extra = [] if storage else ["--no-history"]
            for kind in ("flat-out", "fixed-rate"):
                run_dir = workdir / f"{kind}-{index}-{'on' if storage else 'off'}"
                run_dir.mkdir()
                if kind == "flat-out":
                    row = scenarios.flat_out(
                        run_dir,
                        clients=clients,
                        senders=senders,
                        messages=messages,
                        extra=extra,
                    )
                else:
                    row = scenarios.fixed_rate(
                        run_dir,
                        clients=clients,
                        senders=senders,
                        rate=rate,
                        duration=duration,
                        extra=extra,
                    )
                row.update(
                    mode="history",
                    storage=storage,
                    round=index,
                    db_bytes=_database_bytes(run_dir / "data"),
                )
                rows.append(row)
                record(row)
    return rows


FIGURES = (
    ("server_us_per_delivery", "server CPU µs/delivery"),
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("deliveries_per_s", "deliveries/s"),
)


def compare(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of storage off and on per scenario and figure, and on/off."""
    summary: dict[str, Any] = {"scenario": "history-summary"}
    for kind in ("flat-out", "fixed-rate"):
        for key, _title in FIGURES:
            off, on = (
                statistics.median(
                    _figure(r, key)
                    for r in rows
                    if r["scenario"] == kind and r["storage"] is s
                )
                for s in (False, True)
            )
            summary[f"{kind}:{key}"] = {
                "off": off,
                "on": on,
                "ratio": round(on / off, 3) if off else None,
            }
    return summary


def _figure(row: dict[str, Any], key: str) -> float:
    if key == "server_us_per_delivery":
        # Recomputed with more digits: flat out it is a fraction of a µs.
        return round(row["server_cpu_s"] / max(row["deliveries"], 1) * 1e6, 3)
    value: float = row[key]
    return value


def describe_fan_out(summary: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    rounds = len({r["round"] for r in rows})
    first = rows[0]
    lines = [
        (
            f"storage off / on, N={first['clients']} S={first['senders']}, "
            f"median of {rounds} rounds (alternating):"
        )
    ]
    for kind in ("fixed-rate", "flat-out"):
        for key, title in FIGURES:
            if kind == "flat-out" and key.startswith("p"):
                continue  # flat out, latency is queueing, not a figure
            cell = summary[f"{kind}:{key}"]
            lines.append(
                f"  {kind:>10} {title:<23} off {cell['off']:>10}  on {cell['on']:>10}"
                f"  ratio {cell['ratio']}"
            )
    fixed = [r for r in rows if r["scenario"] == "fixed-rate"]
    on_rate = statistics.median(r["deliveries_per_s"] for r in fixed if r["storage"])
    cpu = summary["fixed-rate:server_us_per_delivery"]["ratio"]
    p99 = summary["fixed-rate:p99_ms"]
    lines.append(
        f"  goal at {fixed[0]['target_per_s']:g}/s (reached {on_rate}/s with storage"
        f" on): CPU ratio <= {CPU_GOAL}: {cpu} ({_met(cpu <= CPU_GOAL)}); p99 <= "
        f"{P99_GOAL_MS:g} ms with storage on: {p99['on']} ms "
        f"({_met(p99['on'] <= P99_GOAL_MS)}; {p99['off']} ms with storage off)"
    )
    if "fsync_ms" in summary:
        median, worst = summary["fsync_ms"]
        lines.append(
            f"  fsync floor on this disk: {median} ms median, {worst} ms worst of 50 "
            "(a stored message waits for one)"
        )
    lost = [r for r in rows if r["lost"]]
    lines += [
        f"  note: {r['scenario']} round {r['round']} storage "
        f"{'on' if r['storage'] else 'off'}: {r['lost']} deliveries lost"
        for r in lost
    ]
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _database_bytes(data_dir: Path) -> int:
    return sum(
        path.stat().st_size
        for path in data_dir.glob("chinwag.sqlite3*")
        if path.is_file()
    )


@attrs.frozen
class Profile:
    """A profiled fixed-rate run: the server's `pstats` table and its row."""

    table: dict[tuple[str, int, str], tuple[Any, ...]]
    row: dict[str, Any]

    @property
    def deliveries(self) -> int:
        return max(int(self.row["deliveries"]), 1)

    def own_us(self, where: tuple[str, int, str]) -> float:
        """CPU spent in `where` itself, in µs per delivery."""
        entry = self.table.get(where)
        return 0.0 if entry is None else entry[2] / self.deliveries * 1e6


def profile_fixed_rate(
    workdir: Path,
    *,
    clients: int,
    senders: int,
    rate: float,
    duration: float,
    storage: bool,
) -> Profile:
    """One more fixed-rate run with the server under cProfile.

    Only the measured window is profiled (see `ServerProcess`); cProfile
    makes every call dearer, so compare the functions with each other, not
    the totals with the unprofiled runs.
    """
    run_dir = workdir / f"profiled-{'on' if storage else 'off'}"
    run_dir.mkdir()
    out = run_dir / "server.prof"
    row = scenarios.fixed_rate(
        run_dir,
        clients=clients,
        senders=senders,
        rate=rate,
        duration=duration,
        extra=[] if storage else ["--no-history"],
        profile=out,
    )
    stats: Any = pstats.Stats(str(out))
    table = {
        where: entry for where, entry in stats.stats.items() if not _is_profiler(where)
    }
    return Profile(table, {**row, "storage": storage, "profiled": True})


def _is_profiler(where: tuple[str, int, str]) -> bool:
    """The profiler's own snapshot (SIGUSR1), run inside the window."""
    return (
        where[0] == "<string>"
        or where[0].endswith("cProfile.py")
        or "_lsprof" in where[2]
    )


_OURS = ("server/history.py", "server/hub.py", "server/store/")


def hot_spots(on: Profile, off: Profile, count: int = 20) -> str:
    """Where the server's CPU goes with storage on, and what storage adds.

    Figures are own CPU (not counting callees) in µs per delivery, from all
    threads, during the measured window.
    """
    ranked = sorted(on.table, key=on.own_us, reverse=True)
    total_on = sum(on.own_us(where) for where in on.table)
    total_off = sum(off.own_us(where) for where in off.table)

    def line(where: tuple[str, int, str], figure: float, total: float) -> str:
        entry = on.table.get(where)
        calls = 0 if entry is None else entry[1]
        return (
            f"  {figure:7.3f} µs {figure / total:6.1%}  {calls:>9} calls  "
            f"{_short(where[0])}:{where[1]}({where[2]})"
        )

    lines = [
        (
            f"profiled (cProfile, CPU per thread): {total_on:.2f} µs/delivery with "
            f"storage on ({on.row['deliveries']} deliveries, p99 "
            f"{on.row['p99_ms']} ms), {total_off:.2f} off; top {count} by own CPU "
            "with storage on:"
        )
    ]
    lines += [line(w, on.own_us(w), total_on) for w in ranked[:count]]
    ours = [w for w in ranked if any(part in w[0] for part in _OURS)]
    lines.append(f"{', '.join(_OURS)} with storage on:")
    lines += [line(w, on.own_us(w), total_on) for w in ours[:count]]
    added = total_on - total_off
    growth = sorted(
        set(on.table) | set(off.table),
        key=lambda w: on.own_us(w) - off.own_us(w),
        reverse=True,
    )
    lines.append(
        f"most own CPU added by storage (on - off; {added:+.2f} µs/delivery in all):"
    )
    lines += [_change(on, off, w) for w in growth[:count]]
    lines.append("most own CPU saved by storage (off - on):")
    lines += [_change(on, off, w) for w in reversed(growth[-count // 2 :])]
    return "\n".join(lines)


def _change(on: Profile, off: Profile, where: tuple[str, int, str]) -> str:
    return (
        f"  {on.own_us(where) - off.own_us(where):+7.3f} µs (off "
        f"{off.own_us(where):6.3f}, on {on.own_us(where):6.3f})  "
        f"{_short(where[0])}:{where[1]}({where[2]})"
    )


def _short(path: str) -> str:
    for root in ("server/", "protocol/", "bench/", "clients/"):
        if root in path:
            return root + path.rsplit(root, 1)[1]
    return path.rsplit("/", 1)[-1] if "/" in path else path


def fsync_floor_ms(directory: Path, count: int = 50) -> tuple[float, float]:
    """What one small append + fsync costs on the disk under `directory`.

    A stored message reaches nobody before its commit is durable (the WAL
    is synced at each commit), so this bounds storage's latency from below.

    Returns:
        The median and the largest of `count` appends, in ms.
    """
    path = directory / "fsync-floor"
    times = []
    with path.open("ab") as file:
        for _ in range(count):
            started = time.perf_counter()
            file.write(b"x" * 200)
            file.flush()
            os.fsync(file.fileno())
            times.append((time.perf_counter() - started) * 1e3)
    path.unlink()
    return round(statistics.median(times), 2), round(max(times), 2)


# --- resuming a client that missed many messages -----------------------------


def fill(data_dir: Path, count: int, *, seed: int = 14) -> tuple[int, float]:
    """Store `count` messages to everyone, ids 1..count, through the store's API.

    Texts are 2 to 20 words, as chat lines are; 40 senders take turns.

    Returns:
        The last id stored, and the seconds it took.
    """
    # Imported here: the other modes of `python -m bench` run the server as a
    # process only, and need not import it.
    from server.store.base import StoredMessage  # noqa: PLC0415
    from server.store.messages import SqliteMessageStore  # noqa: PLC0415

    rng = random.Random(seed)
    started = time.monotonic()
    now_ms = int(time.time() * 1000)
    with SqliteMessageStore.in_data_dir(data_dir) as store:
        first = store.last_id() + 1
        last = first + count - 1
        for start in range(first, last + 1, FILL_BATCH):
            batch = []
            for message_id in range(start, min(start + FILL_BATCH, last + 1)):
                sender = message_id % 40
                batch.append(
                    StoredMessage(
                        id=message_id,
                        timestamp_ms=now_ms - (last - message_id) * 50,
                        sender=f"user{sender:02d}",
                        sender_party=f"s:{sender:032x}",
                        target=None,
                        target_party=None,
                        text=" ".join(rng.choices(_WORDS, k=rng.randint(2, 20))),
                    )
                )
            store.append(batch)
    return last, time.monotonic() - started


class _Client:
    """One blocking version 2 client with `history`, for the catch-up."""

    def __init__(self, address: tuple[str, int], nick: str) -> None:
        if address[0] not in ("127.0.0.1", "::1"):
            msg = "the benchmark only ever targets loopback"
            raise ValueError(msg)
        self.sock = socket.create_connection(address, timeout=30.0)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn = p.Connection(p.Role.CLIENT)
        self.pending: collections.deque[p.Event] = collections.deque()
        self.nick = nick
        self.received_bytes = 0

    def send(self, message: p.Message) -> None:
        self.sock.sendall(self.conn.send(message))

    def next(self, deadline: float) -> p.Event:
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                msg = "no answer in time"
                raise TimeoutError(msg)
            self.sock.settimeout(remaining)
            data = self.sock.recv(262144)
            if not data:
                msg = "the server closed the connection"
                raise EOFError(msg)
            self.received_bytes += len(data)
            for event in self.conn.receive_data(data):
                if isinstance(event, p.Ping):
                    self.send(p.Pong(payload=event.payload))
                else:
                    self.pending.append(event)
        return self.pending.popleft()

    def greet(self, deadline: float) -> tuple[p.Welcome, p.Limits | None]:
        self.send(
            p.Hello(
                version=2,
                client_name="bench",
                nick=self.nick,
                capabilities=HISTORY_CAPS,
            )
        )
        self.send(p.Identify())
        welcome = self.next(deadline)
        if not isinstance(welcome, p.Welcome):
            msg = f"not welcomed: {welcome!r}"
            raise RuntimeError(msg)  # noqa: TRY004 - a refusal, not a type mistake
        if p.CAP_HISTORY not in welcome.capabilities:
            msg = "the server does not offer history"
            raise RuntimeError(msg)
        limits = None
        while True:  # Limits, then SessionToken (spec 12.1, 12.2)
            event = self.next(deadline)
            if isinstance(event, p.Limits):
                limits = event
            elif isinstance(event, p.SessionToken):
                return welcome, limits

    def close(self) -> None:
        self.sock.close()


def catch_up(
    server: ServerProcess,
    *,
    after: int,
    expected: int,
    nick: str,
    pace: bool,
    timeout: float,
) -> dict[str, Any]:
    """Connect and fetch every message after `after`, as the real client does.

    Args:
        server: the server (for its address, CPU and RSS).
        after: the largest id the client has seen.
        expected: how many messages it should receive.
        nick: the client's nick.
        pace: keep to the server's `Limits` with the client core's `Pacer`.
        timeout: the whole catch-up gives up after this many seconds.
    """
    deadline = time.monotonic() + timeout
    max_pages = expected // 50 + 10  # a page holds far more than 50 of these
    rss_before = server.rss_bytes()
    started = time.monotonic()
    client = _Client(server.address, nick)
    try:
        _welcome, limits = client.greet(deadline)
        greeted = time.monotonic()
        pacer = Pacer()
        pacer.restart(greeted, spent=2)  # Hello and Identify
        if limits is not None:
            pacer.configure(limits.rate_burst, limits.rate_interval_ms / 1000, greeted)
        cpu0, own0, t0 = server.cpu_seconds(), own_cpu_seconds(), time.monotonic()
        rss_peak = server.rss_bytes()
        ids: list[int] = []
        pages = refused = 0
        waited = 0.0
        last = after
        more = True
        while more and pages < max_pages:
            if pace:
                wait = pacer.wait(time.monotonic())
                waited += wait
                time.sleep(wait)
                pacer.spend(time.monotonic())
            pages += 1
            client.send(p.FetchHistory(ref=pages, after=last, limit=PAGE))
            while True:
                event = client.next(deadline)
                if isinstance(event, p.Recalled) and event.ref == pages:
                    ids.append(event.id)
                elif isinstance(event, p.HistoryEnd) and event.ref == pages:
                    more = event.more
                    break
                elif isinstance(event, p.Error) and event.ref == pages:
                    if event.code is not p.ErrorCode.RATE_LIMITED:
                        msg = f"FetchHistory refused: {event!r}"
                        raise RuntimeError(msg)
                    refused += 1
                    pacer.back_off(time.monotonic())
                    break
            if ids:
                last = ids[-1]
            if pages % 20 == 0:
                rss_peak = max(rss_peak, server.rss_bytes())
        elapsed = time.monotonic() - t0
        cpu = server.cpu_seconds() - cpu0
        own = own_cpu_seconds() - own0
        rss_peak = max(rss_peak, server.rss_bytes())
    finally:
        client.close()
    rss_after = server.rss_bytes()
    unique = len(set(ids))
    return {
        "scenario": "history-resume",
        "paced": pace,
        "limits": None
        if limits is None
        else {"burst": limits.rate_burst, "interval_ms": limits.rate_interval_ms},
        "after": after,
        "expected": expected,
        "received": len(ids),
        "duplicates": len(ids) - unique,
        "in_order": ids == sorted(ids),
        "missing": expected - unique,
        "pages": pages,
        "refused_pages": refused,
        "greet_s": round(greeted - started, 3),
        "seconds": round(elapsed, 2),
        "paced_wait_s": round(waited, 2),
        "messages_per_s": round(len(ids) / elapsed) if elapsed else None,
        "bytes_received": client.received_bytes,
        "server_cpu_s": round(cpu, 2),
        "client_cpu_s": round(own, 2),
        "server_us_per_message": round(cpu / max(len(ids), 1) * 1e6, 2),
        "rss_before_mb": _mb(rss_before),
        "rss_peak_mb": _mb(rss_peak),
        "rss_after_mb": _mb(rss_after),
    }


def _mb(value: int) -> float:
    return round(value / 2**20, 1)


def resume(
    workdir: Path,
    *,
    count: int,
    rounds: int,
    record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Fill a store with `count` + 1 messages; a client that saw the first
    one catches up on the `count` after it.

    With the rate limit opened up (`rounds` times, on one server, so memory
    that is not given back would show as growth), then with the server's
    default limits, paced by its `Limits` frame as the real client is.
    """
    data = workdir / "data"
    last, fill_s = fill(data, count + 1)
    db_mb = _mb(_database_bytes(data))
    rows = []
    for open_limits in (True, False):
        server = ServerProcess(workdir, open_limits=open_limits)
        try:
            time.sleep(0.3)
            for index in range(rounds if open_limits else 1):
                try:
                    row = catch_up(
                        server,
                        after=1,
                        expected=last - 1,
                        nick=f"resume{index}",
                        pace=not open_limits,
                        timeout=max(120.0, count / 100),
                    )
                except (OSError, EOFError, RuntimeError) as error:
                    # TimeoutError is an OSError. The server's log says why;
                    # it goes with the temporary directory, so keep its end.
                    log = (workdir / "bench-server.log").read_text(errors="replace")
                    row = {
                        "scenario": "history-resume",
                        "error": f"{type(error).__name__}: {error}",
                        "server_log_tail": log.splitlines()[-30:],
                    }
                row.update(
                    expected=last - 1,
                    round=index,
                    open_limits=open_limits,
                    fill_s=round(fill_s, 2),
                    db_mb=db_mb,
                )
                rows.append(row)
                record(row)
                settle(server)
        finally:
            server.stop()
    return rows


def describe_resume(rows: list[dict[str, Any]]) -> str:
    first = rows[0]
    lines = [
        (
            f"resume: {first['expected']} missed messages ({first['db_mb']} MB "
            f"database, {first['db_mb'] * 2**20 / first['expected']:.0f} bytes a "
            f"message with its index; filled in {first['fill_s']} s), "
            f"FetchHistory(after=..., limit={PAGE}) while more:"
        )
    ]
    for row in rows:
        if "error" in row:
            lines.append(
                f"  round {row['round']} (limits opened up: {row['open_limits']}) "
                f"FAILED: {row['error']}; the server's log ends:"
            )
            lines += [f"    {text}" for text in row["server_log_tail"]]
            continue
        how = (
            "limits opened up, unpaced"
            if row["open_limits"]
            else f"server's default limits {row['limits']}, paced"
        )
        lines.append(
            f"  {how:<52} {row['seconds']:>7} s  {row['messages_per_s']:>7} msg/s"
            f"  {row['pages']} pages  CPU: server {row['server_us_per_message']} µs/msg"
            f", client {row['client_cpu_s']} s"
            f"  RSS {row['rss_before_mb']} -> peak {row['rss_peak_mb']} -> "
            f"{row['rss_after_mb']} MB"
            + (
                f"  (received {row['received']}, missing {row['missing']},"
                f" duplicates {row['duplicates']})"
                if row["missing"] or row["duplicates"] or not row["in_order"]
                else ""
            )
        )
    unpaced = [r["seconds"] for r in rows if r["open_limits"] and "error" not in r]
    if len(unpaced) > 1:
        lines.append(
            f"  unpaced median {statistics.median(unpaced)} s over {len(unpaced)} runs"
        )
    return "\n".join(lines)
