"""The open-file limit: clients past it are refused, accept() failures back off.

The servers here run in subprocesses whose open-file limit is lowered to
`FD_LIMIT` (soft and hard, so they cannot raise it back), which makes the
wall a few dozen clients away instead of 20,000.
"""

from __future__ import annotations

import itertools
import logging
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import protocol as p
from server.listener import (
    ACCEPT_PAUSE_FIRST,
    ACCEPT_PAUSE_MAX,
    FD_MARGIN,
    AcceptFailures,
    client_cap,
)
from tests.wire import WireClient

FD_LIMIT = 128
EXTRA = 10
"""Clients connected past the cap (or while out of descriptors)."""
REPO = Path(__file__).resolve().parents[2]
ACCEPT_FAILED = re.compile(
    r"accept failed(?: (\d+) times since the last report)?: .*Too many open files; "
    r"(\d+) waiting connections refused"
)


def _small_fd_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


# --- the arithmetic ----------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "open_files", "in_use", "clients", "reserved"),
    [
        (2048, None, 30, 2048, 0),  # no limit at all
        (100, 20_000, 29, 100, 0),  # plenty of room: the configured number
        (50_000, 20_000, 29, 20_000 - 29 - FD_MARGIN, 29 + FD_MARGIN),
        (19_907, 20_000, 29, 19_907, 0),  # exactly fits
        (19_908, 20_000, 29, 19_907, 29 + FD_MARGIN),
        (1000, 128, 30, 49, 79),  # a tiny limit keeps half of what is free
        (1000, 30, 30, 0, 30),  # nothing left for clients
    ],
)
def test_client_cap(configured, open_files, in_use, clients, reserved):
    cap = client_cap(configured, open_files, in_use)
    assert cap.clients == clients
    assert cap.configured == configured
    assert cap.reserved == reserved
    assert cap.open_files == (open_files if clients < configured else None)


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _emfile() -> OSError:
    return OSError(24, "Too many open files")


def test_accept_failures_back_off_and_log_rarely(caplog):
    caplog.set_level(logging.INFO, logger="server")
    clock = _Clock()
    failures = AcceptFailures(clock, interval=10.0)
    # Nothing can be refused: the pause doubles up to its maximum.
    pauses = [failures.failed(_emfile(), 0) for _ in range(8)]
    assert pauses[0] == ACCEPT_PAUSE_FIRST
    assert pauses == sorted(pauses)
    assert pauses[-1] == ACCEPT_PAUSE_MAX
    assert all(b in {a * 2, ACCEPT_PAUSE_MAX} for a, b in itertools.pairwise(pauses))
    # Refusing waiting connections is progress: back to a short pause.
    assert failures.failed(_emfile(), 3) == ACCEPT_PAUSE_FIRST
    failures.succeeded()
    assert failures.pause == 0.0
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "accept failed: [Errno 24] Too many open files; 0 waiting connections refused"
    ]

    failures.report()  # too soon for another line
    clock.now += 9.9
    failures.report()
    assert len(caplog.records) == 1
    clock.now += 0.1
    failures.report()
    assert caplog.records[-1].getMessage() == (
        "accept failed 8 times since the last report: [Errno 24] Too many open "
        "files; 3 waiting connections refused"
    )
    clock.now += 60
    failures.report()  # nothing new: nothing said
    assert len(caplog.records) == 2
    failures.failed(_emfile(), 1)  # allowed at once, after a quiet interval
    failures.failed(_emfile(), 1)
    assert len(caplog.records) == 3
    failures.report(final=True)  # the server is stopping: say it now
    assert caplog.records[-1].getMessage().startswith("accept failed")
    assert "; 1 waiting connections refused" in caplog.records[-1].getMessage()
    assert len(caplog.records) == 4


# --- real servers ------------------------------------------------------------


def _failures_in(log: str) -> tuple[int, int, int]:
    """(lines, accept() failures, connections refused) the log reports."""
    lines = failures = refused = 0
    for match in ACCEPT_FAILED.finditer(log):
        lines += 1
        failures += int(match.group(1) or 1)
        refused += int(match.group(2))
    return lines, failures, refused


def _refused_full(client: WireClient) -> None:
    events = client.wait_closed()
    errors = [e for e in events if isinstance(e, p.Error)]
    assert errors, f"no Error before close: {events!r}"
    assert errors[-1].code is p.ErrorCode.SERVER_FULL
    assert errors[-1].text == "server full, try again later"
    assert isinstance(events[-1], p.Bye)


def _say(sender: WireClient, to: WireClient, text: str) -> None:
    """A direct message goes through, so the server still serves both."""
    assert to.nick is not None
    sender.send(p.SendDirect(ref=1, target=to.nick, text=text))
    skip = (p.UserJoined, p.UserLeft)
    assert sender.expect(p.Delivered, skip=skip).text == text  # its own copy
    assert to.expect(p.Delivered, skip=skip).text == text


@pytest.fixture(name="small_server")
def _small_server(tmp_path):
    """`chinwag-server` under an open-file limit of `FD_LIMIT`: (address, log file)."""
    log_file = tmp_path / "server_logs.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "server",
            "--port",
            "0",
            "--max-clients",
            "1000",
            "--data-dir",
            str(tmp_path / "data"),
            "--log-file",
            str(log_file),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        preexec_fn=_small_fd_limit,  # noqa: PLW1509 - a one-line rlimit call
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        assert match, f"server did not start: {line!r}"
        yield ("127.0.0.1", int(match.group(1))), log_file
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _welcomed_once_there_is_room(address: tuple[str, int]) -> list[WireClient]:
    """Connect until one is welcomed (at most 50 tries); every client tried."""
    tried: list[WireClient] = []
    for attempt in range(50):
        client = WireClient(address)
        tried.append(client)
        try:
            if isinstance(client.hello(f"late{attempt}"), p.Welcome):
                return tried
        except (EOFError, OSError):  # refused, and reset after the refusal
            pass
        time.sleep(0.05)
    msg = "no room was made"
    raise AssertionError(msg)


@pytest.mark.integration
def test_clients_past_the_open_file_limit_get_server_full(small_server):
    address, log_file = small_server
    cap_line = re.search(
        rf"INFO .*max clients (\d+) \(open-file limit {FD_LIMIT}, (\d+) kept "
        r"for the server; configured 1,000\)",
        log_file.read_text(encoding="utf-8"),
    )
    assert cap_line, log_file.read_text(encoding="utf-8")
    cap, reserved = int(cap_line.group(1)), int(cap_line.group(2))
    assert cap + reserved == FD_LIMIT
    assert 0 < cap < FD_LIMIT - 20  # the server's own files are kept

    clients: list[WireClient] = []
    try:
        for index in range(cap):
            clients.append(WireClient(address))
            assert isinstance(clients[-1].hello(f"c{index}"), p.Welcome)
        for _ in range(EXTRA):
            clients.append(WireClient(address))
            _refused_full(clients[-1])
        # Everyone held is still served.
        first, last = clients[0], clients[cap - 1]
        _say(first, last, "still here")
        _say(last, first, "me too")
        # One leaves: its place is free again (once the server has seen it go).
        first.send(p.Bye(reason="bye"))
        first.wait_closed()
        clients += _welcomed_once_there_is_room(address)
    finally:
        for client in clients:
            client.close()

    log = log_file.read_text(encoding="utf-8")
    assert "accept failed" not in log
    assert "Too many open files" not in log
    full = rf"refused 127\.0\.0\.1:\d+: server full \({cap} clients, open-file limit {FD_LIMIT}\)"
    assert len(re.findall(full, log)) >= EXTRA


class _Hog:
    """`tests.server.fd_hog`: a real server whose descriptors can be used up."""

    def __init__(self, tmp_path: Path) -> None:
        self.log_file = tmp_path / "server_logs.log"
        self._stderr = (tmp_path / "stderr.txt").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.server.fd_hog",
                str(self.log_file),
                str(tmp_path / "data"),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            cwd=REPO,
            preexec_fn=_small_fd_limit,  # noqa: PLW1509 - a one-line rlimit call
        )
        line = self.proc.stdout.readline()
        match = re.fullmatch(r"port (\d+) cap (\d+)\n", line)
        assert match, f"server did not start: {line!r}"
        self.address = ("127.0.0.1", int(match.group(1)))
        self.cap = int(match.group(2))

    def command(self, text: str) -> str:
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def hog(self, command: str = "hog") -> None:
        reply = self.command(command)
        assert re.fullmatch(r"hogged \d+", reply), reply
        assert int(reply.split()[1]) > 0

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                assert self.command("stop") == "stopped"
                assert self.proc.wait(timeout=10) == 0
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            self._stderr.close()


def _most_failures(seconds: float) -> int:
    """accept() failures possible in `seconds` of backing off (plus one turn)."""
    failures, waited, pause = 1, 0.0, ACCEPT_PAUSE_FIRST
    while waited + pause <= seconds:
        failures += 1
        waited += pause
        pause = min(ACCEPT_PAUSE_MAX, pause * 2)
    return failures + 1


@pytest.mark.integration
def test_out_of_descriptors_refuses_backs_off_and_logs_rarely(tmp_path):
    started = time.monotonic()
    hog = _Hog(tmp_path)
    clients: list[WireClient] = []

    def connect() -> WireClient:
        client = WireClient(hog.address)
        clients.append(client)
        return client

    try:
        held = [connect() for _ in range(3)]
        for index, client in enumerate(held):
            assert isinstance(client.hello(f"held{index}"), p.Welcome)

        # Out of descriptors, with the spare: waiting connections are told.
        hog.hog()
        for _ in range(EXTRA):
            _refused_full(connect())
        _say(held[0], held[1], "no files left")
        assert hog.command("release") == "released"
        assert isinstance(connect().hello("after"), p.Welcome)

        # Not even the spare: nothing to do but wait, rarely retrying.
        hog.hog("hog-spare")
        stuck_since = time.monotonic()
        waiting = connect()
        waiting.send(p.Hello(version=p.PROTOCOL_VERSION, client_name="t", nick="w"))
        _say(held[1], held[2], "still served")
        with pytest.raises(TimeoutError):
            waiting.next(3.0)  # neither accepted nor refused: it waits
        stuck_for = time.monotonic() - stuck_since
        assert hog.command("release") == "released"
        assert isinstance(waiting.next(), p.Welcome)  # accepted at last
        _say(held[2], held[0], "all well")
    finally:
        for client in clients:
            client.close()
        hog.close()
    ran_for = time.monotonic() - started

    log = hog.log_file.read_text(encoding="utf-8")
    lines, failures, refused = _failures_in(log)
    assert refused == EXTRA
    assert lines == log.count("accept failed")
    # One line at the first failure, one per interval after, one at stop.
    assert 1 <= lines <= 2 + ran_for // 10
    # At most one failure per refused client (one turn may refuse two: the
    # next may connect while the last is being closed); while stuck, the
    # pause doubles, so a spinning acceptor would fail hundreds of times.
    assert 2 <= failures <= 2 * EXTRA + _most_failures(stuck_for)
    assert "Traceback" not in log
