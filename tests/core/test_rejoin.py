"""`Rejoin` on its own: which rooms survive a reconnect."""

from __future__ import annotations

import protocol as p
from clients.core import events as ev
from clients.core.conversations import Conversations
from clients.core.link import Link
from clients.core.rejoin import Rejoin

SERVER = "chat.example:9090"
ROOMS = Link(server=SERVER, open=True, capabilities=frozenset({p.CAP_ROOMS}))
BARE = Link(server=SERVER, open=True)


def _in_rooms(*names: str) -> Conversations:
    conversations = Conversations()
    for name in names:
        conversations.joined_room(name, topic="", invite_only=False, role=0)
    conversations.connection_lost()
    return conversations


def test_rooms_not_rejoined_before_the_user_list_are_gone():
    conversations = _in_rooms("#tea", "#cake")
    rejoin = Rejoin(conversations)
    assert rejoin.welcomed(ROOMS) is None  # wait for the server
    conversations.joined_room("#tea", topic="", invite_only=False, role=0)
    gone = rejoin.listed(ROOMS)
    assert gone is not None
    assert gone.rooms == ("#cake",)
    (notice,) = gone.events
    assert isinstance(notice, ev.Notice)
    assert notice.text == "you are no longer in #cake; type /join #cake to go back"
    assert conversations.rooms() == ["#tea"]
    assert rejoin.listed(ROOMS) is None  # only the first answer counts


def test_a_server_without_rooms_drops_them_all_at_once():
    rejoin = Rejoin(_in_rooms("#tea"))
    gone = rejoin.welcomed(BARE)
    assert gone is not None
    assert gone.rooms == ("#tea",)
    (notice,) = gone.events
    assert isinstance(notice, ev.Notice)
    assert notice.text == f"{SERVER} has no rooms now: you are no longer in #tea"
    assert rejoin.listed(BARE) is None


def test_a_lost_connection_ends_the_wait():
    conversations = _in_rooms("#tea")
    rejoin = Rejoin(conversations)
    rejoin.welcomed(ROOMS)
    rejoin.connection_lost()
    assert rejoin.listed(ROOMS) is None
    assert conversations.rooms() == ["#tea"]
