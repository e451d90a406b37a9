"""The real `chinwag-tui` command in a pseudo-terminal (tmux), against a real server.

Each test has a tmux server of its own (`tmux -S <socket>`, no user config),
killed at the end, so options like focus-events never touch anyone else's.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clients.core import events as ev
from clients.core.testing import HeadlessDriver
from clients.core.trust import (
    KnownServers,
    default_known_servers_path,
    normalize_fingerprint,
)
from server import ChatServer, ServerConfig

pytestmark = pytest.mark.tui

ROOT = Path(__file__).resolve().parents[2]
_FRAME = set("│╭╮╰╯─▁▂▃▄▅▆▇█▔▊▎")


class Tmux:
    """One private tmux server, its socket in a directory of its own."""

    def __init__(self) -> None:
        # Short: a Unix socket path is limited to about 100 bytes.
        self._dir = Path(tempfile.mkdtemp(prefix="chinwag-tmux-"))
        self.socket = str(self._dir / "s")

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, "-f", os.devnull, *args],
            capture_output=True,
            text=True,
            check=True,
            input=stdin,
        ).stdout

    def screen(self, target: str) -> str:
        return self("capture-pane", "-p", "-t", target)

    def wait_screen(self, target: str, text: str, timeout: float = 10.0) -> str:
        return self.wait_until(target, lambda screen: text in screen, timeout)

    def wait_until(
        self, target: str, condition: Callable[[str], bool], timeout: float = 10.0
    ) -> str:
        """Poll the screen until `condition(screen)` holds; return that screen."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(target)
            if condition(screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"condition never met; screen:\n{screen}")
            time.sleep(0.1)

    def flag(self, target: str, name: str) -> str:
        return self("display-message", "-p", "-t", target, f"#{{{name}}}").strip()

    def kill(self) -> None:
        subprocess.run(
            ["tmux", "-S", self.socket, "kill-server"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(name="tmux")
def _tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: apt-get install -y tmux")
    tmux = Tmux()
    yield tmux
    tmux.kill()


@pytest.fixture(name="server")
def _server() -> Iterator[ChatServer]:
    with ChatServer(ServerConfig(port=0)) as server:
        yield server


@pytest.fixture(name="bob")
def _bob(server: ChatServer) -> Iterator[HeadlessDriver]:
    host, port = server.address
    bob = HeadlessDriver(host, port, "bob")
    bob.wait_connected()
    yield bob
    bob.close()


def _command(
    server: ChatServer, log_file: Path, *extra: str, tls: bool = False
) -> list[str]:
    """The real command for `server`; plaintext unless `tls` (the test server's)."""
    host, port = server.address
    command = shutil.which("chinwag-tui")
    argv = [command] if command else [sys.executable, "-m", "clients.tui"]
    return [
        *argv,
        "--host",
        host,
        "--port",
        str(port),
        "--log-file",
        str(log_file),
        *([] if tls else ["--plaintext"]),
        *extra,
    ]


def _start(tmux: Tmux, argv: list[str], size: tuple[int, int] = (80, 24)) -> str:
    session = "chat"
    width, height = size
    tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        str(width),
        "-y",
        str(height),
        "-c",
        str(ROOT),
        *argv,
    )
    return session


def _wait_ended(tmux: Tmux, target: str, timeout: float = 10.0) -> None:
    """Until the command in `target` has exited (its session is gone)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            tmux("has-session", "-t", target)
        except subprocess.CalledProcessError:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"still running; screen:\n{tmux.screen(target)}")
        time.sleep(0.1)


def _said(bob: HeadlessDriver, since: int) -> list[str]:
    return [
        e.text
        for e in bob.events[since:]
        if isinstance(e, ev.ChatLine) and e.sender == "ann"
    ]


def _exit_codes(screen: str) -> list[str]:
    """What `echo tui-exit=$?` printed (not the command line echoed as typed)."""
    return re.findall(r"tui-exit=(\d+)", screen.replace("tui-exit=$?", ""))


def _log_area(screen: str, title: str = "#lobby") -> str:
    """The text inside the frame of the chat log titled `title` (the
    conversation's name), rows joined, whitespace squeezed."""
    lines = screen.splitlines()
    top = next((n for n, row in enumerate(lines) if f"╭─ {title} " in row), None)
    if top is None:
        return ""
    left = lines[top].index(f"╭─ {title} ")
    right = lines[top].index("╮", left)
    rows = []
    for row in lines[top + 1 :]:
        if len(row) <= right or row[left] != "│":
            break
        inside = row[left + 1 : right]
        rows.append("".join(c for c in inside if c not in _FRAME))
    return "".join("".join(rows).split())


def test_the_real_command_in_a_terminal(tmux, server, bob, tmp_path):
    log_file = tmp_path / "tui.log"
    target = _start(tmux, _command(server, log_file))
    tmux.wait_screen(target, "Choose a nickname")
    tmux("send-keys", "-t", target, "ann")
    time.sleep(0.3)
    tmux("send-keys", "-t", target, "Enter")
    tmux.wait_screen(target, "connected to")

    bob.submit("hello from bob")
    tmux.wait_screen(target, "<bob> hello from bob")
    long = (
        "see https://example.invalid/ops/runbooks/" + "restart-" * 6 + "workers"
        " and read every step before you start; the last one matters most"
    )
    bob.submit(long)
    # Nothing is cut: every character of the long line is on the 80x24 screen.
    squeezed = "".join(long.split())
    tmux.wait_until(target, lambda screen: squeezed in _log_area(screen))

    tmux("send-keys", "-t", target, "-l", "hi bob, from the terminal")
    time.sleep(0.2)
    tmux("send-keys", "-t", target, "Enter")
    bob.wait_for(
        lambda e: isinstance(e, ev.ChatLine) and e.text == "hi bob, from the terminal"
    )
    screen = tmux.wait_screen(target, "<ann> hi bob, from the terminal")
    assert "ann · connected" in screen
    tmux("send-keys", "-t", target, "C-c")
    bob.wait_for(lambda e: isinstance(e, ev.Left) and e.nick == "ann")
    assert log_file.exists()


def _paste(tmux: Tmux, target: str, text: str, *, bracketed: bool) -> None:
    tmux("load-buffer", "-b", "clip", "-", stdin=text)
    # paste-buffer turns each LF into CR, as terminals do; -p wraps the
    # text in bracketed-paste markers when the app asked for them.
    tmux(
        "paste-buffer", "-d", "-b", "clip", "-t", target, *(["-p"] if bracketed else [])
    )


def test_pastes_in_a_real_terminal(tmux, server, bob, tmp_path):
    target = _start(tmux, _command(server, tmp_path / "tui.log", "--nick", "ann"))
    tmux.wait_screen(target, "connected to")
    bob.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "ann")

    # A bracketed paste of a few lines: one message, sent with Enter.
    since = len(bob.events)
    _paste(tmux, target, "one\ntwo\nthree", bracketed=True)
    tmux.wait_screen(target, "three")
    tmux("send-keys", "-t", target, "Enter")
    bob.wait_until(lambda: bool(_said(bob, since)))
    bob.pump(0.5)
    assert _said(bob, since) == ["one\ntwo\nthree"]

    # The same without brackets: the terminal sends keys, each line alone.
    since = len(bob.events)
    _paste(tmux, target, "first\nsecond\nthird\n", bracketed=False)
    bob.wait_until(lambda: len(_said(bob, since)) >= 3)
    bob.pump(0.5)  # nothing repeated afterwards
    assert _said(bob, since) == ["first", "second", "third"]

    # A long bracketed paste is previewed, then goes out as one message.
    since = len(bob.events)
    lines = [f"log line {n}" for n in range(1, 13)]
    _paste(tmux, target, "\n".join(lines), bracketed=True)
    tmux.wait_screen(target, "Send this paste as one message?")
    assert _said(bob, since) == []
    tmux("send-keys", "-t", target, "Enter")  # Send has the focus
    bob.wait_until(lambda: bool(_said(bob, since)))
    bob.pump(0.5)
    assert _said(bob, since) == ["\n".join(lines)]
    tmux("send-keys", "-t", target, "C-c")


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_leaves_cleanly(tmux, server, bob, tmp_path, number):
    pid_file = tmp_path / "tui.pid"
    argv = _command(server, tmp_path / "tui.log", "--nick", "ann")
    target = _start(tmux, ["sh"])
    tmux.wait_until(target, lambda screen: bool(screen.strip()))  # the prompt
    # `exec` keeps the pid the shell wrote: the TUI's own.
    line = f"sh -c {shlex.quote(f'echo $$ > {pid_file}; exec {shlex.join(argv)}')}"
    tmux("send-keys", "-t", target, "-l", f"{line}; echo tui-exit=$?")
    tmux("send-keys", "-t", target, "Enter")
    tmux.wait_screen(target, "connected to")
    bob.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "ann")
    assert tmux.flag(target, "alternate_on") == "1"
    assert tmux.flag(target, "mouse_any_flag") == "1"

    os.kill(int(pid_file.read_text()), number)

    screen = tmux.wait_until(target, lambda screen: bool(_exit_codes(screen)))
    assert _exit_codes(screen) == ["0"]  # it exited; the signal did not kill it
    left = bob.wait_for(lambda e: isinstance(e, ev.Left) and e.nick == "ann")
    assert left.reason.startswith("quit")
    # Back to the shell, the terminal as it was.
    assert tmux.flag(target, "alternate_on") == "0"
    assert tmux.flag(target, "cursor_flag") == "1"
    assert tmux.flag(target, "mouse_any_flag") == "0"
    assert tmux.flag(target, "mouse_sgr_flag") == "0"


def test_in_a_background_window_a_dm_rings_and_shows_a_toast(
    tmux, server, bob, tmp_path
):
    argv = _command(server, tmp_path / "tui.log", "--nick", "ann")
    _start(tmux, argv, size=(100, 30))
    pid = int(tmux.flag("chat:0", "pane_pid"))  # the TUI itself: no shell
    tmux("set-option", "-g", "focus-events", "on")
    tmux("set-option", "-g", "monitor-bell", "on")
    tmux("set-option", "-g", "bell-action", "any")
    tmux("new-window", "-d", "-t", "chat:1", "sh")
    # Focus events need a client looking at the session: attach one, from
    # a second private tmux server.
    outer = Tmux()
    try:
        outer(
            "new-session",
            "-d",
            "-x",
            "100",
            "-y",
            "30",
            "tmux",
            "-S",
            tmux.socket,
            "attach",
            "-t",
            "chat:0",
        )
        tmux.wait_screen("chat:0", "connected to")
        bob.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "ann")

        bob.submit("ann: while you look")
        tmux.wait_screen("chat:0", "while you look")
        time.sleep(0.3)
        assert "New mention" not in tmux.screen("chat:0")

        tmux("select-window", "-t", "chat:1")  # the chat is in the background now
        # The focus-out and the next DM race only in this test's set-up; a
        # few tries, each a second apart, are enough and still bounded.
        for attempt in range(5):
            bob.submit(f"@ann psst {attempt}")
            bob.pump(1.0)
            if tmux.flag("chat:0", "window_bell_flag") == "1":
                break
        assert tmux.flag("chat:0", "window_bell_flag") == "1"
        screen = tmux.wait_screen("chat:0", "New private message")
        assert "bob: psst" in screen
    finally:
        outer.kill()
    # Closing the terminal (the tmux server goes) ends the client: it once
    # hung for good in Textual's shutdown, writing to a terminal gone.
    tmux.kill()
    _wait_gone(pid)


def _wait_gone(pid: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # leave nothing behind, then fail
            raise AssertionError(f"process {pid} still running {timeout} s later")
        time.sleep(0.1)


def test_a_password_is_masked_on_screen_and_kept_out_of_the_log_file(
    tmux, server, tmp_path
):
    secret = "s3cret-for-the-terminal"
    log_file = tmp_path / "tui.log"
    argv = _command(server, log_file, "--nick", "ann", "--login")
    target = _start(tmux, argv)
    tmux.wait_screen(target, "Password for ann on")
    assert "connecting" in tmux.screen(target)  # asked before connecting
    tmux("send-keys", "-t", target, "-l", secret)
    screen = tmux.wait_screen(target, "•" * len(secret))
    assert secret not in screen
    tmux("send-keys", "-t", target, "Enter")
    # The server answers (a server without accounts says so, one with them
    # refuses the unknown account); the password is nowhere to be seen.
    screen = tmux.wait_until(
        target,
        lambda screen: "no accounts" in screen or "wrong nick or password" in screen,
    )
    assert secret not in screen
    assert "•" not in screen  # the masked field is gone, or empty again
    tmux("send-keys", "-t", target, "C-c")
    _wait_ended(tmux, target)
    text = log_file.read_text("utf-8")
    assert "ann" in text  # the log was written...
    assert secret not in text  # ...without the password


def test_tls_with_trust_new_in_a_real_terminal(tmux, server, bob, tmp_path):
    fingerprint = server.fingerprint
    assert fingerprint is not None  # the test server speaks TLS
    argv = _command(
        server, tmp_path / "tui.log", "--nick", "ann", "--trust-new", tls=True
    )
    target = _start(tmux, argv)
    # The log line and the status bar are painted in separate frames: wait
    # for both rather than read the status bar one frame too early.
    screen = tmux.wait_until(
        target, lambda screen: "connected to" in screen and "ann · connected" in screen
    )
    assert "not encrypted" not in screen
    # Trusted on first use without a question, and said so with the
    # fingerprint, whole on the 80x24 screen.
    assert "Is this the right server?" not in screen
    assert "".join(fingerprint.split()) in _log_area(screen)
    host, port = server.address
    assert normalize_fingerprint(
        KnownServers(default_known_servers_path()).pinned(host, port) or ""
    ) == normalize_fingerprint(fingerprint)

    bob.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "ann")
    bob.submit("hello over there")
    tmux.wait_screen(target, "<bob> hello over there")
    tmux("send-keys", "-t", target, "-l", "hi bob, encrypted")
    time.sleep(0.2)
    tmux("send-keys", "-t", target, "Enter")
    bob.wait_for(lambda e: isinstance(e, ev.ChatLine) and e.text == "hi bob, encrypted")
    tmux("send-keys", "-t", target, "C-c")
    _wait_ended(tmux, target)


def test_alt_number_and_ctrl_k_switch_in_a_real_terminal(tmux, server, bob, tmp_path):
    target = _start(tmux, _command(server, tmp_path / "tui.log", "--nick", "ann"))
    tmux.wait_screen(target, "connected to")
    bob.wait_for(lambda e: isinstance(e, ev.Joined) and e.nick == "ann")
    bob.submit("@ann a word in private")
    # The list numbers it, with its unread count marked.
    screen = tmux.wait_until(target, lambda s: re.search(r"2 bob +!1", s) is not None)
    assert "[act: 2!]" in screen
    tmux("send-keys", "-t", target, "-l", "kept for the lobby")
    time.sleep(0.2)
    # Alt+2 as the terminal sends it (ESC 2): bob's conversation, its log.
    tmux("send-keys", "-t", target, "M-2")
    screen = tmux.wait_until(target, lambda s: "awordinprivate" in _log_area(s, "bob"))
    assert "kept for the lobby" not in screen
    assert "Message bob (private)" in screen  # where a line typed now goes
    assert "¡" not in screen  # no character typed
    assert "™" not in screen
    # Ctrl+K, a few letters, Enter: back in the lobby, the draft with it.
    tmux("send-keys", "-t", target, "C-k")
    tmux.wait_screen(target, "Switch to a conversation")
    tmux("send-keys", "-t", target, "-l", "lob")
    time.sleep(0.2)
    tmux("send-keys", "-t", target, "Enter")
    screen = tmux.wait_until(
        target, lambda s: "╭─ #lobby " in s and "kept for the lobby" in s
    )
    assert "Switch to a conversation" not in screen
    tmux("send-keys", "-t", target, "C-c")
    _wait_ended(tmux, target)
