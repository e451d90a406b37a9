"""`Accounts`: registration, logins, tokens, invites and bans over a `Store`.

Passwords are hashed with argon2id in a small bounded pool, so no network
thread ever waits on a hash; failed logins are throttled by the pure
`Throttle`. Passwords and tokens are never logged nor stored in clear.
This module does not touch sockets or the database directly.
"""

from __future__ import annotations

import base64
import datetime
import enum
import hashlib
import ipaddress
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import attrs
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from protocol import InvalidNick, nick_key, normalize_nick
from protocol.constants import MAX_PASSWORD_CHARS, MAX_TOKEN_BYTES
from server.store import (
    AccountRecord,
    BanRecord,
    InviteUnusable,
    NameTaken,
    Role,
    Store,
)

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
"""Random bytes in a login token; the store keeps only their SHA-256."""
INVITE_BYTES = 10
"""Random bytes in an invite code: 80 bits, shown as 16 base32 letters."""
MIN_PASSWORD_CHARS = 8


# --- results -----------------------------------------------------------------


class Refusal(enum.Enum):
    """Why an operation was refused; `Refused.message` says it to the user."""

    BAD_CREDENTIALS = enum.auto()
    THROTTLED = enum.auto()
    LOCKED_OUT = enum.auto()
    BUSY = enum.auto()
    DISABLED = enum.auto()
    BANNED = enum.auto()
    INVALID_NICK = enum.auto()
    WEAK_PASSWORD = enum.auto()
    NAME_TAKEN = enum.auto()
    REGISTRATION_CLOSED = enum.auto()
    INVITE_NEEDED = enum.auto()
    INVITE_INVALID = enum.auto()
    TOKEN_INVALID = enum.auto()
    NO_SUCH_ACCOUNT = enum.auto()
    NOT_ALLOWED = enum.auto()
    INVALID_INPUT = enum.auto()
    INTERNAL = enum.auto()


@attrs.frozen
class Refused:
    """An operation did not happen.

    Attributes:
        reason: for the code (mapping to an error code on the wire).
        message: one sentence safe to show the user: it never says whether
            an account exists when the password was wrong.
        retry_after: seconds until trying again makes sense (0: no hint).
    """

    reason: Refusal
    message: str
    retry_after: float = 0.0


@attrs.frozen(kw_only=True)
class Account:
    """A logged-in (or looked-up) account, without its password hash."""

    id: int
    name: str
    role: Role
    created_at: float

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


class Registration(enum.Enum):
    """Who may create an account over the network."""

    OPEN = "open"
    """Anyone may register a free nick."""
    INVITE_ONLY = "invite"
    """Only with an invite code from an admin (`use_invite`)."""
    CLOSED = "closed"
    """Nobody: accounts are added by the operator (`register(by_operator=True)`)."""


# --- throttling (pure) ---------------------------------------------------------


@attrs.frozen(kw_only=True)
class ThrottlePolicy:
    """How failed logins slow down further tries for one key (account or address).

    After the n-th failure in a row the next try must wait
    `min(base_delay * 2 ** (n - 2), max_delay)` seconds (no wait after the
    first: typos happen); from `lockout_after` failures the key is locked
    for `lockout_seconds`, after which it starts afresh. A key with no
    failure for `forget_after` seconds is forgotten.
    """

    base_delay: float = attrs.field(default=1.0, validator=attrs.validators.gt(0))
    max_delay: float = attrs.field(default=60.0, validator=attrs.validators.gt(0))
    lockout_after: int = attrs.field(default=10, validator=attrs.validators.ge(2))
    lockout_seconds: float = attrs.field(
        default=900.0, validator=attrs.validators.gt(0)
    )
    forget_after: float = attrs.field(default=3600.0, validator=attrs.validators.gt(0))

    def delay_after(self, failures: int) -> float:
        """Seconds to wait after `failures` failures in a row (before lockout)."""
        if failures < 2:
            return 0.0
        return float(min(self.base_delay * 2 ** (failures - 2), self.max_delay))


@attrs.frozen
class Allow:
    """The throttle lets this attempt through."""


@attrs.frozen
class Wait:
    """The throttle refuses this attempt for `seconds`; `lockout` if locked out."""

    seconds: float
    lockout: bool


@attrs.define
class _Failures:
    count: int
    last: float


class Throttle:
    """Failed-attempt bookkeeping for many keys; pure (the time is passed in).

    Not thread-safe: `Accounts` calls it under its lock. Memory is bounded:
    past `max_keys`, forgettable keys go first, then the least recent.
    """

    def __init__(self, policy: ThrottlePolicy, *, max_keys: int = 100_000) -> None:
        self.policy = policy
        self.max_keys = max_keys
        self._keys: dict[str, _Failures] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def failures(self, key: str, now: float) -> int:
        """Failures in a row counted for `key` at `now`."""
        entry = self._current(key, now)
        return entry.count if entry else 0

    def check(self, key: str, now: float) -> Allow | Wait:
        """May an attempt for `key` go ahead at `now`?"""
        entry = self._current(key, now)
        if entry is None:
            return Allow()
        if entry.count >= self.policy.lockout_after:
            return Wait(entry.last + self.policy.lockout_seconds - now, lockout=True)
        remaining = entry.last + self.policy.delay_after(entry.count) - now
        return Wait(remaining, lockout=False) if remaining > 0 else Allow()

    def failure(self, key: str, now: float) -> None:
        """Count a failed attempt for `key`."""
        entry = self._current(key, now)
        count = entry.count + 1 if entry else 1
        self._keys.pop(key, None)
        self._keys[key] = _Failures(count, now)  # re-inserted: most recent last
        if len(self._keys) > self.max_keys:
            self._prune(now)

    def success(self, key: str) -> None:
        """A successful attempt clears `key`'s failures."""
        self._keys.pop(key, None)

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._keys.get(key)
        if entry is None:
            return None
        if self._expired(entry, now):
            del self._keys[key]
            return None
        return entry

    def _expired(self, entry: _Failures, now: float) -> bool:
        if entry.count >= self.policy.lockout_after:
            return now >= entry.last + self.policy.lockout_seconds
        return now >= entry.last + self.policy.forget_after

    def _prune(self, now: float) -> None:
        for key in [k for k, e in self._keys.items() if self._expired(e, now)]:
            del self._keys[key]
        while len(self._keys) > self.max_keys:
            del self._keys[next(iter(self._keys))]


# --- the service -----------------------------------------------------------------


BANS_FRESH_FOR = 1.0
"""Seconds the bans in force are read from memory before the store is asked
again (see `Accounts.active_ban`)."""


class Accounts:
    """Accounts, logins, tokens, invites and bans, for any number of threads.

    Methods that hash a password (`register`, `use_invite`, `verify`,
    `change_password`, `reset_password`) queue the work on a pool of
    `max_workers` threads and return a `Future` at once; its result is an
    `Account` or a `Refused`, never an exception (except `CancelledError`
    for work still queued at `close()`). Attach `add_done_callback`: the
    callback runs on a pool thread (or at once, on the caller's, when the
    answer needs no hash), so it should only hand the result to the owning
    loop. More than `max_pending` unfinished hashing calls are refused with
    BUSY straight away: a flood of logins costs a bounded amount of memory
    and CPU, and argon2 (64 MiB each by default) never runs more than
    `max_workers` at once.

    The other methods are quick (one indexed database row or two) and
    answer directly; they raise `server.store.StoreError` if the database
    fails.

    Admin operations take `by`: the acting account, re-checked in the store
    to be an enabled admin, or None for the local operator (the command
    line), who may do anything.

    Args:
        store: where accounts live.
        hasher: argon2 parameters; the default is argon2-cffi's (RFC 9106
            low memory). Tests pass `PasswordHasher.from_parameters(CHEAPEST)`.
        clock: seconds since the epoch; stored times and throttling use it.
        registration: whether `register` needs an invite.
        account_policy / address_policy: login throttling per account and
            per client address (looser, since many users may share one).
        max_workers: hashing threads.
        max_pending: unfinished hashing calls before BUSY.
        min_password_chars: the shortest password accepted.
        token_max_idle: a token unused this long (seconds) stops working.
        invite_lifetime: default validity of an invite code (seconds).
    """

    def __init__(
        self,
        store: Store,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], float] = time.time,
        registration: Registration = Registration.OPEN,
        account_policy: ThrottlePolicy | None = None,
        address_policy: ThrottlePolicy | None = None,
        max_workers: int = 2,
        max_pending: int = 64,
        min_password_chars: int = MIN_PASSWORD_CHARS,
        token_max_idle: float = 90 * 86400.0,
        invite_lifetime: float = 7 * 86400.0,
    ) -> None:
        self.store = store
        self.registration = registration
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._max_pending = max_pending
        self._min_password_chars = min_password_chars
        self._token_max_idle = token_max_idle
        self._invite_lifetime = invite_lifetime
        self._lock = threading.Lock()
        self._pending = 0
        self._in_flight: set[str] = set()
        self._by_account = Throttle(account_policy or ThrottlePolicy())
        self._by_address = Throttle(
            address_policy or ThrottlePolicy(lockout_after=30, max_delay=30.0)
        )
        self._dummy_hash: str | None = None
        # (monotonic time read, bans in force then): see `active_ban`.
        self._bans: tuple[float, list[BanRecord]] | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="password-hash"
        )

    def close(self) -> None:
        """Stop the pool: queued work is cancelled, running hashes finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- registration ------------------------------------------------------

    def register(
        self, nick: str, password: str, *, by_operator: bool = False
    ) -> Future[Account | Refused]:
        """Create an account with role user; the nick's identity must be free.

        With `Registration.INVITE_ONLY` this is refused unless `by_operator`
        (the local command line adding an account): use `use_invite`.
        """
        if not by_operator:
            if self.registration is Registration.CLOSED:
                return _done(_REGISTRATION_CLOSED)
            if self.registration is Registration.INVITE_ONLY:
                return _done(
                    Refused(
                        Refusal.INVITE_NEEDED,
                        "this server registers accounts by invite only; ask an admin for one",
                    )
                )
        return self._register(nick, password, invite_hash=None)

    def use_invite(
        self, code: str, nick: str, password: str
    ) -> Future[Account | Refused]:
        """Register with an invite code; the code is spent in the same transaction.

        Works when registration is open or by invite; refused when closed.
        """
        if self.registration is Registration.CLOSED:
            return _done(_REGISTRATION_CLOSED)
        normalized = _normalize_invite(code)
        if normalized is None:
            return _done(_INVITE_INVALID)
        return self._register(nick, password, invite_hash=_sha256(normalized))

    def _register(
        self, nick: str, password: str, *, invite_hash: bytes | None
    ) -> Future[Account | Refused]:
        try:
            name = normalize_nick(nick)
        except InvalidNick as error:
            return _done(Refused(Refusal.INVALID_NICK, str(error)))
        problem = self._password_problem(password)
        if problem is not None:
            return _done(problem)
        key = nick_key(name)
        if self.store.account_by_key(key) is not None:
            return _done(_name_taken(name))

        def work() -> Account | Refused:
            password_hash = self._hasher.hash(password)
            try:
                record = self.store.create_account(
                    name=name,
                    name_key=key,
                    password_hash=password_hash,
                    role=Role.USER,
                    created_at=self._clock(),
                    invite_hash=invite_hash,
                )
            except NameTaken:
                return _name_taken(name)
            except InviteUnusable:
                return _INVITE_INVALID
            log.info("registered account %d %r", record.id, record.name)
            return _account(record)

        return self._submit(work)

    # --- logging in --------------------------------------------------------

    def verify(
        self, nick: str, password: str, *, address: str | None = None
    ) -> Future[Account | Refused]:
        """Log in with a password; failures are throttled per account and address.

        An unknown nick and a wrong password get the same answer and take
        the same time (a dummy hash is checked), so the answer does not tell
        which nicks have accounts. One attempt per account runs at a time.
        """
        now = self._clock()
        where = _canonical_address(address)
        try:
            key = nick_key(normalize_nick(nick))
        except InvalidNick:
            with self._lock:
                refused = self._throttled(None, where, now)
                if refused is None and where is not None:
                    self._by_address.failure(where, now)
            return _done(refused or _BAD_CREDENTIALS)
        with self._lock:
            refused = self._throttled(key, where, now)
            if refused is None and key in self._in_flight:
                refused = Refused(
                    Refusal.THROTTLED,
                    "another login to this account is in progress; try again",
                    1.0,
                )
            if refused is not None:
                return _done(refused)
            self._in_flight.add(key)

        def release() -> None:
            with self._lock:
                self._in_flight.discard(key)

        def work() -> Account | Refused:
            try:
                return self._verify(key, password, where)
            finally:
                release()

        return self._submit(work, on_refused=release)

    def _verify(
        self, key: str, password: str, address: str | None
    ) -> Account | Refused:
        record = self.store.account_by_key(key)
        if record is None:
            self._check_dummy(password)
            self._count_failure(key, address)
            # The nick is not logged: a password typed in the wrong field
            # would end up in the log.
            log.info("login failed: unknown nick (from %s)", address)
            return _BAD_CREDENTIALS
        if not self._password_matches(record.password_hash, password):
            self._count_failure(key, address)
            log.info(
                "login failed: wrong password for account %d (from %s)",
                record.id,
                address,
            )
            return _BAD_CREDENTIALS
        with self._lock:
            self._by_account.success(key)
            if address is not None:
                self._by_address.success(address)
        refused = self._standing(record, address)
        if refused is not None:
            return refused
        self._rehash_if_needed(record, password)
        log.info("account %d logged in (from %s)", record.id, address)
        return _account(record)

    def change_password(
        self,
        account_id: int,
        old_password: str,
        new_password: str,
        *,
        keep_token: bytes | None = None,
    ) -> Future[Account | Refused]:
        """Change one's own password; every token but `keep_token` is revoked.

        The old password is required (and throttled like a login), so a
        session left open is not enough to take an account over.
        """
        problem = self._password_problem(new_password)
        if problem is not None:
            return _done(problem)
        record = self.store.account_by_id(account_id)
        if record is None:
            return _done(_no_such_account("this account"))
        now = self._clock()
        with self._lock:
            refused = self._throttled(record.name_key, None, now)
        if refused is not None:
            return _done(refused)

        def work() -> Account | Refused:
            if not self._password_matches(record.password_hash, old_password):
                self._count_failure(record.name_key, None)
                return Refused(Refusal.BAD_CREDENTIALS, "the current password is wrong")
            new_hash = self._hasher.hash(new_password)
            if not self.store.set_password_hash(
                record.id, new_hash, expected=record.password_hash
            ):
                return Refused(
                    Refusal.INTERNAL, "the password was changed meanwhile; try again"
                )
            revoked = self.store.delete_tokens(
                record.id, keep=_sha256(keep_token) if keep_token else None
            )
            log.info(
                "account %d changed its password; %d tokens revoked", record.id, revoked
            )
            return _account(record)

        return self._submit(work)

    def reset_password(
        self, nick: str, new_password: str, *, by: Account | None
    ) -> Future[Account | Refused]:
        """An admin (or the operator) sets a new password; all tokens are revoked.

        It also clears the account's failed-login count, so its owner can log
        in with the new password at once.
        """
        refused = self._authorize(by) or self._password_problem(new_password)
        if refused is not None:
            return _done(refused)
        record = self._find_record(nick)
        if record is None:
            return _done(_no_such_account(nick))

        def work() -> Account | Refused:
            self.store.set_password_hash(record.id, self._hasher.hash(new_password))
            revoked = self.store.delete_tokens(record.id)
            with self._lock:
                self._by_account.success(record.name_key)
            log.info(
                "password of account %d reset by %s; %d tokens revoked",
                record.id,
                _actor(by),
                revoked,
            )
            return _account(record)

        return self._submit(work)

    # --- tokens --------------------------------------------------------------

    def issue_token(self, account_id: int, *, label: str = "") -> bytes:
        """A new login token (32 random bytes) for the account; only its hash is kept.

        Give it to the client once (SessionToken); it logs in with it later
        through `verify_token` instead of the password.
        """
        token = secrets.token_bytes(TOKEN_BYTES)
        self.store.add_token(
            account_id=account_id,
            token_hash=_sha256(token),
            created_at=self._clock(),
            label=label[:100],
        )
        return token

    def verify_token(
        self, token: bytes, *, address: str | None = None
    ) -> Account | Refused:
        """The account a token logs in to, if the token is known, fresh and allowed.

        No throttle: a 256-bit token cannot be guessed, and the lookup is by
        its hash, so timing reveals nothing about stored tokens.
        """
        if not 0 < len(token) <= MAX_TOKEN_BYTES:
            return _TOKEN_INVALID
        token_hash = _sha256(token)
        found = self.store.token(token_hash)
        now = self._clock()
        if found is None:
            return _TOKEN_INVALID
        if now - found.last_used > self._token_max_idle:
            self.store.delete_token(token_hash)
            return _TOKEN_INVALID
        record = self.store.account_by_id(found.account_id)
        if record is None:
            return _TOKEN_INVALID
        refused = self._standing(record, _canonical_address(address))
        if refused is not None:
            return refused
        if now - found.last_used > 60.0:  # spare the disk a write per reconnect
            self.store.touch_token(token_hash, now)
        return _account(record)

    def revoke_token(self, token: bytes) -> bool:
        """Forget one token (logout); True if it existed."""
        return self.store.delete_token(_sha256(token))

    def revoke_all(self, account_id: int, *, keep: bytes | None = None) -> int:
        """Forget every token of the account (except `keep`); return how many."""
        return self.store.delete_tokens(
            account_id, keep=_sha256(keep) if keep else None
        )

    # --- invites, roles, bans --------------------------------------------------

    def create_invite(
        self, *, by: Account | None, valid_for: float | None = None
    ) -> str | Refused:
        """A one-time registration code like `ABCD-EFGH-IJKL-MNOP` (admins only).

        Only its hash is stored: show the code to the admin once.
        """
        refused = self._authorize(by)
        if refused is not None:
            return refused
        raw = base64.b32encode(secrets.token_bytes(INVITE_BYTES)).decode("ascii")
        now = self._clock()
        self.store.add_invite(
            code_hash=_sha256(raw),
            created_by=by.id if by else None,
            created_at=now,
            expires_at=now + (valid_for or self._invite_lifetime),
        )
        log.info("invite created by %s", _actor(by))
        return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))

    def promote(
        self, nick: str, *, by: Account | None, role: Role = Role.ADMIN
    ) -> Account | Refused:
        """Give the account `role` (admin by default; `Role.USER` demotes)."""
        refused = self._authorize(by)
        if refused is not None:
            return refused
        record = self._find_record(nick)
        if record is None:
            return _no_such_account(nick)
        self.store.set_role(record.id, role)
        log.info("account %d is now %s (by %s)", record.id, role.value, _actor(by))
        return attrs.evolve(_account(record), role=role)

    def ban(
        self,
        *,
        by: Account | None,
        nick: str | None = None,
        address: str | None = None,
        reason: str = "",
        duration: float | None = None,
    ) -> BanRecord | Refused:
        """Keep an account, an address, or both out for `duration` s (None: for good).

        A banned account can neither log in nor use its tokens. Kicking its
        live connections is the caller's job.
        """
        refused = self._authorize(by)
        if refused is not None:
            return refused
        if duration is not None and duration <= 0:
            return Refused(
                Refusal.INVALID_INPUT, "a ban lasts a positive number of seconds"
            )
        target = self._ban_target(by, nick, address)
        if isinstance(target, Refused):
            return target
        account_id, where = target
        now = self._clock()
        ban = self.store.add_ban(
            account_id=account_id,
            address=where,
            reason=reason[:500],
            created_at=now,
            until=None if duration is None else now + duration,
        )
        self._bans = None
        log.info(
            "ban %d by %s: account %s, address %s",
            ban.id,
            _actor(by),
            account_id,
            where,
        )
        return ban

    def _ban_target(
        self, by: Account | None, nick: str | None, address: str | None
    ) -> tuple[int | None, str | None] | Refused:
        if nick is None and address is None:
            return Refused(
                Refusal.INVALID_INPUT, "name an account or an address to ban"
            )
        account_id: int | None = None
        if nick is not None:
            record = self._find_record(nick)
            if record is None:
                return _no_such_account(nick)
            if by is not None and record.id == by.id:
                return Refused(Refusal.NOT_ALLOWED, "you cannot ban yourself")
            account_id = record.id
        where = _canonical_address(address)
        if address is not None and where is None:
            return Refused(Refusal.INVALID_INPUT, f"{address!r} is not an IP address")
        return account_id, where

    def unban(
        self, *, by: Account | None, nick: str | None = None, address: str | None = None
    ) -> int | Refused:
        """Lift every ban on this account and/or address; return how many were lifted."""
        refused = self._authorize(by)
        if refused is not None:
            return refused
        target = self._ban_target(None, nick, address)
        if isinstance(target, Refused):
            return target
        account_id, where = target
        lifted = self.store.delete_bans(account_id=account_id, address=where)
        self._bans = None
        log.info(
            "%d bans lifted by %s: account %s, address %s",
            lifted,
            _actor(by),
            account_id,
            where,
        )
        return lifted

    def active_ban(
        self, *, account_id: int | None = None, address: str | None = None
    ) -> BanRecord | None:
        """The ban in force now, if any (e.g. for an address at accept time).

        Asked for every connection, so it reads the bans in force from memory,
        fetched from the store at most once every `BANS_FRESH_FOR` seconds (a
        ban this process makes or lifts counts at once; one written by
        another process, the admin command, within that time). The longest
        lasting ban that matches wins, a permanent one first.
        """
        address = _canonical_address(address)
        now = self._clock()
        matching = [
            ban
            for ban in self._bans_in_force(now)
            if (account_id is not None and ban.account_id == account_id)
            or (address is not None and ban.address == address)
        ]
        if not matching:
            return None
        return max(matching, key=lambda ban: (ban.until is None, ban.until or 0.0))

    def _bans_in_force(self, now: float) -> list[BanRecord]:
        cached = self._bans
        fresh = time.monotonic()
        if cached is None or fresh - cached[0] > BANS_FRESH_FOR:
            cached = self._bans = (fresh, self.store.bans_in_force(now))
        return [ban for ban in cached[1] if ban.until is None or ban.until > now]

    def find(self, nick: str) -> Account | None:
        """The account registered under this nick's identity, if any."""
        record = self._find_record(nick)
        return _account(record) if record else None

    # --- internals -----------------------------------------------------------

    def _submit(
        self,
        work: Callable[[], Account | Refused],
        *,
        on_refused: Callable[[], None] | None = None,
    ) -> Future[Account | Refused]:
        with self._lock:
            busy = self._pending >= self._max_pending
            if not busy:
                self._pending += 1
        if busy:
            if on_refused:
                on_refused()
            return _done(Refused(Refusal.BUSY, "server busy, try again", 1.0))

        def run() -> Account | Refused:
            try:
                return work()
            except Exception:
                # No password or token is in scope of the message; the
                # traceback goes to the log only.
                log.exception("account operation failed")
                return Refused(Refusal.INTERNAL, "server error; try again later")
            finally:
                with self._lock:
                    self._pending -= 1

        try:
            return self._pool.submit(run)
        except RuntimeError:  # the pool was shut down
            with self._lock:
                self._pending -= 1
            if on_refused:
                on_refused()
            return _done(Refused(Refusal.BUSY, "server shutting down"))

    def _throttled(
        self, key: str | None, address: str | None, now: float
    ) -> Refused | None:
        """The longer of the account's and the address's waits, as a refusal."""
        waits: list[tuple[Wait, str]] = []
        if key is not None:
            decision = self._by_account.check(key, now)
            if isinstance(decision, Wait):
                waits.append((decision, "this account"))
        if address is not None:
            decision = self._by_address.check(address, now)
            if isinstance(decision, Wait):
                waits.append((decision, "your address"))
        if not waits:
            return None
        wait, whom = max(waits, key=lambda pair: pair[0].seconds)
        seconds = max(1, round(wait.seconds + 0.499))
        if wait.lockout:
            minutes = max(1, round(seconds / 60 + 0.499))
            return Refused(
                Refusal.LOCKED_OUT,
                f"too many failed logins for {whom}; locked for {minutes} min",
                wait.seconds,
            )
        return Refused(
            Refusal.THROTTLED,
            f"too many failed logins for {whom}; try again in {seconds} s",
            wait.seconds,
        )

    def _count_failure(self, key: str, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            self._by_account.failure(key, now)
            if address is not None:
                self._by_address.failure(address, now)

    def _password_matches(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            log.error("a stored password hash is not a valid argon2 hash")
            return False

    def _check_dummy(self, password: str) -> None:
        """Spend what a real check costs, so unknown nicks answer as slowly."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        self._password_matches(self._dummy_hash, password)

    def _rehash_if_needed(self, record: AccountRecord, password: str) -> None:
        if self._hasher.check_needs_rehash(record.password_hash):
            new_hash = self._hasher.hash(password)
            if self.store.set_password_hash(
                record.id, new_hash, expected=record.password_hash
            ):
                log.info("password hash of account %d upgraded", record.id)

    def _standing(self, record: AccountRecord, address: str | None) -> Refused | None:
        if record.disabled:
            return Refused(Refusal.DISABLED, "this account is disabled")
        ban = self.store.active_ban(
            account_id=record.id, address=address, now=self._clock()
        )
        if ban is None:
            return None
        return Refused(
            Refusal.BANNED,
            ban_message(ban),
            0.0 if ban.until is None else ban.until - self._clock(),
        )

    def _authorize(self, by: Account | None) -> Refused | None:
        if by is None:
            return None
        current = self.store.account_by_id(by.id)
        if current is None or current.disabled or current.role is not Role.ADMIN:
            return Refused(Refusal.NOT_ALLOWED, "only an admin can do that")
        return None

    def _password_problem(self, password: str) -> Refused | None:
        if len(password) < self._min_password_chars:
            return Refused(
                Refusal.WEAK_PASSWORD,
                f"a password needs at least {self._min_password_chars} characters",
            )
        if len(password) > MAX_PASSWORD_CHARS:
            return Refused(
                Refusal.WEAK_PASSWORD,
                f"a password has at most {MAX_PASSWORD_CHARS} characters",
            )
        if not password.strip():
            return Refused(Refusal.WEAK_PASSWORD, "a password cannot be only spaces")
        return None

    def _find_record(self, nick: str) -> AccountRecord | None:
        try:
            key = nick_key(normalize_nick(nick))
        except InvalidNick:
            return None
        return self.store.account_by_key(key)


# --- helpers -----------------------------------------------------------------------

_BAD_CREDENTIALS = Refused(Refusal.BAD_CREDENTIALS, "wrong nick or password")
_TOKEN_INVALID = Refused(
    Refusal.TOKEN_INVALID,
    "this login has expired or was revoked; log in with your password",
)
_REGISTRATION_CLOSED = Refused(
    Refusal.REGISTRATION_CLOSED, "this server does not register new accounts"
)
_INVITE_INVALID = Refused(
    Refusal.INVITE_INVALID, "this invite code is unknown, used or expired"
)


def ban_message(ban: BanRecord) -> str:
    """`banned until 2026-12-01 18:30 UTC: spam`, for the Error sent to the banned."""
    if ban.until is None:
        when = "banned for good"
    else:
        moment = datetime.datetime.fromtimestamp(ban.until, tz=datetime.UTC)
        when = f"banned until {moment:%Y-%m-%d %H:%M} UTC"
    return f"{when}: {ban.reason}" if ban.reason else when


def _name_taken(name: str) -> Refused:
    return Refused(
        Refusal.NAME_TAKEN,
        f"the nick {name!r} (or one that looks like it) is registered",
    )


def _no_such_account(nick: str) -> Refused:
    return Refused(Refusal.NO_SUCH_ACCOUNT, f"no account named {nick!r}")


def _done(result: Account | Refused) -> Future[Account | Refused]:
    future: Future[Account | Refused] = Future()
    future.set_result(result)
    return future


def _account(record: AccountRecord) -> Account:
    return Account(
        id=record.id, name=record.name, role=record.role, created_at=record.created_at
    )


def _actor(by: Account | None) -> str:
    return "the operator" if by is None else f"account {by.id}"


def _sha256(secret: bytes | str) -> bytes:
    data = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hashlib.sha256(data).digest()


def _normalize_invite(code: str) -> str | None:
    """Upper case, without spaces or dashes: how it was hashed. None if malformed."""
    cleaned = "".join(code.split()).replace("-", "").upper()
    valid = len(cleaned) == INVITE_BYTES * 8 // 5 and all(
        char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for char in cleaned
    )
    return cleaned if valid else None


def _canonical_address(address: str | None) -> str | None:
    """One spelling per address (`::ffff:1.2.3.4` is `1.2.3.4`); None if not an IP."""
    if address is None:
        return None
    try:
        parsed = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(parsed)
