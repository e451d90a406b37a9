"""The real `chinwag-tui` command in a pseudo-terminal (tmux), against a real server."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from clients.core import events as ev
from clients.core.testing import HeadlessDriver
from server import ChatServer, ServerConfig

pytestmark = pytest.mark.tui


def _tmux(*args: str) -> str:
    return subprocess.run(
        ["tmux", *args], capture_output=True, text=True, check=True
    ).stdout


def _screen(session: str) -> str:
    return _tmux("capture-pane", "-p", "-t", session)


def _wait_screen(session: str, text: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        screen = _screen(session)
        if text in screen:
            return screen
        if time.monotonic() > deadline:
            raise AssertionError(f"{text!r} never appeared; screen:\n{screen}")
        time.sleep(0.1)


@pytest.fixture(name="tmux")
def _tmux_session(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install -y tmux")
    session = f"chinwag-{uuid.uuid4().hex[:8]}"
    yield session
    subprocess.run(
        ["tmux", "kill-session", "-t", session], capture_output=True, check=False
    )


def test_the_real_command_in_a_terminal(tmux, tmp_path):
    with ChatServer(ServerConfig(port=0)) as server:
        host, port = server.address
        command = shutil.which("chinwag-tui")
        argv = [command] if command else [sys.executable, "-m", "clients.tui"]
        log_file = tmp_path / "tui.log"
        _tmux(
            "new-session",
            "-d",
            "-s",
            tmux,
            "-x",
            "100",
            "-y",
            "30",
            *argv,
            "--host",
            host,
            "--port",
            str(port),
            "--log-file",
            str(log_file),
        )
        _wait_screen(tmux, "Choose a nickname")
        _tmux("send-keys", "-t", tmux, "ann")
        time.sleep(0.3)
        _tmux("send-keys", "-t", tmux, "Enter")
        _wait_screen(tmux, "connected to")

        bob = HeadlessDriver(host, port, "bob")
        try:
            bob.wait_connected()
            bob.submit("hello from bob")
            _wait_screen(tmux, "<bob> hello from bob")
            _tmux("send-keys", "-t", tmux, "-l", "hi bob, from the terminal")
            time.sleep(0.2)
            _tmux("send-keys", "-t", tmux, "Enter")
            bob.wait_for(
                lambda e: (
                    isinstance(e, ev.ChatLine) and e.text == "hi bob, from the terminal"
                )
            )
            screen = _wait_screen(tmux, "<ann> hi bob, from the terminal")
            assert "ann · connected" in screen
            _tmux("send-keys", "-t", tmux, "C-c")
            bob.wait_for(lambda e: isinstance(e, ev.Left) and e.nick == "ann")
        finally:
            bob.close()
        assert Path(log_file).exists()
