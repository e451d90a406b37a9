"""`SessionRegistry` on a fake clock: lookup by digest, expiry, bounds."""

from __future__ import annotations

import pytest

import protocol as p
from server.refusal import Refusal
from server.sessions import (
    ENDED_SESSION_SECONDS,
    MAX_ENDED_SESSIONS,
    TOKEN_BYTES,
    NoAccounts,
    SessionRegistry,
    token_digest,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_spec_figures():
    assert ENDED_SESSION_SECONDS == 600
    assert MAX_ENDED_SESSIONS == 10_000
    assert TOKEN_BYTES == 32


def test_tokens_are_random_and_only_their_digest_is_kept():
    registry = SessionRegistry(Clock())
    first, token = registry.create()
    second, other = registry.create()
    assert len(token) == TOKEN_BYTES
    assert token != other
    assert first.digest == token_digest(token)
    assert token not in repr(first).encode()
    assert registry.find(token) is first
    assert registry.find(other) is second


@pytest.mark.parametrize("wrong", [b"", b"\x00" * 32, b"x" * 64])
def test_unknown_tokens_find_nothing(wrong):
    registry = SessionRegistry(Clock())
    _, token = registry.create()
    assert registry.find(wrong) is None
    assert registry.find(token[:-1]) is None


def test_an_ended_session_is_remembered_for_ten_minutes():
    clock = Clock()
    registry = SessionRegistry(clock)
    session, token = registry.create()
    holder = object()
    registry.attach(session, holder)
    session.last_ref = 42
    registry.detach(session, holder)
    clock.now += ENDED_SESSION_SECONDS - 1
    assert registry.find(token) is session
    assert session.last_ref == 42
    clock.now += 2
    assert registry.find(token) is None
    assert len(registry) == 0


def test_a_live_session_never_expires():
    clock = Clock()
    registry = SessionRegistry(clock)
    session, token = registry.create()
    registry.attach(session, object())
    clock.now += 10 * ENDED_SESSION_SECONDS
    assert registry.find(token) is session


def test_resuming_an_ended_session_keeps_it_from_expiring():
    clock = Clock()
    registry = SessionRegistry(clock)
    session, token = registry.create()
    first, second = object(), object()
    registry.attach(session, first)
    registry.detach(session, first)
    clock.now += 300
    registry.attach(session, second)
    clock.now += ENDED_SESSION_SECONDS
    assert registry.find(token) is session
    assert registry.ended == 0


def test_a_connection_that_lost_its_session_does_not_end_it():
    registry = SessionRegistry(Clock())
    session, _token = registry.create()
    old, new = object(), object()
    registry.attach(session, old)
    registry.attach(session, new)  # resumed elsewhere
    registry.detach(session, old)
    assert session.holder is new
    assert registry.ended == 0


def test_ended_sessions_are_bounded_oldest_first():
    clock = Clock()
    registry = SessionRegistry(clock, max_ended=3)
    tokens = []
    for _ in range(5):
        session, token = registry.create()
        holder = object()
        registry.attach(session, holder)
        clock.now += 1
        registry.detach(session, holder)
        tokens.append(token)
    assert registry.ended == 3
    assert len(registry) == 3
    assert [registry.find(t) is not None for t in tokens] == [False, False] + [True] * 3


def test_without_accounts_a_password_is_refused():
    with pytest.raises(Refusal) as caught:
        NoAccounts().login("ann", "hunter22")
    refusal = caught.value
    assert (refusal.code, refusal.text, refusal.fatal) == (
        p.ErrorCode.INVALID_FIELD,
        "this server has no accounts",
        True,
    )
