"""Desktop notifications: a mention or a private message while the window is
not looked at.

Tk has no notifications of its own, so this runs the desktop's tool:
`notify-send` (libnotify) or, failing that, `gdbus` talking to the
freedesktop notification service on Linux and other Unix desktops;
`osascript` on macOS. Elsewhere, or when no tool is there, nothing pops
up (the window still rings and counts in its title). The tool runs in the
background and is never waited for; what people wrote goes to it as
arguments (never through a shell) and never to a log.
"""

from __future__ import annotations

import functools
import html
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable

__all__ = [
    "MAX_BODY_CHARS",
    "Notifier",
    "desktop_notifier",
    "gdbus_command",
    "gvariant_string",
    "notify_send_command",
    "osascript_command",
]

log = logging.getLogger(__name__)

APP_NAME = "Chinwag"
MAX_BODY_CHARS = 200
EXPIRE_MS = 10_000
_MAX_RUNNING = 8
"""Notifications still being handed over at once; more are dropped (a flood)."""

Notify = Callable[[str, str], object]
"""`notify(title, body)`."""


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def notify_send_command(program: str, title: str, body: str) -> list[str]:
    """`notify-send`'s arguments. Its body is markup on most desktops, so
    `<bob>` would vanish as a tag: escaped."""
    return [
        program,
        f"--app-name={APP_NAME}",
        f"--expire-time={EXPIRE_MS}",
        "--",
        title,
        html.escape(body, quote=False),
    ]


def gvariant_string(text: str) -> str:
    """`text` as a GVariant text-format string that cannot break out of its
    quotes: everything but letters, digits and spaces is a \\u escape."""
    out = []
    for char in text:
        code = ord(char)
        if (char.isascii() and char.isalnum()) or char == " ":
            out.append(char)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def gdbus_command(program: str, title: str, body: str) -> list[str]:
    """A `gdbus call` of org.freedesktop.Notifications.Notify (its body is
    markup too: escaped)."""
    return [
        program,
        "call",
        "--session",
        "--dest=org.freedesktop.Notifications",
        "--object-path=/org/freedesktop/Notifications",
        "--method=org.freedesktop.Notifications.Notify",
        gvariant_string(APP_NAME),
        # Typed, so it works whether or not gdbus can introspect the service.
        "uint32 0",  # replaces no earlier notification
        '""',  # no icon
        gvariant_string(title),
        gvariant_string(html.escape(body, quote=False)),
        "@as []",  # no actions
        "@a{sv} {}",  # no hints
        f"int32 {EXPIRE_MS}",
    ]


def osascript_command(program: str, title: str, body: str) -> list[str]:
    """AppleScript's `display notification`, the words passed as arguments
    (never spliced into the script)."""
    return [
        program,
        "-e",
        "on run argv",
        "-e",
        "display notification (item 2 of argv) with title (item 1 of argv)",
        "-e",
        "end run",
        title,
        body,
    ]


class Notifier:
    """Pops up a notification with a desktop tool, without waiting for it.

    Args:
        command: builds the tool's arguments from (title, body).
    """

    def __init__(self, command: Callable[[str, str], list[str]]) -> None:
        self._command = command
        self._running: list[subprocess.Popen[bytes]] = []

    def __call__(self, title: str, body: str) -> None:
        # Reap the ones that finished (no zombies, no ResourceWarning).
        self._running = [p for p in self._running if p.poll() is None]
        if len(self._running) >= _MAX_RUNNING:
            log.info("notification dropped: %d still being shown", _MAX_RUNNING)
            return
        argv = self._command(_shorten(title, 100), _shorten(body, MAX_BODY_CHARS))
        try:
            process = subprocess.Popen(  # noqa: S603 - fixed program, words as arguments
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            log.warning("could not show a desktop notification: %s", exc)
            return
        self._running.append(process)

    def close(self, timeout: float = 1.0) -> None:
        """Wait a little for the tools still running (the window is closing)."""
        for process in self._running:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._running.clear()


def desktop_notifier(platform: str = sys.platform) -> Notifier | None:
    """The notifier for this desktop, or None if it has no tool for it."""
    if platform == "darwin":
        program = shutil.which("osascript")
        if program is not None:
            return Notifier(functools.partial(osascript_command, program))
        return None
    if platform.startswith("win"):
        return None  # no tool that ships with Windows; the title bar counts
    program = shutil.which("notify-send")
    if program is not None:
        return Notifier(functools.partial(notify_send_command, program))
    program = shutil.which("gdbus")
    if program is not None:
        return Notifier(functools.partial(gdbus_command, program))
    return None
