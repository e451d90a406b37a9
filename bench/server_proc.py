"""The server under test, as its own process, and what /proc says about it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")

# `python -c` this with the stats file and then the server's arguments: the
# server as `python -m server` would run it, with every thread under its own
# cProfile (the stdlib profiles only the thread that enabled it), timed by
# that thread's CPU clock so that waiting in select() or fsync() is not
# counted. SIGUSR1 takes a snapshot of the totals (`getstats` only reads);
# the file gets what was spent between the first two snapshots (or from the
# first to the exit), so start-up, joins and shutdown can be left out. It is
# in the `pstats` format, without callers.
_PROFILED = """
import cProfile, marshal, runpy, signal, sys, threading, time
out = sys.argv.pop(1)
profiles = []
run = threading.Thread.run
def profiled_run(self):
    profile = cProfile.Profile(time.thread_time)
    profiles.append(profile)
    profile.enable()
    try:
        run(self)
    finally:
        profile.disable()
threading.Thread.run = profiled_run
def totals():
    table = {}
    for profile in list(profiles):
        for entry in profile.getstats():
            key = cProfile.label(entry.code)
            calls, own, cumulative = table.get(key, (0, 0.0, 0.0))
            table[key] = (
                calls + entry.callcount,
                own + entry.inlinetime,
                cumulative + entry.totaltime,
            )
    return table
marks = []
signal.signal(signal.SIGUSR1, lambda *_: marks.append(totals()))
main = cProfile.Profile(time.thread_time)
profiles.append(main)
sys.argv[0] = "server"
main.enable()
try:
    runpy.run_module("server", run_name="__main__", alter_sys=True)
finally:
    main.disable()
    marks.append(totals())
    start, end = (marks[0], marks[1]) if len(marks) > 1 else ({}, marks[0])
    stats = {}
    for key, (calls, own, cumulative) in end.items():
        calls0, own0, cumulative0 = start.get(key, (0, 0.0, 0.0))
        if calls > calls0 or own > own0:
            n = calls - calls0
            stats[key] = (n, n, own - own0, cumulative - cumulative0, {})
    with open(out, "wb") as file:
        marshal.dump(stats, file)
"""


class ServerProcess:
    """`python -m server` on 127.0.0.1, by default with limits opened up for load.

    Args:
        workdir: where the server writes its log.
        outbox_size: the per-client buffer before a slow client is dropped.
        open_limits: lift the flood limit, the idle timeouts and the client
            cap (the fan-out runs); False keeps the server's defaults (abuse).
        extra: more command-line options.
        profile: write the server's cProfile statistics (all threads, CPU
            time) to this file when it stops; it runs slower meanwhile.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        outbox_size: int = 1024 * 1024,
        open_limits: bool = True,
        extra: list[str] | None = None,
        profile: Path | None = None,
    ) -> None:
        start = (
            [sys.executable, "-m", "server"]
            if profile is None
            else [sys.executable, "-c", _PROFILED, str(profile)]
        )
        command = [
            *start, "--port", "0",
            "--log-file", str(workdir / "bench-server.log"),
            "--data-dir", str(workdir / "data"),
        ]  # fmt: skip
        if open_limits:
            command += [
                "--max-clients", "10000",
                "--rate-burst", "1000000000", "--rate", "1000000000",
                "--ping-interval", "600", "--idle-timeout", "1200",
                "--outbox-size", str(outbox_size),
                "--outbox-total", str(outbox_size * 10000),
            ]  # fmt: skip
        command += extra or []
        self.profile = profile
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not match:
            self.proc.kill()
            msg = f"server did not start: {line!r}"
            raise RuntimeError(msg)
        self.address = (match.group(1), int(match.group(2)))

    def mark_profile(self) -> None:
        """Start, then end, the profiled window (a no-op without `profile`)."""
        if self.profile is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        fields = (
            Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        )
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else 0

    def threads(self) -> int:
        return sum(1 for _ in Path(f"/proc/{self.proc.pid}/task").iterdir())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def settle(server: ServerProcess, *, quiet: float = 0.3, limit: float = 30.0) -> None:
    """Wait until the server's CPU use stops growing (a storm has passed)."""
    deadline = time.monotonic() + limit
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = server.cpu_seconds()
        if now - last < quiet * 0.02:
            return
        last = now
