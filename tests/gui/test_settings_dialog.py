"""The settings dialog: opened with Ctrl+comma or the ⚙ button, saved through
the real `ChatClient.change_setting` (to the settings file), applied live."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path

import customtkinter as ctk
import pytest

from clients.core import events as ev
from clients.core.settings import default_settings_path
from clients.gui.app import ChatWindow
from clients.gui.settings_dialog import preview_time
from tests.gui.conftest import press, pump

pytestmark = pytest.mark.gui

WHEN_MS = 1_796_000_000_000


def _line(text: str) -> ev.ChatLine:
    return ev.ChatLine(
        id=1,
        timestamp_ms=WHEN_MS,
        sender="bob",
        target=None,
        text=text,
        is_own=False,
        is_direct=False,
        mentions_me=False,
    )


def _local(time_format: str) -> str:
    return datetime.fromtimestamp(WHEN_MS / 1000).astimezone().strftime(time_format)


def _open(window: ChatWindow):
    press(window.pane.input, "<Control-comma>")
    pump(
        window,
        lambda: (
            window.settings_dialog is not None and window.settings_dialog.is_shown()
        ),
    )
    return window.settings_dialog


def _saved() -> dict[str, object]:
    path: Path = default_settings_path()
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_the_time_format_changes_every_line_and_is_saved(fake_window):
    window, _ = fake_window()
    window._show([_line("what time is it")])
    assert (
        window.chat_text().split("\n")[-2] == f"{_local('%H:%M')} <bob> what time is it"
    )
    dialog = _open(window)
    assert dialog.timestamps_text.get() == "%H:%M"
    assert dialog.time_preview.cget("text") == "e.g. 09:41"
    dialog.timestamps.delete(0, "end")
    dialog.timestamps.insert(0, "%H:%M:%S")
    assert dialog.time_preview.cget("text") == "e.g. 09:41:07"
    press(dialog.timestamps, "<Return>")
    pump(window, lambda: not dialog.is_shown())
    assert window.client.settings.timestamps == "%H:%M:%S"
    assert _saved()["timestamps"] == "%H:%M:%S"
    assert window.chat_text().split("\n")[-2] == (
        f"{_local('%H:%M:%S')} <bob> what time is it"
    )
    # None at all.
    dialog = _open(window)
    dialog.timestamps.delete(0, "end")
    dialog.save_button.invoke()
    pump(window, lambda: not dialog.is_shown())
    assert window.chat_text().split("\n")[-2] == "<bob> what time is it"
    assert _saved()["timestamps"] == ""


def test_a_mistake_is_shown_and_nothing_is_saved(fake_window):
    window, _ = fake_window()
    dialog = _open(window)
    dialog.timestamps.delete(0, "end")
    dialog.timestamps.insert(0, "%H:%M:%S")
    dialog.port.delete(0, "end")
    dialog.port.insert(0, "99999")
    dialog.save_button.invoke()
    window.update()
    assert dialog.is_shown()
    assert dialog.error_text().startswith("⚠ Port: ")
    assert "65535" in dialog.error_text()
    assert window.client.settings.timestamps == "%H:%M"  # not half saved
    assert not default_settings_path().exists()
    dialog.timestamps.delete(0, "end")
    dialog.timestamps.insert(0, "%H" * 30)
    dialog.port.delete(0, "end")
    dialog.port.insert(0, "7000")
    dialog.save_button.invoke()
    window.update()
    assert dialog.error_text().startswith("⚠ Time before lines: ")
    press(dialog.timestamps, "<Escape>")
    pump(window, lambda: not dialog.is_shown())
    assert window.client.settings.port == 9090


def test_theme_notifications_and_the_start_values(fake_window):
    window, _ = fake_window()
    try:
        window.pane.conversation_list.settings_button.invoke()
        dialog = window.settings_dialog
        pump(window, dialog.is_shown)
        assert dialog.values() == {
            "theme": "system",
            "timestamps": "%H:%M",
            "notifications": True,
            "host": "127.0.0.1",
            "port": "9090",
            "nick": "",
        }
        dialog.theme.set("Dark")
        dialog.notifications.deselect()
        dialog.host.delete(0, "end")
        dialog.host.insert(0, "chat.example.org")
        dialog.nick.insert(0, "ann")
        dialog.save_button.invoke()
        pump(window, lambda: not dialog.is_shown())
        assert ctk.get_appearance_mode() == "Dark"
        assert window.notifications is False
        saved = _saved()
        assert saved["theme"] == "dark"
        assert saved["notifications"] is False
        assert saved["host"] == "chat.example.org"
        assert saved["nick"] == "ann"
    finally:
        ctk.set_appearance_mode("system")


@pytest.mark.parametrize(
    ("time_format", "shown"),
    [("%H:%M", "e.g. 09:41"), ("", "no time shown"), ("[%I:%M %p]", "e.g. [09:41 AM]")],
)
def test_preview_time(time_format, shown):
    assert preview_time(time_format) == shown
