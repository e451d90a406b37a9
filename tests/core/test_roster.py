"""`Roster` on its own: the list in chunks, changes, and nick requests."""

from __future__ import annotations

import itertools

import protocol as p
from clients.core import events as ev
from clients.core.roster import Roster


def _roster() -> Roster:
    refs = itertools.count(1)
    return Roster(refs=lambda: next(refs))


def test_a_list_in_chunks_counts_once_complete_and_is_shown_only_when_asked():
    roster = _roster()
    roster.ask(shown=False)
    roster.ask(shown=True)
    assert roster.received(p.UserList(nicks=("bob", "Ann"), final=False), "ann") is None
    assert roster.names == ()
    quiet = roster.received(p.UserList(nicks=("cy",), final=True), "ann")
    assert quiet is not None
    assert quiet.listed
    assert quiet.events == (ev.RosterChanged(("Ann", "bob", "cy")),)
    shown = roster.received(p.UserList(nicks=("bob",), final=True), "ann")
    assert shown is not None
    assert shown.events == (ev.RosterChanged(("bob",)), ev.UsersListed(("bob",)))


def test_joins_departures_and_renames_change_the_list():
    roster = _roster()
    roster.received(p.UserList(nicks=("ann", "bob"), final=True), "ann")
    joined = roster.received(p.UserJoined(nick="Cy"), "ann")
    assert joined is not None
    assert joined.events == (ev.Joined("Cy"), ev.RosterChanged(("ann", "bob", "Cy")))
    roster.received(p.UserLeft(nick="BOB", reason="bye"), "ann")
    assert roster.names == ("ann", "Cy")
    other = roster.received(p.NickChanged(old="cy", new="dee"), "ann")
    assert other is not None
    assert other.me is None
    mine = roster.received(p.NickChanged(old="ANN", new="anna"), "ann")
    assert mine is not None
    assert mine.me == "anna"
    assert ev.Renamed("ANN", "anna", True) in mine.events
    assert roster.names == ("anna", "dee")
    assert roster.others("Anna") == ["dee"]


def test_only_a_known_list_says_someone_is_offline():
    roster = _roster()
    assert not roster.offline("bob")
    roster.received(p.UserList(nicks=("ann",), final=True), "ann")
    assert roster.offline("bob")
    assert not roster.offline("ANN")


def test_a_refused_nick_change_names_the_nick_asked_for():
    roster = _roster()
    request = roster.change_nick("bobby")
    assert request.nick == "bobby"
    taken = p.Error(ref=request.ref, code=p.ErrorCode.NICK_IN_USE, text="taken")
    assert roster.refused(taken) == "could not change your nick to bobby: taken"
    assert roster.refused(taken) is None


def test_a_lost_connection_forgets_everything_and_says_if_a_list_was_shown():
    roster = _roster()
    assert not roster.connection_lost()
    roster.ask(shown=True)
    request = roster.change_nick("bobby")
    roster.received(p.UserList(nicks=("ann",), final=False), "ann")
    roster.received(p.UserList(nicks=("bob",), final=True), "ann")
    assert roster.connection_lost()
    assert roster.names == ()
    assert (
        roster.refused(p.Error(ref=request.ref, code=p.ErrorCode.NICK_IN_USE, text="x"))
        is None
    )
    roster.received(p.UserList(nicks=("cy",), final=True), "ann")
    assert roster.names == ("cy",)  # no chunk left over, no listing owed
