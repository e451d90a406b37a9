"""`chinwag-server` as a user runs it: a subprocess, a log file, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

import protocol as p
from server.__main__ import build_parser, config_from_args
from tests.wire import WireClient

pytestmark = pytest.mark.integration


@pytest.fixture(name="cli_server")
def _cli_server(tmp_path):
    log_file = tmp_path / "server_logs.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "--port", "0", "--log-file", str(log_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if not match:
            proc.kill()
            pytest.fail(f"server did not start: {line!r} {proc.stderr.read()!r}")
        yield proc, int(match.group(1)), log_file
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_serves_logs_and_stops_on_sigterm(cli_server):
    proc, port, log_file = cli_server
    ann = WireClient(("127.0.0.1", port))
    assert ann.hello("ann").nick == "ann"
    bob = WireClient(("127.0.0.1", port))
    bob.hello("bob")
    bob.send(p.SendDirect(ref=1, target="ann", text="secret plans"))
    assert ann.expect(p.Delivered, skip=(p.UserJoined,)).text == "secret plans"
    bob.send(p.Bye(reason="bye"))
    bob.wait_closed()
    evil = WireClient(("127.0.0.1", port))
    evil.send_raw(b"\xff\xff\xff\xff")
    evil.wait_closed()

    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 2.5
    assert p.Bye(reason="server shutting down") in ann.wait_closed()

    for client in (ann, bob, evil):
        client.close()
    log = log_file.read_text(encoding="utf-8")
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    assert re.search(stamp + r" INFO .*server started on 127\.0\.0\.1:\d+", log)
    assert re.search(stamp + r" INFO .*connected 127\.0\.0\.1:\d+", log)
    assert re.search(r"joined 127\.0\.0\.1:\d+ as ann", log)
    assert re.search(r"disconnected bob \(127\.0\.0\.1:\d+\): quit: bye", log)
    assert re.search(r"WARNING .*protocol error from - .*exceeds", log)
    assert "received SIGTERM" in log
    assert "server stopped" in log
    assert "secret plans" not in log


def test_help_lists_the_options():
    out = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--host",
        "--port",
        "--log-file",
        "--max-clients",
        "--max-frame-size",
        "--rate",
    ):
        assert option in out


def test_bad_option_is_a_clear_error():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--ping-interval",
            "100",
            "--idle-timeout",
            "50",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "idle_timeout must be longer" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(cli_server, tmp_path):
    _, port, _ = cli_server
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--port",
            str(port),
            "--log-file",
            str(tmp_path / "x.log"),
        ],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_every_option_is_explained_in_its_group():
    out = subprocess.run(
        [sys.executable, "-m", "server", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "100"},
    ).stdout
    parser = build_parser()
    groups = {
        group.title: [a for a in group._group_actions if a.option_strings]
        for group in parser._action_groups
    }
    assert {"network", "limits", "timeouts", "logging"} <= set(groups)
    for action in parser._actions:
        assert action.help, f"{action.option_strings} has no help text"
    for title, actions in groups.items():
        if title in {"network", "limits", "timeouts", "logging"}:
            section = out.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]
            for action in actions:
                assert action.option_strings[-1] in section
    assert "examples:" in out


def test_options_reach_the_config():
    args = build_parser().parse_args(
        [
            "--limit-loopback",
            "--max-per-address", "3",
            "--new-per-address", "4",
            "--new-per-address-window", "5",
            "--outbox-size", "300000",
            "--outbox-total", "9000000",
            "--flood-kick-after", "7",
            "--flood-cooldown", "0",
            "--reader-threads", "3",
            "--close-grace", "1.5",
        ]
    )  # fmt: skip
    config = config_from_args(args)
    assert (
        config.exempt_loopback,
        config.max_per_address,
        config.new_per_address,
        config.new_per_address_window,
        config.outbox_size,
        config.outbox_total,
        config.flood_kick_after,
        config.flood_cooldown,
        config.reader_threads,
        config.close_grace,
    ) == (False, 3, 4, 5.0, 300_000, 9_000_000, 7, 0.0, 3, 1.5)


def test_max_frame_size_has_a_floor():
    result = subprocess.run(
        [sys.executable, "-m", "server", "--max-frame-size", "17032"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "17033" in result.stderr
    assert "Traceback" not in result.stderr
