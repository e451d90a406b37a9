"""The real `chinwag-gui` command on the virtual display."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys

import pytest

from clients.core import events as ev
from clients.core.settings import ClientSettings, save_settings

pytestmark = pytest.mark.gui


def test_the_real_command_joins_and_leaves_cleanly(server, peer, tmp_path):
    host, port = server.address
    bob = peer()
    command = shutil.which("chinwag-gui")
    argv = [command] if command else [sys.executable, "-m", "clients.gui"]
    # Our test server speaks no TLS yet.
    options = ["--host", host, "--port", str(port), "--nick", "zed", "--plaintext"]
    options += ["--log-file", str(tmp_path / "gui.log")]
    with subprocess.Popen(
        [*argv, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            bob.wait_for(
                lambda e: isinstance(e, ev.Joined) and e.nick == "zed", timeout=15
            )
            bob.submit("@zed hello window")
            bob.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.target == "zed")
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
            assert proc.returncode == 0
            left = bob.wait_for(lambda e: isinstance(e, ev.Left) and e.nick == "zed")
            assert left == ev.Left("zed", "quit: leaving")
            assert "Traceback" not in err
            assert "invalid command name" not in err
        finally:
            if proc.poll() is None:
                proc.kill()


def test_the_real_command_takes_the_saved_server_when_none_is_given(
    server, peer, tmp_path
):
    host, port = server.address
    # The autouse fixture points XDG_CONFIG_HOME at a temporary directory.
    save_settings(ClientSettings(host=host, port=port, nick="saved"))
    bob = peer()
    command = shutil.which("chinwag-gui")
    argv = [command] if command else [sys.executable, "-m", "clients.gui"]
    options = ["--nick", "zed", "--plaintext"]
    options += ["--log-file", str(tmp_path / "gui.log")]
    with subprocess.Popen(
        [*argv, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            bob.wait_for(
                lambda e: isinstance(e, ev.Joined) and e.nick == "zed", timeout=15
            )
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=10)
            assert proc.returncode == 0
            assert "Traceback" not in err
        finally:
            if proc.poll() is None:
                proc.kill()


def test_help_needs_no_display():
    out = subprocess.run(
        [sys.executable, "-m", "clients.gui", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    assert "--nick" in out
    assert "--appearance" in out
