"""The Textual message that carries a transport event onto the app's loop."""

from __future__ import annotations

from textual.message import Message

from clients.core.transport import TransportEvent


class TransportMessage(Message):
    """A `TransportEvent`, posted from a transport thread with `post_message`."""

    def __init__(self, event: TransportEvent) -> None:
        super().__init__()
        self.event = event
