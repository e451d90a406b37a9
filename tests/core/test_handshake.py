"""The handshake's words on their own: Hello, Welcome, and broken servers."""

from __future__ import annotations

import protocol as p
from clients.core import events as ev
from clients.core import handshake
from protocol.errors import FrameTooLarge

SERVER = "chat.example:9090"


def _welcome(nick: str, motd: str = "") -> p.Welcome:
    return p.Welcome(
        version=p.PROTOCOL_VERSION,
        nick=nick,
        server_name="t",
        capabilities=(),
        motd=motd,
    )


def test_hello_asks_for_the_nick_and_every_capability_this_client_knows():
    hello = handshake.hello("ann")
    assert (hello.nick, hello.client_name) == ("ann", handshake.CLIENT_NAME)
    assert set(hello.capabilities) >= {p.CAP_HISTORY, p.CAP_ROOMS, p.CAP_SESSION}
    assert p.Connection(p.Role.CLIENT).send(hello)  # a legal first frame


def test_the_welcome_shows_the_motd_and_a_nick_given_instead():
    assert handshake.greeting(_welcome("ANN"), "ann") == []
    motd, taken = handshake.greeting(_welcome("ann_", motd="be kind"), "ann")
    assert motd == ev.Notice("be kind")
    assert isinstance(taken, ev.Notice)
    assert taken.text == "ann is taken; you are ann_"


def test_a_welcoming_server_that_breaks_the_protocol_is_retried():
    failure = handshake.broken(FrameTooLarge(10, 5), welcomed=True, server=SERVER)
    assert failure.fatal is None
    assert failure.reason == "protocol error"
    assert failure.notice is not None
    assert failure.notice.level is ev.NoticeLevel.ERROR


def test_a_server_that_never_welcomed_us_is_not_chinwag():
    failure = handshake.broken(FrameTooLarge(10, 5), welcomed=False, server=SERVER)
    assert failure.notice is None
    assert failure.fatal is not None
    assert failure.fatal.startswith(f"{SERVER} does not speak the Chinwag protocol")
    silent = handshake.unanswered(SERVER)
    assert silent.reason == "no answer to Hello"
    assert silent.fatal == f"{SERVER} did not answer like a Chinwag server"
