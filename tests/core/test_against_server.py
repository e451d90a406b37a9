"""Real sessions, real transports, a real server on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clients.core import events as ev
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
    ann.submit("@bob secret")
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
        ann.wait_for(
            lambda e: (
                isinstance(e, ev.ConnectionChanged)
                and e.status is ev.ConnectionStatus.RECONNECTING
            )
        )
        bob.wait_for(
            lambda e: (
                isinstance(e, ev.ConnectionChanged)
                and e.status is ev.ConnectionStatus.RECONNECTING
            )
        )
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
            assert any(
                isinstance(e, ev.Notice) and "typed while disconnected" in e.text
                for e in ann.events
            )
    finally:
        ann.close()
        bob.close()


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
