"""`Login`: the account side of a session (spec 12.2 to 12.4).

Who we are logged in as, the token that resumes the login, the password
for the next Identify, and the requests only an account can make
(/register, /password, /logout, moderation), each remembered by its ref so
its answer or refusal reads right. `ChatSession` sends what this part
returns and owns the connection; the password questions themselves are
`AccountFlow`'s. No sockets, no clock; tokens reach a file or the keyring
only through the `SecretStore`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

import attrs

from clients.core import commands as cmd
from clients.core import events as ev
from clients.core.accounts import AccountFlow, Answered, Purpose
from clients.core.link import Link
from clients.core.secrets import SecretStore, SecretStoreError, server_key
from protocol import (
    CAP_ACCOUNTS,
    AccountStatus,
    ChangePassword,
    Error,
    ErrorCode,
    Identify,
    Logout,
    Message,
    Moderate,
    Register,
    SessionToken,
    nick_key,
)

_FATAL_AT_HANDSHAKE = (ErrorCode.INVALID_NICK, ErrorCode.UNSUPPORTED_VERSION)
_LOGIN = (
    ErrorCode.AUTH_FAILED,
    ErrorCode.TRY_LATER,
    ErrorCode.BANNED,
    ErrorCode.ACCOUNT_REQUIRED,
    ErrorCode.NOT_PERMITTED,
)
_OFFLINE = "not connected; try again once connected"
CLEARTEXT_REFUSED = (
    "will not send a password over an unencrypted connection to another machine"
)
"""Why a login stops instead of sending a password in the clear."""

AccountCommand = (
    cmd.RegisterNick | cmd.ChangeMyPassword | cmd.LogIn | cmd.LogOut | cmd.Moderation
)
"""The commands this part plans."""


@attrs.frozen(kw_only=True)
class AccountSettings:
    """Where login tokens live, and whether to log in at start.

    Attributes:
        secrets: the token store (a 0600 file or the system keyring).
        host, port: the server, as the user named it.
        login: log in to the account named by the nick: with the saved
            token if there is one, else by asking for the password.
    """

    secrets: SecretStore
    host: str
    port: int
    login: bool = False

    @property
    def server(self) -> str:
        return server_key(self.host, self.port)

    @property
    def loopback(self) -> bool:
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return self.host.lower() == "localhost"


@attrs.frozen(kw_only=True)
class Step:
    """What a command or a message leads to.

    Attributes:
        refusal: the command is not acted on, and why.
        events: what to show.
        send: a request to send (its ref already filled in).
        fatal: retrying the connection cannot help, and why.
    """

    refusal: str | None = None
    events: tuple[ev.UiEvent, ...] = ()
    send: Message | None = None
    fatal: str | None = None


class Login:
    """The account state of one session across its connections.

    Args:
        settings: the token store and whether to log in at start; None for
            a guest that can still /register (its token is kept in memory).
        refs: the session's ref counter (refs are shared by every request).
    """

    def __init__(
        self, settings: AccountSettings | None, refs: Callable[[], int]
    ) -> None:
        self.settings = settings
        self.flow = AccountFlow()
        self.account: str | None = None
        """The account we are logged in as, if any."""
        self.token = b""
        """Resumes the session (and its login) on the next Identify."""
        self._refs = refs
        self._password: str | None = None
        self._requests: dict[int, type[Message]] = {}
        self._moderation: dict[int, str] = {}

    def start(self, nick: str, server: str) -> ev.PasswordRequest | None:
        """At start: load the saved token, or ask for the password first
        (then connect only once it is given)."""
        settings = self.settings
        if settings is None or not settings.login:
            return None
        token = settings.secrets.load(settings.server, nick_key(nick))
        if token:
            self.token = token
            return None
        return self.ask_password(nick, server)

    def ask_password(
        self, nick: str, server: str, *, before: str = ""
    ) -> ev.PasswordRequest:
        """Ask for the password to log in with (`before` starts the prompt)."""
        return self.flow.ask(Purpose.LOGIN, f"{before}Password for {nick} on {server}")

    def answer(
        self, request_id: int, password: str | None, repeat: str | None
    ) -> Answered:
        """The user's answer to a `PasswordRequest`; a login password is
        kept for the next Identify (the saved token is dropped then)."""
        answered = self.flow.answer(request_id, password, repeat)
        if answered.login_password is not None:
            self._password = answered.login_password
            self.token = b""
        return answered

    def track(self, request: Register | ChangePassword) -> Message:
        """A request the password dialogue completed, with its ref."""
        ref = self._refs()
        self._requests[ref] = type(request)
        return attrs.evolve(request, ref=ref)

    def identify(self, *, encrypted: bool) -> tuple[Identify, str | None]:
        """What to send after Hello (spec 12.2), and why to stop if a
        password would go in the clear to another machine (it is dropped)."""
        password = self._password
        if password is None or self._may_send_password(encrypted=encrypted):
            return Identify(token=self.token, password=password), None
        self._password = None
        return Identify(token=self.token, password=None), CLEARTEXT_REFUSED

    def plan(self, command: AccountCommand, link: Link, *, nick: str) -> Step:
        """What an account command leads to (`nick` names the account)."""
        match command:
            case cmd.RegisterNick(invite):
                self.flow.invite = invite
                prompt = f"Choose a password for the account {nick}"
                return self._ask_if_open(Purpose.REGISTER, prompt, link)
            case cmd.ChangeMyPassword():
                return self._ask_if_open(Purpose.CURRENT, "Your current password", link)
            case cmd.LogIn():
                return Step(events=(self.ask_password(nick, link.server),))
            case cmd.LogOut(everywhere):
                return self._logout(everywhere, link)
            case cmd.Moderation():
                return self._moderate(command, link)

    def _logout(self, everywhere: bool, link: Link) -> Step:
        if not link.open:
            return Step(refusal=_OFFLINE)
        if self.account is None:
            return Step(refusal="you are not logged in")
        ref = self._refs()
        self._requests[ref] = Logout
        return Step(send=Logout(ref=ref, everywhere=everywhere))

    def _moderate(self, command: cmd.Moderation, link: Link) -> Step:
        if not link.open:
            return Step(refusal=_OFFLINE)
        if not link.has(CAP_ACCOUNTS):
            return Step(refusal=f"{link.server} has no accounts or admins")
        ref = self._refs()
        what = command.action.name.lower()
        self._moderation[ref] = f"{what} {command.target}".strip()
        return Step(
            send=Moderate(
                ref=ref,
                action=command.action,
                target=command.target,
                reason=command.reason,
                minutes=command.minutes,
            )
        )

    def session_token(self, message: SessionToken, nick: str, server: str) -> Step:
        """The server's `SessionToken` after Identify: who we are now."""
        self.token = message.token
        tried_login = self._password is not None
        self._password = None
        self.account = message.account
        settings = self.settings
        if message.account is not None:
            return Step(events=self._keep_token(message.account, message.token))
        if settings is not None and settings.login and not tried_login:
            # The saved token was revoked or expired: ask for the password.
            settings.secrets.delete(settings.server, nick_key(nick))
            return Step(
                events=(
                    ev.Notice(f"your login on {server} has expired; log in again"),
                    self.ask_password(nick, server),
                )
            )
        return Step()

    def account_status(self, message: AccountStatus, nick: str) -> Step:
        """The answer to /register, /password or /logout."""
        kind = self._requests.pop(message.ref, None)
        self.account = message.account
        if message.token:
            self.token = message.token
        events: tuple[ev.UiEvent, ...] = ()
        if message.account is not None:
            events = self._keep_token(message.account, message.token)
        if kind is Register:
            done = f"{message.account} is now your account; you are logged in"
            return Step(events=(*events, ev.Notice(done)))
        if kind is ChangePassword:
            done = "password changed; every other device was logged out"
            return Step(events=(*events, ev.Notice(done)))
        if kind is Logout:
            settings = self.settings
            if settings is not None:
                settings.secrets.delete(settings.server, nick_key(nick))
            return Step(
                events=(*events, ev.Notice("you logged out")), fatal="you logged out"
            )
        return Step(events=events)

    def moderated(self, ref: int) -> None:
        """A moderation request was answered."""
        self._moderation.pop(ref, None)

    def refused(self, error: Error) -> str | None:
        """The notice text for an Error about one of our requests, or None
        if it is about something else."""
        if error.ref in self._requests:
            self._requests.pop(error.ref)
            return error.text
        if error.ref in self._moderation:
            return f"{self._moderation.pop(error.ref)}: {error.text}"
        return None

    def refused_handshake(self, error: Error, nick: str, server: str) -> Step:
        """The server said no before Welcome: decide whether retrying helps."""
        fatal: str | None = None
        if error.code in _LOGIN or (
            self._password is not None and error.code is ErrorCode.INVALID_FIELD
        ):
            # A refused password is never sent again by itself; a server
            # without accounts refuses any (spec 12.2): that is final too.
            if error.code is ErrorCode.INVALID_FIELD:
                fatal = error.text
            self._password = None
        if error.code is ErrorCode.AUTH_FAILED:
            again = self.ask_password(nick, server, before="Wrong nick or password. ")
            return Step(events=(again,), fatal=fatal)
        if error.code in _LOGIN or error.code in _FATAL_AT_HANDSHAKE:
            fatal = error.text
        return Step(fatal=fatal)

    def _ask_if_open(self, purpose: Purpose, prompt: str, link: Link) -> Step:
        if not link.open:
            return Step(refusal=_OFFLINE)
        if not link.has(CAP_ACCOUNTS):
            return Step(refusal=f"{link.server} has no accounts")
        return Step(events=(self.flow.ask(purpose, prompt),))

    def _may_send_password(self, *, encrypted: bool) -> bool:
        settings = self.settings
        return encrypted or (settings is not None and settings.loopback)

    def _keep_token(self, account: str, token: bytes) -> tuple[ev.UiEvent, ...]:
        settings = self.settings
        if settings is None or not token:
            return ()
        try:
            settings.secrets.save(settings.server, nick_key(account), token)
        except SecretStoreError as exc:
            return (
                ev.Notice(
                    f"could not keep your login ({exc}); you will need your password next time",
                    ev.NoticeLevel.ERROR,
                ),
            )
        return ()
