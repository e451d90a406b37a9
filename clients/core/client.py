"""`ChatClient`: a `ChatSession` wired to real connections. Runs on the UI thread.

The UI owns the thread: it calls `start`, `submit`, `tick` (a few times a
second) and `handle` (with each transport event it marshalled onto its
thread), and renders the UI events each returns. `ChatClient` carries out
what the session asks: send bytes, open a new connection, close one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import attrs

from clients.core import commands as cmd
from clients.core import events as ev
from clients.core.session import ChatSession, Output
from clients.core.settings import (
    ClientSettings,
    InvalidSetting,
    change_setting,
    describe_settings,
    load_settings,
    save_settings,
    setting_names,
)
from clients.core.transport import (
    Closed,
    Connected,
    DataReceived,
    Transport,
    TransportEvent,
)

log = logging.getLogger(__name__)


class TransportLike(Protocol):
    """What `ChatClient` needs of a transport (`Transport`, or a test fake)."""

    @property
    def id(self) -> int: ...

    def start(self) -> None: ...

    def send(self, data: bytes) -> None: ...

    def close(self, *, flush: bool = True, timeout: float = 1.0) -> None: ...


TransportFactory = Callable[
    [str, int, Callable[[TransportEvent], object]], TransportLike
]


@attrs.frozen
class Submitted:
    """The result of `submit`: what to show, and whether to clear the input."""

    accepted: bool
    events: list[ev.UiEvent]


class ChatClient:
    """Drives one session over as many connections as it takes.

    Args:
        session: the session (holds the nick, roster, history...).
        host: server host.
        port: server port.
        sink: thread-safe callable that brings transport events to the UI
            thread (see `clients.core.transport` for the recipes).
        transport_factory: makes transports; tests may pass their own.
        settings: the user's settings (default: read from `settings_path`).
        settings_path: where `change_setting` saves them (default: the
            user's config directory).
    """

    def __init__(
        self,
        session: ChatSession,
        host: str,
        port: int,
        sink: Callable[[TransportEvent], object],
        *,
        transport_factory: TransportFactory = Transport,
        settings: ClientSettings | None = None,
        settings_path: Path | None = None,
    ) -> None:
        self.session = session
        self._settings_path = settings_path
        self.settings = (
            settings if settings is not None else load_settings(settings_path)
        )
        self.host = host
        self.port = port
        self._sink = sink
        self._factory = transport_factory
        self._transport: TransportLike | None = None

    def start(self) -> list[ev.UiEvent]:
        return self._apply(self.session.start())

    def submit(self, line: str) -> Submitted:
        out = self.session.submit(line)
        events = self._apply(out)
        accepted = out.accepted
        if out.setting is not None:
            done, accepted = self._set(out.setting)
            events += done
        return Submitted(accepted, events)

    def answer_password(
        self, request_id: int, password: str | None, repeat: str | None = None
    ) -> list[ev.UiEvent]:
        """The user answered a `PasswordRequest` (None: cancelled)."""
        return self._apply(self.session.answer_password(request_id, password, repeat))

    def reconnect(self) -> list[ev.UiEvent]:
        """Connect again now (a Reconnect button; /reconnect does the same)."""
        return self._apply(self.session.reconnect())

    def answer_trust(self, yes: bool) -> list[ev.UiEvent]:
        """The user answered a `TrustQuestion`."""
        return self._apply(self.session.answer_trust(yes))

    def tick(self) -> list[ev.UiEvent]:
        return self._apply(self.session.tick())

    def load_earlier(self) -> list[ev.UiEvent]:
        """An older page of the log (the user scrolled to the top).

        Its lines come later as one `EarlierLines`; nothing happens while a
        page is on its way or once the start of the history was reached.
        """
        return self._apply(self.session.load_earlier())

    def search(self, words: str) -> list[ev.UiEvent]:
        """Look for stored messages holding every word; a `SearchResults` follows."""
        return self._apply(self.session.search(words))

    def show_context(self, message_id: int) -> list[ev.UiEvent]:
        """The lines around one message (a search result); a `Context` follows."""
        return self._apply(self.session.show_context(message_id))

    # --- conversations (issue 15) ---------------------------------------------

    @property
    def conversations(self) -> ev.ConversationsChanged:
        """The conversation list now (the UI also gets it as events)."""
        return self.session.conversations

    @property
    def active(self) -> str:
        """The active conversation's name."""
        return self.session.active

    def switch(self, name: str) -> list[ev.UiEvent]:
        """Make the conversation `name` active: it is marked read, and its
        stored history is asked for if it was not yet; a
        `ConversationsChanged` follows."""
        return self._apply(self.session.switch(name))

    def switch_to(self, index: int) -> list[ev.UiEvent]:
        """Make the `index`-th conversation of the list active (1-based, as
        Alt+1..9 count); nothing happens past the end."""
        return self._apply(self.session.switch_to(index))

    def close_conversation(self, name: str | None = None) -> list[ev.UiEvent]:
        """Hide a conversation from the list (None: the active one; /close).

        It comes back when a line arrives in it, or when switched to (the
        fuzzy finder lists it). #lobby cannot be closed; a room stays joined
        while hidden (/part leaves it). Closing the active one goes to #lobby.
        """
        return self._apply(self.session.close_conversation(name))

    def find_conversations(self, query: str) -> list[str]:
        """Names of conversations matching `query` (fuzzy, for Ctrl+K),
        best match first. Not events: the UI shows them as choices."""
        return self.session.find_conversations(query)

    def typing(self, text: str) -> list[ev.UiEvent]:
        """The input box now holds `text`: call on every change.

        Typing notices go to the active conversation at most every 3 s, and
        a stop when the input is emptied (spec 12.6); nothing without the
        `typing` capability.
        """
        return self._apply(self.session.typing(text))

    def change_setting(self, key: str, value: str | bool | int) -> list[ev.UiEvent]:
        """Set one setting (as `/set key value`), save it, and announce it
        with `SettingsChanged`; an unknown key or a bad value gives an
        error `Notice` and changes nothing."""
        return self._change(key, value)[0]

    def _set(self, command: cmd.ChangeSetting) -> tuple[list[ev.UiEvent], bool]:
        """`/set`: list the settings, show one, or change one."""
        shown = describe_settings(self.settings)
        if command.key is None:
            lines = [
                "Settings:",
                *(f"{key} = {value}" for key, value in shown.items()),
                "Change one with /set <setting> <value>, e.g. /set theme dark",
            ]
            return [ev.Notice("\n".join(lines))], True
        if command.key not in shown:
            names = ", ".join(setting_names())
            text = f"there is no setting {command.key!r}; the settings are {names}"
            return [ev.Notice(text, ev.NoticeLevel.ERROR)], False
        if command.value is None:
            return [ev.Notice(f"{command.key} = {shown[command.key]}")], True
        events, done = self._change(command.key, command.value)
        if done:
            value = describe_settings(self.settings)[command.key]
            events.append(ev.Notice(f"{command.key} is now {value}"))
        return events, done

    def _change(
        self, key: str, value: str | bool | int
    ) -> tuple[list[ev.UiEvent], bool]:
        try:
            changed = change_setting(self.settings, key, value)
        except InvalidSetting as exc:
            return [ev.Notice(str(exc), ev.NoticeLevel.ERROR)], False
        self.settings = changed
        events: list[ev.UiEvent] = [settings_event(changed)]
        try:
            save_settings(changed, self._settings_path)
        except (OSError, ValueError, TypeError) as exc:
            log.warning("could not save the settings: %s", exc)
            events.append(
                ev.Notice(
                    f"could not save the settings ({exc}); the change lasts until you quit",
                    ev.NoticeLevel.ERROR,
                )
            )
        return events, True

    def handle(self, event: TransportEvent) -> list[ev.UiEvent]:
        """A transport event, now on the UI thread; stale transports are ignored."""
        if self._transport is None or event.transport_id != self._transport.id:
            return []
        match event:
            case Connected(tls=tls):
                return self._apply(self.session.connected(tls))
            case DataReceived(data=data):
                return self._apply(self.session.received(data))
            case Closed(reason=reason, fatal=fatal):
                self._transport = None
                return self._apply(self.session.closed(reason, fatal=fatal))

    def close(self, reason: str = "") -> None:
        """Leave cleanly (Bye, then close); for window close and Ctrl+C."""
        if self.session.status is not ev.ConnectionStatus.DISCONNECTED:
            self._apply(self.session.quit(reason))
        elif self._transport is not None:
            self._transport.close()
            self._transport = None

    def _apply(self, out: Output) -> list[ev.UiEvent]:
        _log_events(out.events)
        transport = self._transport
        if out.data and transport is not None:
            transport.send(out.data)
        if out.disconnect and transport is not None:
            self._transport = None
            transport.close()
        if out.connect:
            if self._transport is not None:
                self._transport.close(flush=False)
            self._transport = self._factory(self.host, self.port, self._sink)
            self._transport.start()
        return out.events


def settings_event(settings: ClientSettings) -> ev.SettingsChanged:
    """What the UIs hear of the settings they draw with."""
    return ev.SettingsChanged(
        theme=settings.theme,
        timestamps=settings.timestamps,
        notifications=settings.notifications,
    )


def _log_events(events: list[ev.UiEvent]) -> None:
    """Record what happened to the connection; never what anyone wrote."""
    for event in events:
        match event:
            case ev.ConnectionChanged(quiet=False):
                log.info(
                    "%s %s as %s%s",
                    event.status.value,
                    event.server,
                    event.nick,
                    f": {event.detail}" if event.detail else "",
                )
            case ev.PendingDone(delivered=False):
                log.warning("message %d was not delivered", event.local_id)
