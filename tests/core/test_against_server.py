"""Real sessions, real transports, a real server on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from clients.core import events as ev
from clients.core.logfile import configure_logging
from clients.core.testing import HeadlessDriver
from server import ChatServer, ServerConfig

pytestmark = pytest.mark.integration


@pytest.fixture(name="server")
def _server():
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="connect")
def _connect(server):
    drivers: list[HeadlessDriver] = []

    def connect(nick: str) -> HeadlessDriver:
        host, port = server.address
        driver = HeadlessDriver(host, port, nick)
        driver.wait_connected()
        drivers.append(driver)
        return driver

    yield connect
    for driver in drivers:
        driver.close()


def _chat(driver: HeadlessDriver, text: str, timeout: float = 5.0) -> ev.ChatLine:
    line = driver.wait_for(
        lambda e: isinstance(e, ev.ChatLine) and e.text == text, timeout
    )
    assert isinstance(line, ev.ChatLine)
    return line


def test_broadcast_reaches_everyone(connect):
    ann, bob, cat = connect("ann"), connect("bob"), connect("cat")
    assert ann.submit("hello everyone")
    assert _chat(ann, "hello everyone").is_own
    for other in (bob, cat):
        line = _chat(other, "hello everyone")
        assert (line.sender, line.is_own, line.is_direct) == ("ann", False, False)


def test_two_sessions_dm_each_other(connect):
    ann, bob, cat = connect("ann"), connect("bob"), connect("cat")
    # A DM to someone not (yet) in our user list is refused before sending.
    ann.wait_until(lambda: "bob" in ann.session.roster)
    bob.wait_until(lambda: "ann" in bob.session.roster)
    assert ann.submit("@bob secret")
    line = _chat(bob, "secret")
    assert (line.sender, line.target, line.is_direct) == ("ann", "bob", True)
    bob.submit("/msg ann got it")
    assert _chat(ann, "got it").is_direct
    cat.pump(0.2)
    assert cat.lines() == []


def test_users_matches_reality(connect):
    ann = connect("ann")
    connect("bob")
    since = len(ann.events)
    ann.submit("/users")
    listed = ann.wait_for(lambda e: isinstance(e, ev.UsersListed), since=since)
    assert listed == ev.UsersListed(("ann", "bob"))
    assert ann.session.roster == ("ann", "bob")


def test_taken_nick_gets_a_suffix(connect):
    connect("ann")
    second = connect("ann")
    assert second.session.nick == "ann_1"


def test_reconnects_after_a_server_restart_and_keeps_the_nick(server):
    host, port = server.address
    ann = HeadlessDriver(host, port, "ann")
    bob = HeadlessDriver(host, port, "bob")
    try:
        ann.wait_connected()
        bob.wait_connected()
        server.stop()
        ann.wait_reconnecting()
        bob.wait_reconnecting()
        assert ann.submit("typed while the server was down")
        with ChatServer(ServerConfig(port=port)):
            since = len(ann.events)
            ann.wait_connected(timeout=10, since=since)
            bob.wait_connected(timeout=10, since=since)
            assert ann.session.nick == "ann"
            assert bob.session.nick == "bob"
            # Sent after reconnecting, and confirmed by the server.
            line = _chat(ann, "typed while the server was down", timeout=10)
            assert line.is_own
            assert ann.session.unconfirmed == 0
    finally:
        ann.close()
        bob.close()


def test_two_hundred_lines_typed_while_the_server_is_down_arrive_once_in_order(
    server,
):
    """Issue 11, item 1: the client paces itself by the server's limits."""
    host, port = server.address
    ann = HeadlessDriver(host, port, "ann")
    try:
        ann.wait_connected()
        server.stop()
        ann.wait_reconnecting()
        texts = [f"line {n:03d}" for n in range(200)]
        for text in texts:
            assert ann.submit(text)
        assert ann.session.unconfirmed == 200
        # The real default limits (burst 20, 10/s) would take 20 s: a faster
        # server says so in Limits and the client follows it.
        config = ServerConfig(port=port, rate_burst=20, rate_per_second=100.0)
        with ChatServer(config):
            since = len(ann.events)
            ann.wait_connected(timeout=10, since=since)
            ann.wait_until(lambda: ann.session.unconfirmed == 0, 30)
            ann.pump(0.3)
        own = [line.text for line in ann.lines() if line.is_own]
        assert own == texts
        refusals = [
            e
            for e in ann.events
            if isinstance(e, ev.Notice) and e.level is ev.NoticeLevel.ERROR
        ]
        assert refusals == []
        changes = [e for e in ann.events[since:] if isinstance(e, ev.ConnectionChanged)]
        back = next(
            i
            for i, e in enumerate(changes)
            if e.status is ev.ConnectionStatus.CONNECTED
        )
        assert all(e.status is ev.ConnectionStatus.CONNECTED for e in changes[back:]), (
            "the client was dropped while sending what it had queued"
        )
    finally:
        ann.close()


def test_client_log_records_the_connection_but_no_text(server, tmp_path):
    log_file = tmp_path / "client.log"
    handler = configure_logging(log_file)
    host, port = server.address
    ann = HeadlessDriver(host, port, "ann")
    try:
        ann.wait_connected()
        ann.submit("a secret line")
        _chat(ann, "a secret line")
    finally:
        ann.close()
        logging.getLogger().removeHandler(handler)
        handler.close()
    text = log_file.read_text(encoding="utf-8")
    assert "connected" in text
    assert "a secret line" not in text


def test_unreachable_server_keeps_retrying(server):
    host, port = server.address
    server.stop()
    driver = HeadlessDriver(host, port, "ann")
    try:
        driver.wait_for(
            lambda e: (
                isinstance(e, ev.ConnectionChanged)
                and e.status is ev.ConnectionStatus.RECONNECTING
                and "refused" in e.detail
            )
        )
        driver.wait_for(
            lambda e: (
                isinstance(e, ev.ConnectionChanged)
                and e.status is ev.ConnectionStatus.CONNECTING
            ),
            since=2,
        )
    finally:
        driver.close()


def test_quit_is_a_clean_leave(connect):
    ann, bob = connect("ann"), connect("bob")
    bob.submit("/quit off to lunch")
    left = ann.wait_for(lambda e: isinstance(e, ev.Left))
    assert left == ev.Left("bob", "quit: off to lunch")


def test_headless_example_prints_what_arrives(server, connect):
    host, port = server.address
    ann = connect("ann")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "clients.core",
            "--host",
            host,
            "--port",
            str(port),
            "--nick",
            "bot",
            "--plaintext",
            "--linger",
            "0.5",
            "hello from a script",
            "@ann hi ann",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "connected to" in result.stdout
    assert "<bot> hello from a script" in result.stdout
    assert "you → ann (private): hi ann" in result.stdout
    assert _chat(ann, "hi ann").is_direct


def test_headless_register_then_login_over_tls(tmp_path):
    """The whole stack: TLS with a first-seen certificate, /register, --login."""
    config = ServerConfig(port=0, data_dir=tmp_path / "server", cheap_hashing=True)
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "client"),
        "CHINWAG_PASSWORD": "a long enough password",
    }
    with ChatServer(config) as server:
        host, port = server.address
        common = [sys.executable, "-m", "clients.core", "--host", host]
        common += ["--port", str(port), "--nick", "bot", "--linger", "0.3"]
        first = subprocess.run(
            [*common, "--trust-new", "--register", "hello as a new account"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
        assert first.returncode == 0, first.stderr
        assert "bot is now your account" in first.stdout
        assert "<bot> hello as a new account" in first.stdout
        # The token was kept: no password needed any more...
        env.pop("CHINWAG_PASSWORD")
        second = subprocess.run(
            [*common, "--login", "logged in again"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env=env,
        )
        assert second.returncode == 0, second.stderr
        assert "<bot> logged in again" in second.stdout
        # ... and it is kept only where the user alone can read it.
        (tokens,) = (tmp_path / "client").rglob("tokens.json")
        assert tokens.stat().st_mode & 0o077 == 0
        assert server.fingerprint is not None
        assert server.fingerprint in first.stdout
