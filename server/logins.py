"""`LoginService`: accounts as the peers use them (spec 12.3).

`server.accounts` knows accounts; this module speaks for them on the wire:
it maps their refusals to error codes, runs password checks on the accounts'
pool and hands each result back to the peer's own reader thread (`post`),
so no network thread ever waits on a hash and a peer's protocol state is
only ever touched by its reader.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from concurrent.futures import Future

import attrs

from protocol import ErrorCode, ModerationAction
from server.accounts import Account, Accounts, Refusal, Refused, ban_message
from server.refusal import Refusal as WireRefusal

log = logging.getLogger(__name__)

_CODES = {
    Refusal.BAD_CREDENTIALS: ErrorCode.AUTH_FAILED,
    Refusal.INVITE_INVALID: ErrorCode.AUTH_FAILED,
    Refusal.TOKEN_INVALID: ErrorCode.AUTH_FAILED,
    Refusal.THROTTLED: ErrorCode.TRY_LATER,
    Refusal.LOCKED_OUT: ErrorCode.TRY_LATER,
    Refusal.BUSY: ErrorCode.TRY_LATER,
    Refusal.BANNED: ErrorCode.BANNED,
    Refusal.DISABLED: ErrorCode.BANNED,
    Refusal.NAME_TAKEN: ErrorCode.NICK_IN_USE,
    Refusal.REGISTRATION_CLOSED: ErrorCode.NOT_PERMITTED,
    Refusal.INVITE_NEEDED: ErrorCode.NOT_PERMITTED,
    Refusal.NOT_ALLOWED: ErrorCode.NOT_PERMITTED,
    Refusal.NO_SUCH_ACCOUNT: ErrorCode.UNKNOWN_USER,
    Refusal.INVALID_NICK: ErrorCode.INVALID_NICK,
    Refusal.WEAK_PASSWORD: ErrorCode.INVALID_FIELD,
    Refusal.INVALID_INPUT: ErrorCode.INVALID_FIELD,
    Refusal.INTERNAL: ErrorCode.INTERNAL_ERROR,
}

NEEDS_TLS = "passwords are accepted only over TLS (or from the server's own machine)"


def refusal(refused: Refused, *, ref: int = 0, fatal: bool = False) -> WireRefusal:
    """The Error to send for an accounts refusal."""
    code = _CODES.get(refused.reason, ErrorCode.NOT_PERMITTED)
    return WireRefusal(code, refused.message[:400], ref, fatal)


@attrs.frozen
class Login:
    """Who a connection logs in as: the account, its login token, its role."""

    account: Account
    token: bytes

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def admin(self) -> bool:
        return self.account.is_admin


class LoginService:
    """Accounts for the peers: logins, registration, passwords, moderation.

    Args:
        accounts: the accounts service (owns the store and the hash pool).
        require_account: guests are refused at the handshake.
    """

    def __init__(self, accounts: Accounts, *, require_account: bool = False) -> None:
        self.accounts = accounts
        self.require_account = require_account

    def owns(self, nick: str) -> bool:
        """True if an account owns this nick (guests may not take it)."""
        try:
            return self.accounts.find(nick) is not None
        except Exception:
            log.exception("looking up %r failed", nick)
            return False

    def by_token(self, token: bytes, address: str) -> Login | Refused:
        """Log in with a login token from an earlier SessionToken/AccountStatus."""
        found = self.accounts.verify_token(token, address=address)
        if isinstance(found, Refused):
            return found
        return Login(found, token)

    def by_password(
        self,
        nick: str,
        password: str,
        address: str,
        post: Callable[[Callable[[], object]], object],
        done: Callable[[Login | Refused], object],
    ) -> None:
        """Check a password off the network threads; `done` runs via `post`."""
        future = self.accounts.verify(nick, password, address=address)
        self._then(future, post, lambda result: done(self._login(result)))

    def register(
        self,
        nick: str,
        password: str,
        invite: str | None,
        post: Callable[[Callable[[], object]], object],
        done: Callable[[Login | Refused], object],
    ) -> None:
        future = (
            self.accounts.use_invite(invite, nick, password)
            if invite
            else self.accounts.register(nick, password)
        )
        self._then(future, post, lambda result: done(self._login(result)))

    def change_password(
        self,
        login: Login,
        old: str,
        new: str,
        post: Callable[[Callable[[], object]], object],
        done: Callable[[Login | Refused], object],
    ) -> None:
        """Every token but a fresh one is revoked; `done` gets the new login."""
        future = self.accounts.change_password(login.account.id, old, new)
        self._then(future, post, lambda result: done(self._login(result)))

    def logout(self, login: Login, *, everywhere: bool) -> None:
        if everywhere:
            self.accounts.revoke_all(login.account.id)
        else:
            self.accounts.revoke_token(login.token)

    def moderate(  # noqa: PLR0911 - one arm per action
        self,
        login: Login | None,
        *,
        action: ModerationAction,
        target: str,
        reason: str,
        minutes: int,
        address_of: Callable[[str], str | None],
    ) -> str | Refused:
        """Do an admin's request; the text of the answer, or why not.

        Kicking is the caller's part (it holds the connections); banning a
        nick without an account bans its address (`address_of`).
        """
        current = None if login is None else self.accounts.find(login.name)
        if current is None or not current.is_admin:
            return Refused(Refusal.NOT_ALLOWED, "only admins can do that")
        by = current
        duration = minutes * 60.0 if minutes else None
        match action:
            case ModerationAction.KICK:
                return f"{target} was kicked"
            case ModerationAction.BAN:
                return self._ban(by, target, reason, duration, address_of)
            case ModerationAction.UNBAN:
                lifted = self.accounts.unban(
                    by=by,
                    nick=None if _is_address(target) else target,
                    address=target if _is_address(target) else None,
                )
                if isinstance(lifted, Refused):
                    return lifted
                return f"{lifted} ban(s) on {target} lifted"
            case ModerationAction.INVITE:
                code = self.accounts.create_invite(by=by, valid_for=duration)
                if isinstance(code, Refused):
                    return code
                return f"invite code: {code} (single use)"
            case ModerationAction.PROMOTE:
                promoted = self.accounts.promote(target, by=by)
                if isinstance(promoted, Refused):
                    return promoted
                return f"{promoted.name} is now an admin"

    def _ban(
        self,
        by: Account,
        target: str,
        reason: str,
        duration: float | None,
        address_of: Callable[[str], str | None],
    ) -> str | Refused:
        if _is_address(target):
            ban = self.accounts.ban(
                by=by, address=target, reason=reason, duration=duration
            )
        elif self.accounts.find(target) is not None:
            ban = self.accounts.ban(
                by=by, nick=target, reason=reason, duration=duration
            )
        else:
            address = address_of(target)
            if address is None:
                return Refused(Refusal.NO_SUCH_ACCOUNT, f"nobody is called {target}")
            ban = self.accounts.ban(
                by=by, address=address, reason=reason, duration=duration
            )
        if isinstance(ban, Refused):
            return ban
        return f"{target}: {ban_message(ban)}"

    def _login(self, result: Account | Refused) -> Login | Refused:
        if isinstance(result, Refused):
            return result
        return Login(result, self.accounts.issue_token(result.id))

    @staticmethod
    def _then(
        future: Future[Account | Refused],
        post: Callable[[Callable[[], object]], object],
        done: Callable[[Account | Refused], object],
    ) -> None:
        def finished(finished_future: Future[Account | Refused]) -> None:
            try:
                result = finished_future.result()
            except Exception:
                log.exception("an accounts operation failed")
                result = Refused(Refusal.INTERNAL, "the server failed; try again later")
            post(lambda: done(result))

        future.add_done_callback(finished)


def _is_address(target: str) -> bool:
    try:
        ipaddress.ip_address(target)
    except ValueError:
        return False
    return True
