"""Screenshots of the terminal client, compared with the committed SVGs.

The app runs on a fake transport with fixed server timestamps and UTC as the
local zone, and the cursor does not blink, so the pictures are stable.
Regenerate with `nox -s snapshot_update` after reviewing the HTML report.
"""

from __future__ import annotations

import time

import pytest
from textual import events

import protocol as p
from clients.core.testing import FakeTransport
from clients.core.tls import TlsInfo
from clients.core.trust import KnownServers
from clients.tui.app import ChatApp
from clients.tui.screens import PasswordScreen, TrustScreen
from tests.tui.helpers import FakeServer, plaintext, secure, status, until

pytestmark = pytest.mark.tui

SIZE = (80, 24)
NOON = 1_767_268_800_000  # 2026-01-01 12:00:00 UTC


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _still(app: ChatApp) -> None:
    """No blinking cursor on any screen (a modal's or the one under it)."""
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False  # type: ignore[attr-defined]


def test_nick_prompt(snap_compare, tmp_path):
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        security=plaintext(tmp_path),
        transport_factory=FakeTransport.factory(),
    )

    async def before(pilot):
        _still(app)
        await pilot.press(*"a b", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_main_screen_with_a_conversation(snap_compare):
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob", "cat")),
    )

    async def before(pilot):
        _still(app)
        await pilot.pause()
        fake = FakeTransport.instances[-1]
        fake.deliver(
            p.Delivered(id=1, timestamp_ms=NOON, sender="bob", text="morning all"),
            p.Delivered(
                id=2, timestamp_ms=NOON + 60_000, sender="ann", text="hi bob", ref=1
            ),
            p.Delivered(
                id=3,
                timestamp_ms=NOON + 120_000,
                sender="cat",
                target="ann",
                text="psst, lunch?",
            ),
            p.Delivered(
                id=4,
                timestamp_ms=NOON + 180_000,
                sender="bob",
                text="ann: the build is green",
            ),
            p.Delivered(
                id=5,
                timestamp_ms=NOON + 240_000,
                sender="cat",
                text="steps:\n1. pull\n2. run the tests",
            ),
            p.UserJoined(nick="dan"),
        )
        await pilot.pause()
        await pilot.press(*"on my way", "enter")  # the fake never echoes: pending
        await pilot.press(*"/nope", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_narrow_terminal_scrolled_up_with_new_lines_below(snap_compare):
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )

    async def before(pilot):
        _still(app)
        await pilot.pause()
        fake = FakeTransport.instances[-1]
        fake.deliver(
            *(
                p.Delivered(id=n, timestamp_ms=NOON, sender="bob", text=f"line {n}")
                for n in range(10, 20)
            ),
            p.Delivered(
                id=1,
                timestamp_ms=NOON,
                sender="bob",
                text="the runbook is at https://example.invalid/ops/runbooks/"
                "restart-the-workers and it says to drain the queue first",
            ),
        )
        await pilot.pause()
        await pilot.press("pageup")
        fake.deliver(
            p.Delivered(id=2, timestamp_ms=NOON + 60_000, sender="bob", text="below"),
            p.Delivered(id=3, timestamp_ms=NOON + 60_000, sender="bob", text="more"),
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=(40, 12), run_before=before)


def test_narrow_terminal_with_a_long_line(snap_compare):
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )

    async def before(pilot):
        _still(app)
        await pilot.pause()
        FakeTransport.instances[-1].deliver(
            p.Delivered(
                id=1,
                timestamp_ms=NOON,
                sender="bob",
                text="ann: the runbook is https://example.invalid/ops/runbooks/"
                "restart-the-workers\nit says: drain the queue first",
            ),
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=(40, 12), run_before=before)


def test_long_paste_preview(snap_compare):
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=None,
        transport_factory=FakeTransport.factory(users=("bob",)),
    )

    async def before(pilot):
        _still(app)
        await pilot.pause()
        app.post_message(
            events.Paste("\n".join(f"line {n} of the log" for n in range(1, 9)))
        )
        await pilot.pause()
        _still(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


FINGERPRINT = ":".join(f"{byte:02X}" for byte in range(32))
OTHER = ":".join(f"{255 - byte:02X}" for byte in range(32))
SELF_SIGNED = TlsInfo(fingerprint=FINGERPRINT, verified=False, version="TLSv1.3")


def test_trust_question(snap_compare, tmp_path):
    fake = FakeServer(tls=SELF_SIGNED)
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=secure(tmp_path),
        transport_factory=fake.factory,
    )

    async def before(pilot):
        await until(pilot, lambda: isinstance(app.screen, TrustScreen))
        _still(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_password_question_masks_what_is_typed(snap_compare, tmp_path):
    fake = FakeServer(accounts=True)
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=plaintext(tmp_path),
        transport_factory=fake.factory,
    )

    async def before(pilot):
        await until(pilot, lambda: "connected" in status(app))
        app.message_input.set_text("/register")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PasswordScreen))
        _still(app)
        await pilot.press(*"hunter22", "enter")
        await pilot.press(*"hunter2")
        await pilot.pause()
        assert "hunter2" not in "".join(  # masked: what the picture shows
            strip.text for strip in app.screen._compositor.render_strips()
        )

    assert snap_compare(app, terminal_size=SIZE, run_before=before)


def test_changed_certificate_warning(snap_compare, tmp_path):
    KnownServers(tmp_path / "known_servers").pin("127.0.0.1", 9090, OTHER)
    fake = FakeServer(tls=SELF_SIGNED)
    app = ChatApp(
        host="127.0.0.1",
        port=9090,
        nick="ann",
        security=secure(tmp_path),
        transport_factory=fake.factory,
    )

    async def before(pilot):
        _still(app)
        await until(pilot, lambda: "disconnected" in status(app))
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=before)
