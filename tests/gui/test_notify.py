"""Desktop notifications: the real tools run, with what people wrote passed
through intact and harmless.

`notify-send` is played by a small executable on PATH that records its
arguments. `gdbus` is the real one, calling a notification service on a
private session bus (`dbus-run-session`) that the test runs with jeepney.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from clients.gui.notify import (
    MAX_BODY_CHARS,
    Notifier,
    desktop_notifier,
    gvariant_string,
    osascript_command,
)

pytestmark = pytest.mark.gui

HOSTILE = "<b>bold</b> & $(touch pwned) `id` 'quote' \"dq\" \\ é 😀 %s {}"


def _recorder(directory: Path, name: str) -> Path:
    """An executable `name` in `directory` that writes its arguments to a file."""
    directory.mkdir(exist_ok=True)
    out = directory / f"{name}.args"
    script = directory / name
    script.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import json, sys
            with open({str(out)!r}, "w", encoding="utf-8") as f:
                json.dump(sys.argv[1:], f)
            """
        ),
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return out


def test_notify_send_gets_the_words_as_arguments_escaped_for_markup(
    tmp_path, monkeypatch
):
    out = _recorder(tmp_path / "bin", "notify-send")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    notifier = desktop_notifier("linux")
    assert notifier is not None
    monkeypatch.chdir(tmp_path)
    notifier("bob (private message)", HOSTILE)
    notifier.close()
    args = json.loads(out.read_text(encoding="utf-8"))
    assert args[-3:] == [
        "--",
        "bob (private message)",
        HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    ]
    assert "--app-name=Chinwag" in args
    assert not (tmp_path / "pwned").exists()  # no shell ever saw it


def test_a_long_body_is_cut(tmp_path, monkeypatch):
    out = _recorder(tmp_path / "bin", "notify-send")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    notifier = desktop_notifier("linux")
    assert notifier is not None
    notifier("t", "y" * 5000)
    notifier.close()
    body = json.loads(out.read_text(encoding="utf-8"))[-1]
    assert len(body) == MAX_BODY_CHARS
    assert body.endswith("…")


def test_without_notify_send_gdbus_is_used_and_without_either_nothing(
    tmp_path, monkeypatch
):
    out = _recorder(tmp_path / "bin", "gdbus")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    notifier = desktop_notifier("linux")
    assert notifier is not None
    notifier("title", "body")
    notifier.close()
    args = json.loads(out.read_text(encoding="utf-8"))
    assert args[:2] == ["call", "--session"]
    assert "--method=org.freedesktop.Notifications.Notify" in args
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert desktop_notifier("linux") is None
    assert desktop_notifier("win32") is None


def test_a_tool_that_cannot_start_is_logged_not_raised(caplog):
    notifier = Notifier(lambda title, body: ["/nonexistent/notify-send", title, body])
    notifier("secret title", "secret body")
    assert "could not show a desktop notification" in caplog.text
    assert "secret" not in caplog.text


def test_osascript_takes_the_words_as_arguments_not_as_script():
    argv = osascript_command("osascript", 'x" & do shell script "id', HOSTILE)
    script = " ".join(argv[1:7])
    assert "do shell script" not in script
    assert argv[-2:] == ['x" & do shell script "id', HOSTILE]


def test_gvariant_strings_escape_everything_but_letters_digits_and_spaces():
    assert gvariant_string("ann 42") == '"ann 42"'
    assert gvariant_string('a"b') == '"a\\u0022b"'
    assert gvariant_string("😀") == '"\\U0001f600"'


_SERVICE = r"""
import functools, json, shutil, sys
from jeepney import HeaderFields, MessageType, new_error, new_method_return
from jeepney.bus_messages import message_bus
from jeepney.io.blocking import open_dbus_connection
from clients.gui.notify import Notifier, gdbus_command

title, body = json.loads(sys.argv[1])
with open_dbus_connection(bus="SESSION") as conn:
    conn.send_and_get_reply(message_bus.RequestName("org.freedesktop.Notifications"))
    notifier = Notifier(functools.partial(gdbus_command, shutil.which("gdbus")))
    notifier(title, body)
    for _ in range(20):
        msg = conn.receive(timeout=20)
        if msg.header.message_type is not MessageType.method_call:
            continue
        member = msg.header.fields.get(HeaderFields.member)
        if member == "Notify":
            conn.send(new_method_return(msg, "u", (7,)))
            print(json.dumps({"signature": msg.header.fields.get(HeaderFields.signature),
                              "body": [msg.body[i] for i in (0, 1, 2, 3, 4, 7)]}))
            break
        conn.send(new_error(msg, "org.freedesktop.DBus.Error.UnknownMethod"))
    notifier.close()
"""


@pytest.mark.skipif(
    shutil.which("gdbus") is None or shutil.which("dbus-run-session") is None,
    reason="needs gdbus and dbus-run-session",
)
def test_gdbus_delivers_the_exact_words_to_a_notification_service(tmp_path):
    pytest.importorskip("jeepney")
    title = "bob in #rust"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("DBUS_SESSION_BUS_ADDRESS", None)
    result = subprocess.run(
        [
            shutil.which("dbus-run-session") or "dbus-run-session",
            "--",
            sys.executable,
            "-c",
            _SERVICE,
            json.dumps([title, HOSTILE]),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["signature"] == "susssasa{sv}i"
    assert answer["body"] == [
        "Chinwag",
        0,
        "",
        title,
        HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
        10_000,
    ]
    assert not (tmp_path / "pwned").exists()
