"""The "login storm" scenario: chat latency while 50 logins a second hit the server.

Each login costs the server an argon2id hash (about 150 ms and 64 MiB with
the default parameters), which runs in a bounded pool off the network
threads. The same fixed-rate chat is measured twice: quietly, then while a
thread of this process opens a connection and logs in with the right
password `logins_per_s` times a second. Reported: chat p99 in both phases,
and how the logins ended (accepted, or refused as "busy" once the pool's
queue is full). Loopback only; every loop is bounded in time.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import protocol as p
from bench import scenarios
from bench.server_proc import ServerProcess
from tests.wire import WireClient

PASSWORD = "a benchmark password"  # noqa: S105 - a throwaway test account
CAPS = (p.CAP_ACCOUNTS, p.CAP_LIMITS, p.CAP_SESSION)


def _storm(
    address: tuple[str, int],
    per_second: float,
    stop: threading.Event,
    outcomes: collections.Counter[str],
) -> None:
    interval = 1.0 / per_second
    due = time.monotonic()
    while not stop.is_set():
        due += interval
        threading.Thread(target=_login, args=(address, outcomes), daemon=True).start()
        stop.wait(max(0.0, due - time.monotonic()))


def _login(address: tuple[str, int], outcomes: collections.Counter[str]) -> None:
    try:
        client = WireClient(address, timeout=10.0)
    except OSError:
        outcomes["could not connect"] += 1
        return
    try:
        client.send(
            p.Hello(version=2, client_name="storm", nick="storm", capabilities=CAPS)
        )
        client.send(p.Identify(password=PASSWORD))
        first = client.next(10.0)
        outcomes[
            "logged in"
            if isinstance(first, p.Welcome)
            else type(first).__name__
            + (f" {first.code.name}" if isinstance(first, p.Error) else "")
        ] += 1
    except (OSError, TimeoutError):
        outcomes["no answer"] += 1
    finally:
        client.close()


def login_storm(
    workdir: Path,
    *,
    clients: int,
    rate: float,
    duration: float,
    logins_per_s: float,
) -> dict[str, Any]:
    """Chat p99 without and with a storm of password logins."""
    env = {**os.environ, "CHINWAG_PASSWORD": PASSWORD}
    subprocess.run(
        [sys.executable, "-m", "server", "admin", "--data-dir", str(workdir / "data"),
         "create-user", "storm"],
        check=True, env=env, capture_output=True, timeout=60,
    )  # fmt: skip
    server, swarm, info = scenarios.setup(workdir, clients)
    try:
        quiet = _chat(swarm, server, clients, rate, duration)
        outcomes: collections.Counter[str] = collections.Counter()
        stop = threading.Event()
        storm = threading.Thread(
            target=_storm, args=(server.address, logins_per_s, stop, outcomes)
        )
        storm.start()
        try:
            busy = _chat(swarm, server, clients, rate, duration)
        finally:
            stop.set()
            storm.join(5)
        time.sleep(1.0)  # let the last logins finish
        return {
            "scenario": "login-storm",
            "clients": clients,
            "target_per_s": rate,
            "logins_per_s": logins_per_s,
            "quiet_p99_ms": quiet["p99_ms"],
            "storm_p99_ms": busy["p99_ms"],
            "ratio": round(busy["p99_ms"] / max(quiet["p99_ms"], 1e-9), 2),
            "logins": dict(outcomes),
            **info,
        }
    finally:
        swarm.close()
        server.stop()


def _chat(
    swarm: Any, server: ServerProcess, clients: int, rate: float, duration: float
) -> dict[str, Any]:
    send = scenarios.fixed_rate_sender(
        swarm, senders=10, rate=rate, clients=clients, duration=duration, padding=0
    )
    return scenarios.measure(
        swarm, server, clients=clients, senders=10, padding=0, send=send
    )
