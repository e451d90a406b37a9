"""server/accounts.py with real argon2 (CHEAPEST) over a real SQLite file."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
import threading
import uuid
from concurrent.futures import Future

import argon2
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import server.accounts as accounts_module
from server.accounts import (
    Account,
    Accounts,
    Allow,
    Refusal,
    Refused,
    Registration,
    Throttle,
    ThrottlePolicy,
    Wait,
)
from server.store import BanRecord, Role, SqliteStore

CORRECT = "correct horse battery"
RESULT_WAIT = 10.0


def result(future: Future[Account | Refused]) -> Account | Refused:
    return future.result(timeout=RESULT_WAIT)


def ok(future: Future[Account | Refused]) -> Account:
    outcome = result(future)
    assert isinstance(outcome, Account), outcome
    return outcome


def refused(outcome: Future[Account | Refused] | object, reason: Refusal) -> Refused:
    if isinstance(outcome, Future):
        outcome = result(outcome)
    assert isinstance(outcome, Refused), outcome
    assert outcome.reason is reason, outcome
    return outcome


@pytest.fixture(name="bob")
def _bob(accounts) -> Account:
    return ok(accounts.register("Bob", CORRECT))


@pytest.fixture(name="admin")
def _admin(accounts) -> Account:
    ok(accounts.register("root", "admin password"))
    promoted = accounts.promote("root", by=None)
    assert isinstance(promoted, Account)
    return promoted


class Gate:
    """Occupies every hashing thread until opened, so queued work stays queued."""

    def __init__(self, accounts: Accounts, workers: int) -> None:
        self._open = threading.Event()
        self._started = threading.Barrier(workers + 1)
        for _ in range(workers):
            accounts._pool.submit(self._hold)
        self._started.wait(timeout=RESULT_WAIT)

    def _hold(self) -> None:
        self._started.wait(timeout=RESULT_WAIT)
        self._open.wait(timeout=RESULT_WAIT)

    def open(self) -> None:
        self._open.set()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.open()  # even when the test failed: never leave the pool stuck


# --- registering and logging in ----------------------------------------------------


def test_register_then_log_in(accounts, bob, store):
    assert (bob.name, bob.role, bob.is_admin) == ("Bob", Role.USER, False)
    assert ok(accounts.verify("Bob", CORRECT)) == bob
    assert ok(accounts.verify("bob", CORRECT)) == bob  # the nick's identity
    stored = store.account_by_id(bob.id).password_hash
    assert stored.startswith("$argon2id$")
    assert CORRECT not in stored


def test_the_password_is_nowhere_in_the_file(accounts, bob, db_path):
    accounts.close()
    raw = b"".join(
        path.read_bytes() for path in db_path.parent.iterdir() if path.is_file()
    )
    assert CORRECT.encode() not in raw
    assert b"$argon2id$" in raw


def test_wrong_password_and_unknown_nick_read_the_same(accounts, bob):
    wrong = refused(accounts.verify("Bob", "not the password"), Refusal.BAD_CREDENTIALS)
    unknown = refused(
        accounts.verify("nobody", "not the password"), Refusal.BAD_CREDENTIALS
    )
    invalid = refused(
        accounts.verify("no body", "not the password"), Refusal.BAD_CREDENTIALS
    )
    assert (
        wrong.message == unknown.message == invalid.message == "wrong nick or password"
    )


def test_lookalike_nicks_cannot_register(accounts, bob):
    for lookalike in ("BOB", "b0b", "B0B"):
        refused(accounts.register(lookalike, CORRECT), Refusal.NAME_TAKEN)


@pytest.mark.parametrize(
    ("nick", "password", "reason"),
    [
        ("has space", CORRECT, Refusal.INVALID_NICK),
        ("", CORRECT, Refusal.INVALID_NICK),
        ("carol", "short", Refusal.WEAK_PASSWORD),
        ("carol", " " * 12, Refusal.WEAK_PASSWORD),
        ("carol", "x" * 257, Refusal.WEAK_PASSWORD),
    ],
)
def test_bad_registrations_are_refused_before_hashing(accounts, nick, password, reason):
    outcome = accounts.register(nick, password)
    assert outcome.done()  # answered at once, no hash queued
    refused(outcome, reason)


def test_results_reach_callbacks(accounts, bob):
    seen: list[Account | Refused] = []
    done = threading.Event()

    def callback(future: Future[Account | Refused]) -> None:
        seen.append(future.result())
        done.set()

    accounts.verify("Bob", CORRECT, address="192.0.2.1").add_done_callback(callback)
    assert done.wait(RESULT_WAIT)
    assert seen == [bob]


def test_outdated_hashes_are_upgraded_on_login(store, clock, bob, hasher):
    before = store.account_by_id(bob.id).password_hash
    stronger = PasswordHasher.from_parameters(
        dataclasses.replace(argon2.profiles.CHEAPEST, time_cost=2)
    )
    with Accounts(store, hasher=stronger, clock=clock) as upgraded:
        assert ok(upgraded.verify("Bob", CORRECT)) == bob
    after = store.account_by_id(bob.id).password_hash
    assert after != before
    assert "t=2" in after
    assert not stronger.check_needs_rehash(after)
    with Accounts(store, hasher=stronger, clock=clock) as again:
        assert ok(again.verify("Bob", CORRECT)) == bob


def test_a_corrupt_stored_hash_fails_closed(accounts, store, bob):
    store.set_password_hash(bob.id, "not an argon2 hash")
    refused(accounts.verify("Bob", CORRECT), Refusal.BAD_CREDENTIALS)


# --- the hashing pool ---------------------------------------------------------------


def test_the_queue_is_bounded_and_refuses_past_it(store, hasher, clock):
    with Accounts(
        store, hasher=hasher, clock=clock, max_workers=1, max_pending=3
    ) as service:
        for name in ("ann", "ben", "cat", "dan"):
            ok(service.register(name, CORRECT))
        with Gate(service, workers=1) as gate:
            queued = [service.verify(name, CORRECT) for name in ("ann", "ben", "cat")]
            busy = service.verify("dan", CORRECT)  # 4th: over the bound
            assert busy.done()
            outcome = refused(busy, Refusal.BUSY)
            assert outcome.message == "server busy, try again"
            assert not any(f.done() for f in queued)
            gate.open()
        assert [ok(f).name for f in queued] == ["ann", "ben", "cat"]
        ok(service.verify("ann", CORRECT))  # room again


def test_one_login_per_account_at_a_time(store, hasher, clock):
    with Accounts(store, hasher=hasher, clock=clock, max_workers=1) as service:
        ok(service.register("ann", CORRECT))
        with Gate(service, workers=1):
            first = service.verify("ann", CORRECT)
            second = service.verify("ANN", "guess")
            assert second.done()
            refused(second, Refusal.THROTTLED)
        ok(first)
        ok(service.verify("ann", CORRECT))


def test_after_close_work_is_refused_not_lost(store, hasher, clock):
    service = Accounts(store, hasher=hasher, clock=clock)
    service.close()
    outcome = refused(service.verify("ann", CORRECT), Refusal.BUSY)
    assert "shutting down" in outcome.message
    refused(
        service.verify("ann", CORRECT), Refusal.BUSY
    )  # the in-flight slot was freed


# --- throttling ------------------------------------------------------------------------


def test_throttle_delays_grow_then_lock_out():
    policy = ThrottlePolicy()
    throttle = Throttle(policy)
    now = 1000.0
    waits = []
    for _ in range(9):
        throttle.failure("k", now)
        decision = throttle.check("k", now)
        waits.append(decision.seconds if isinstance(decision, Wait) else 0.0)
    assert waits == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    throttle.failure("k", now)  # the 10th
    assert throttle.check("k", now) == Wait(900.0, lockout=True)
    assert throttle.check("k", now + 899) == Wait(1.0, lockout=True)
    assert throttle.check("k", now + 900) == Allow()
    assert throttle.failures("k", now + 900) == 0  # a fresh start after the lockout


def test_throttle_waits_count_from_the_last_failure_and_success_clears():
    throttle = Throttle(ThrottlePolicy())
    for _ in range(4):
        throttle.failure("k", 0.0)
    assert throttle.check("k", 3.0) == Wait(1.0, lockout=False)
    assert throttle.check("k", 4.0) == Allow()
    assert throttle.check("other", 0.0) == Allow()
    throttle.success("k")
    assert throttle.check("k", 0.0) == Allow()


def test_throttle_forgets_old_failures_and_stays_bounded():
    throttle = Throttle(ThrottlePolicy(forget_after=100.0), max_keys=50)
    throttle.failure("old", 0.0)
    throttle.failure("old", 0.0)
    assert throttle.failures("old", 99.0) == 2
    assert throttle.failures("old", 100.0) == 0
    for i in range(200):
        throttle.failure(f"spray{i}", 200.0 + i)
    assert len(throttle) == 50
    assert throttle.failures("spray199", 400.0) == 1  # the newest are kept


def test_scripted_brute_force_is_slowed_then_locked_out(accounts, bob, clock):
    """An attacker who waits exactly as long as told, guessing Bob's password."""
    guesses = iter(f"guess number {n}" for n in range(1000))
    start = clock.now
    log: list[tuple[float, Refusal]] = []
    while len(log) < 60:  # bounded: 60 answers at most
        outcome = result(accounts.verify("Bob", next(guesses), address="198.51.100.7"))
        assert isinstance(outcome, Refused)
        log.append((round(clock.now - start, 3), outcome.reason))
        if outcome.reason is Refusal.LOCKED_OUT:
            break
        if outcome.reason is Refusal.THROTTLED:
            clock.advance(outcome.retry_after)
    tried = [at for at, reason in log if reason is Refusal.BAD_CREDENTIALS]
    assert len(tried) == 10  # ten real guesses, then locked
    gaps = [b - a for a, b in itertools.pairwise(tried)]
    assert gaps == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert log[-1][1] is Refusal.LOCKED_OUT

    # Locked: even the right password is refused, from anywhere...
    locked = refused(
        accounts.verify("Bob", CORRECT, address="203.0.113.5"), Refusal.LOCKED_OUT
    )
    assert "15 min" in locked.message
    # ...until the lockout has passed.
    clock.advance(900)
    assert ok(accounts.verify("Bob", CORRECT, address="203.0.113.5")) == bob


def test_spraying_many_accounts_from_one_address_is_throttled(accounts, clock):
    attacker = "198.51.100.66"
    answers = []
    for n in range(8):
        outcome = result(accounts.verify(f"victim{n}", "password123", address=attacker))
        answers.append(outcome.reason)
        clock.advance(0.5)
    assert answers[:2] == [Refusal.BAD_CREDENTIALS, Refusal.BAD_CREDENTIALS]
    assert Refusal.THROTTLED in answers[2:]
    message = refused(
        accounts.verify("x", "y" * 8, address=attacker), Refusal.THROTTLED
    ).message
    assert "your address" in message
    # Another address is not affected.
    refused(
        accounts.verify("victim0", "password123", address="203.0.113.9"),
        Refusal.BAD_CREDENTIALS,
    )


# --- tokens -----------------------------------------------------------------------------


def test_tokens_log_in_and_are_stored_hashed(accounts, bob, store, db_path):
    token = accounts.issue_token(bob.id, label="laptop")
    assert len(token) == 32
    assert accounts.verify_token(token, address="192.0.2.4") == bob
    (record,) = store.tokens_of(bob.id)
    assert record.token_hash == hashlib.sha256(token).digest()
    raw = b"".join(
        path.read_bytes() for path in db_path.parent.iterdir() if path.is_file()
    )
    assert token not in raw


def test_bad_tokens_are_refused(accounts, bob):
    for token in (b"", b"x" * 32, b"y" * 65):
        refused(accounts.verify_token(token), Refusal.TOKEN_INVALID)


def test_revoking_tokens(accounts, bob):
    phone, laptop, tablet = (accounts.issue_token(bob.id) for _ in range(3))
    assert accounts.revoke_token(phone)
    assert not accounts.revoke_token(phone)
    refused(accounts.verify_token(phone), Refusal.TOKEN_INVALID)
    assert accounts.revoke_all(bob.id, keep=laptop) == 1
    assert accounts.verify_token(laptop) == bob
    refused(accounts.verify_token(tablet), Refusal.TOKEN_INVALID)
    assert accounts.revoke_all(bob.id) == 1


def test_an_unused_token_expires(store, hasher, clock, bob):
    with Accounts(store, hasher=hasher, clock=clock, token_max_idle=1000.0) as service:
        token = service.issue_token(bob.id)
        clock.advance(900)
        assert service.verify_token(token) == bob  # use keeps it alive
        clock.advance(900)
        assert service.verify_token(token) == bob
        clock.advance(1001)
        refused(service.verify_token(token), Refusal.TOKEN_INVALID)
        assert store.tokens_of(bob.id) == []


def test_change_password_needs_the_old_one_and_revokes_other_tokens(
    accounts, bob, clock
):
    current, other = accounts.issue_token(bob.id), accounts.issue_token(bob.id)
    refused(
        accounts.change_password(
            bob.id, "wrong old one", "brand new password", keep_token=current
        ),
        Refusal.BAD_CREDENTIALS,
    )
    refused(accounts.change_password(bob.id, CORRECT, "short"), Refusal.WEAK_PASSWORD)
    assert (
        ok(
            accounts.change_password(
                bob.id, CORRECT, "brand new password", keep_token=current
            )
        )
        == bob
    )
    assert accounts.verify_token(current) == bob
    refused(accounts.verify_token(other), Refusal.TOKEN_INVALID)
    refused(accounts.verify("Bob", CORRECT), Refusal.BAD_CREDENTIALS)
    clock.advance(60)  # the wrong tries above are throttled like logins
    assert ok(accounts.verify("Bob", "brand new password")) == bob


# --- invites, roles, bans -----------------------------------------------------------------


def test_invite_only_registration(store, hasher, clock, admin):
    with Accounts(
        store, hasher=hasher, clock=clock, registration=Registration.INVITE_ONLY
    ) as service:
        refused(service.register("carol", CORRECT), Refusal.INVITE_NEEDED)
        assert isinstance(
            ok(service.register("dave", CORRECT, by_operator=True)), Account
        )
        refused(service.create_invite(by=service.find("dave")), Refusal.NOT_ALLOWED)

        code = service.create_invite(by=admin)
        assert isinstance(code, str)
        assert len(code) == 19
        assert code.count("-") == 3
        typed = " " + code.lower().replace("-", " ") + " "  # as a person might paste it
        carol = ok(service.use_invite(typed, "carol", CORRECT))
        assert carol.name == "carol"
        refused(service.use_invite(code, "erin", CORRECT), Refusal.INVITE_INVALID)
        refused(
            service.use_invite("not-a-code", "erin", CORRECT), Refusal.INVITE_INVALID
        )

        late = service.create_invite(by=None, valid_for=60)
        assert isinstance(late, str)
        clock.advance(61)
        refused(service.use_invite(late, "erin", CORRECT), Refusal.INVITE_INVALID)
        assert service.find("erin") is None


def test_invite_code_is_stored_hashed(accounts, admin, store):
    code = accounts.create_invite(by=admin)
    normalized = code.replace("-", "")
    assert store.invite(hashlib.sha256(normalized.encode()).digest()) is not None


def test_closed_registration(store, hasher, clock, admin):
    with Accounts(
        store, hasher=hasher, clock=clock, registration=Registration.CLOSED
    ) as service:
        outcome = refused(
            service.register("carol", CORRECT), Refusal.REGISTRATION_CLOSED
        )
        assert outcome.message == "this server does not register new accounts"
        code = service.create_invite(by=admin)
        assert isinstance(code, str)
        refused(service.use_invite(code, "carol", CORRECT), Refusal.REGISTRATION_CLOSED)
        assert ok(service.register("carol", CORRECT, by_operator=True)).name == "carol"


def test_only_admins_administer_and_demotion_takes_effect_at_once(accounts, bob, admin):
    refused(accounts.promote("Bob", by=bob), Refusal.NOT_ALLOWED)
    promoted = accounts.promote("Bob", by=admin)
    assert isinstance(promoted, Account)
    assert promoted.is_admin
    assert ok(accounts.verify("Bob", CORRECT)).is_admin
    demoted = accounts.promote("root", by=promoted, role=Role.USER)
    assert demoted.role is Role.USER
    # `admin` is a stale object now: the store is what counts.
    refused(accounts.promote("Bob", by=admin, role=Role.USER), Refusal.NOT_ALLOWED)
    refused(accounts.promote("ghost", by=None), Refusal.NO_SUCH_ACCOUNT)


def test_reset_password_revokes_tokens_and_lifts_the_lockout(
    accounts, bob, admin, clock
):
    token = accounts.issue_token(bob.id)
    for n in range(12):
        result(accounts.verify("Bob", f"guess {n}"))
        clock.advance(61)
    refused(accounts.verify("Bob", CORRECT), Refusal.LOCKED_OUT)
    refused(
        accounts.reset_password("Bob", "reset password 1", by=bob), Refusal.NOT_ALLOWED
    )
    assert ok(accounts.reset_password("Bob", "reset password 1", by=admin)) == bob
    refused(accounts.verify_token(token), Refusal.TOKEN_INVALID)
    assert ok(accounts.verify("Bob", "reset password 1")) == bob


def test_banned_accounts_and_addresses_stay_out(accounts, bob, admin, clock):
    token = accounts.issue_token(bob.id)
    ban = accounts.ban(by=admin, nick="Bob", reason="flooding", duration=3600)
    assert isinstance(ban, BanRecord)
    outcome = refused(accounts.verify("Bob", CORRECT), Refusal.BANNED)
    assert "flooding" in outcome.message
    refused(accounts.verify_token(token), Refusal.BANNED)
    clock.advance(3601)
    assert accounts.verify_token(token) == bob

    by_address = accounts.ban(by=None, address="::ffff:192.0.2.50")
    assert isinstance(by_address, BanRecord)
    assert by_address.address == "192.0.2.50"
    refused(accounts.verify("Bob", CORRECT, address="192.0.2.50"), Refusal.BANNED)
    assert accounts.active_ban(address="::ffff:192.0.2.50") == by_address
    assert ok(accounts.verify("Bob", CORRECT, address="192.0.2.51")) == bob
    refused(accounts.unban(by=bob, address="192.0.2.50"), Refusal.NOT_ALLOWED)
    assert accounts.unban(by=admin, address="192.0.2.50") == 1
    assert accounts.active_ban(address="192.0.2.50") is None
    assert accounts.unban(by=admin, address="192.0.2.50") == 0
    refused(accounts.unban(by=admin), Refusal.INVALID_INPUT)


def test_the_ban_message_says_until_when_and_why(accounts, bob, admin, clock):
    accounts.ban(by=admin, nick="Bob", reason="spam", duration=3600)
    outcome = refused(accounts.verify("Bob", CORRECT), Refusal.BANNED)
    assert outcome.message == "banned until 2027-01-15 09:00 UTC: spam"
    assert outcome.retry_after == 3600
    assert accounts.unban(by=None, nick="bob") == 1
    accounts.ban(by=None, nick="Bob")
    outcome = refused(accounts.verify("Bob", CORRECT), Refusal.BANNED)
    assert outcome.message == "banned for good"


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({}, Refusal.INVALID_INPUT),
        ({"address": "not an address"}, Refusal.INVALID_INPUT),
        ({"nick": "ghost"}, Refusal.NO_SUCH_ACCOUNT),
        ({"nick": "root"}, Refusal.NOT_ALLOWED),  # oneself
        ({"nick": "Bob", "duration": 0}, Refusal.INVALID_INPUT),
    ],
)
def test_bad_bans_are_refused(accounts, bob, admin, kwargs, reason):
    refused(accounts.ban(by=admin, **kwargs), reason)


def test_a_disabled_account_cannot_log_in(accounts, bob, store):
    token = accounts.issue_token(bob.id)
    store.set_disabled(bob.id, True)
    refused(accounts.verify("Bob", CORRECT), Refusal.DISABLED)
    refused(accounts.verify_token(token), Refusal.DISABLED)


# --- secrets stay out of the log ------------------------------------------------------------


def test_no_password_or_token_reaches_the_log(accounts, admin, caplog):
    caplog.set_level(logging.DEBUG)
    secrets_seen = ["first password 1", "second password 2", "wrong password 3"]
    bob = ok(accounts.register("Bob", secrets_seen[0]))
    result(accounts.verify("Bob", secrets_seen[2], address="192.0.2.1"))
    result(
        accounts.verify("first password 1", secrets_seen[2])
    )  # password in the nick field
    token = accounts.issue_token(bob.id)
    accounts.verify_token(token)
    ok(
        accounts.change_password(
            bob.id, secrets_seen[0], secrets_seen[1], keep_token=token
        )
    )
    accounts.revoke_token(token)
    code = accounts.create_invite(by=admin)
    text = "\n".join(
        f"{record.getMessage()} {record.exc_text or ''}" for record in caplog.records
    )
    assert caplog.records  # something was logged
    for secret in [*secrets_seen, token.hex(), repr(token), code]:
        assert secret not in text


def test_unexpected_errors_become_a_refusal_with_the_traceback_logged(
    accounts, bob, store, caplog
):
    store.close()  # the database goes away under the service
    outcome = refused(accounts.verify("Bob", CORRECT), Refusal.INTERNAL)
    assert "try again" in outcome.message
    assert any(record.exc_info for record in caplog.records)


def test_accounts_with_a_fresh_store_file(tmp_path, hasher, clock):
    """The whole service over a store opened from a path, reopened later."""
    path = tmp_path / "data" / "chinwag.sqlite3"
    with (
        SqliteStore(path) as store,
        Accounts(store, hasher=hasher, clock=clock) as service,
    ):
        ok(service.register("zoe", CORRECT))
        token = service.issue_token(service.find("zoe").id)
    with (
        SqliteStore(path) as store,
        Accounts(store, hasher=hasher, clock=clock) as service,
    ):
        assert ok(service.verify("zoe", CORRECT)).name == "zoe"
        assert isinstance(service.verify_token(token), Account)


def test_a_ban_written_by_another_process_counts_within_a_second(
    accounts, store, clock, monkeypatch
):
    """The admin command writes bans from a process of its own; the server
    reads the bans in force at most `BANS_FRESH_FOR` seconds old."""
    fresh = [1000.0]
    monkeypatch.setattr("server.accounts.time.monotonic", lambda: fresh[0])
    assert accounts.active_ban(address="192.0.2.7") is None
    store.add_ban(
        account_id=None,
        address="192.0.2.7",
        reason="from the admin command",
        created_at=clock(),
        until=None,
    )
    assert accounts.active_ban(address="192.0.2.7") is None, "read a moment ago"
    fresh[0] += accounts_module.BANS_FRESH_FOR + 0.01
    ban = accounts.active_ban(address="192.0.2.7")
    assert ban is not None
    assert ban.reason == "from the admin command"


_ban_rows = st.lists(
    st.tuples(
        st.sampled_from([None, 1, 2]),
        st.sampled_from([None, "192.0.2.1", "192.0.2.2"]),
        st.one_of(st.none(), st.floats(-100, 100)),
    ).filter(lambda row: row[0] is not None or row[1] is not None),
    max_size=8,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=_ban_rows,
    asked=st.tuples(
        st.sampled_from([None, 1, 2, 3]),
        st.sampled_from([None, "192.0.2.1", "192.0.2.3"]),
    ),
)
def test_the_ban_found_in_memory_is_the_one_the_store_would_pick(
    db_path, hasher, clock, rows, asked
):
    """Whatever the bans: found in memory or not as the store's own query
    finds it, and as long-lasting (equally long ones may tie)."""
    account_id, address = asked
    store = SqliteStore(db_path.with_name(f"bans-{uuid.uuid4().hex}.sqlite3"))
    accounts = Accounts(store, hasher=hasher, clock=clock)
    try:
        now = clock()
        for name in ("one", "two"):
            store.create_account(
                name=name,
                name_key=name,
                password_hash="-",
                role=Role.USER,
                created_at=now,
            )
        for number, (who, where, lasts) in enumerate(rows):
            store.add_ban(
                account_id=who,
                address=where,
                reason=f"ban {number}",
                created_at=now,
                until=None if lasts is None else now + lasts,
            )
        expected = store.active_ban(account_id=account_id, address=address, now=now)
        found = accounts.active_ban(account_id=account_id, address=address)
        assert (found is None) == (expected is None)
        if found is not None and expected is not None:
            assert found.until == expected.until
            assert found.account_id == account_id or found.address == address
    finally:
        accounts.close()
        store.close()
