"""`AccountFlow`: the password questions behind /register, /password and logins.

A password is never typed into the chat line: the session raises a
`PasswordRequest`, the UI asks with a masked field (twice when choosing a
new one) and hands the answer back. This module keeps track of which
question is open and turns a complete answer into what to send. No I/O.
"""

from __future__ import annotations

import enum
import itertools

import attrs

from clients.core import events as ev
from protocol import ChangePassword, Register
from protocol.constants import MAX_PASSWORD_CHARS

MIN_PASSWORD_CHARS = 8
"""The server refuses shorter new passwords (spec 12.3); say so before sending."""


class Purpose(enum.Enum):
    LOGIN = "login"
    REGISTER = "register"
    CURRENT = "current"
    """The current password, first step of a change."""
    NEW = "new"
    """The new password, second step of a change."""


@attrs.frozen
class Answered:
    """What an answer to a `PasswordRequest` leads to.

    Attributes:
        events: what to show (a complaint and the question again, say).
        login_password: log in with this on the next connection.
        request: a Register or ChangePassword to send (its ref is filled in
            by the session).
    """

    events: list[ev.UiEvent]
    login_password: str | None = None
    request: Register | ChangePassword | None = None
    cancelled_login: bool = False


class AccountFlow:
    """The open password questions, one at a time."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._open: tuple[int, Purpose] | None = None
        self._current = ""
        self.invite: str | None = None

    @property
    def asking(self) -> bool:
        return self._open is not None

    def ask(self, purpose: Purpose, prompt: str) -> ev.PasswordRequest:
        """Open a question (replacing any open one)."""
        request_id = next(self._ids)
        self._open = (request_id, purpose)
        confirm = purpose in (Purpose.REGISTER, Purpose.NEW)
        return ev.PasswordRequest(id=request_id, prompt=prompt, confirm=confirm)

    def answer(  # noqa: PLR0911 - one return per step of the dialogue
        self, request_id: int, password: str | None, repeat: str | None
    ) -> Answered:
        """The user's answer; `password` None means they cancelled."""
        if self._open is None or self._open[0] != request_id:
            return Answered([])
        _, purpose = self._open
        self._open = None
        if password is None:
            self._current = ""
            return Answered(
                [ev.Notice("cancelled; no password was sent")],
                cancelled_login=purpose is Purpose.LOGIN,
            )
        if not password or len(password) > MAX_PASSWORD_CHARS:
            problem = (
                "the password is empty"
                if not password
                else f"a password has at most {MAX_PASSWORD_CHARS} characters"
            )
            again = self.ask(purpose, f"{problem.capitalize()}. Try again")
            return Answered([ev.Notice(problem, ev.NoticeLevel.ERROR), again])
        if purpose is Purpose.LOGIN:
            return Answered([], login_password=password)
        if purpose is Purpose.CURRENT:
            self._current = password
            return Answered([self.ask(Purpose.NEW, "Choose your new password")])
        problem = _check_new(password, repeat)
        if problem:
            again = self.ask(purpose, f"{problem}. Choose a password")
            return Answered([ev.Notice(problem, ev.NoticeLevel.ERROR), again])
        if purpose is Purpose.REGISTER:
            return Answered([], request=Register(password=password, invite=self.invite))
        current, self._current = self._current, ""
        return Answered(
            [],
            request=ChangePassword(old_password=current, new_password=password),
        )

    def cancel(self) -> None:
        self._open = None
        self._current = ""


def _check_new(password: str, repeat: str | None) -> str:
    if repeat is not None and repeat != password:
        return "the two passwords differ"
    if len(password) < MIN_PASSWORD_CHARS:
        return f"a password needs at least {MIN_PASSWORD_CHARS} characters"
    if password.strip() != password:
        return "a password cannot start or end with a space"
    return ""
