"""`CertificateGate`: may the session say Hello over this TLS connection?

A certificate that no CA vouches for is judged by trust on first use (the
rules are `clients.core.trust.decide`): accept it, ask the user, or refuse
it. The gate keeps the one open question and pins what the user accepts;
`ChatSession` says Hello or drops the connection on its verdict. No sockets
and no clock; the known-servers file is written only through `KnownServers`.
"""

from __future__ import annotations

import enum
import logging

import attrs

from clients.core import events as ev
from clients.core.tls import TlsInfo
from clients.core.trust import Action, FirstSeen, KnownServers, decide

log = logging.getLogger(__name__)

NOT_TRUSTED = "you did not trust the server's certificate"
"""Why the session stops when the user says no (shown with the status)."""


@attrs.frozen(kw_only=True)
class TrustSettings:
    """How to judge a server's certificate (trust on first use, spec'd in
    `clients.core.trust`).

    Attributes:
        known: the pinned fingerprints.
        host, port: the server, as the user named it.
        trust_new: accept a first-seen certificate without asking (scripts).
        program: the client's command, for the changed-certificate advice.
    """

    known: KnownServers
    host: str
    port: int
    trust_new: bool = False
    program: str = "chinwag-tui"


class Verdict(enum.Enum):
    HELLO = "hello"
    """Go on: say Hello (after showing `events`)."""
    ASK = "ask"
    """Wait for the user's answer to the `TrustQuestion` in `events`."""
    REFUSE = "refuse"
    """Drop the connection for good: `fatal` says why, `reason` what happened."""
    NOTHING = "nothing"
    """An answer nobody asked for: do nothing."""


@attrs.frozen(kw_only=True)
class Judgement:
    """What to do with a connection, and what to show."""

    verdict: Verdict
    events: tuple[ev.UiEvent, ...] = ()
    fatal: str = ""
    reason: str = ""


class CertificateGate:
    """The certificate checks of one session.

    Args:
        trust: the pinned servers and the user's choices; None accepts any
            certificate (tests, `--plaintext`).
    """

    def __init__(self, trust: TrustSettings | None) -> None:
        self._trust = trust
        self._question: str | None = None

    @property
    def asking(self) -> bool:
        """A `TrustQuestion` waits for its answer."""
        return self._question is not None

    def judge(self, tls: TlsInfo | None) -> Judgement:
        """A new connection is up; `tls` is None for plaintext.

        Raises:
            OSError: pinning an accepted first-seen certificate failed.
        """
        self._question = None
        trust = self._trust
        if tls is None or tls.verified or trust is None:
            return Judgement(verdict=Verdict.HELLO)
        try:
            state = trust.known.check(trust.host, trust.port, tls.fingerprint)
        except ValueError as exc:
            state = FirstSeen(tls.fingerprint)
            log.warning("ignoring the known-servers entry: %s", exc)
        decision = decide(
            host=trust.host,
            port=trust.port,
            ca_verified=tls.verified,
            state=state,
            trust_new=trust.trust_new,
            program=trust.program,
        )
        match decision.action:
            case Action.ACCEPT:
                if decision.pin:
                    trust.known.pin(trust.host, trust.port, tls.fingerprint)
                notice = (ev.Notice(decision.text),) if decision.text else ()
                return Judgement(verdict=Verdict.HELLO, events=notice)
            case Action.ASK:
                self._question = tls.fingerprint
                question = ev.TrustQuestion(
                    text=decision.text, fingerprint=tls.fingerprint
                )
                return Judgement(verdict=Verdict.ASK, events=(question,))
            case Action.REFUSE:
                return Judgement(
                    verdict=Verdict.REFUSE,
                    fatal=decision.text,
                    reason="the server's certificate changed",
                )

    def answer(self, yes: bool) -> Judgement:
        """The user's answer to the open `TrustQuestion`.

        A certificate that cannot be pinned (the file is not writable) is
        still trusted for this connection; the user is told.
        """
        fingerprint, self._question = self._question, None
        if fingerprint is None or self._trust is None:
            return Judgement(verdict=Verdict.NOTHING)
        if not yes:
            return Judgement(
                verdict=Verdict.REFUSE,
                fatal=NOT_TRUSTED,
                reason="certificate not trusted",
            )
        trust = self._trust
        try:
            trust.known.pin(trust.host, trust.port, fingerprint)
        except OSError as exc:
            problem = ev.Notice(
                f"could not remember the certificate ({exc}); you will be asked again next time",
                ev.NoticeLevel.ERROR,
            )
            return Judgement(verdict=Verdict.HELLO, events=(problem,))
        return Judgement(verdict=Verdict.HELLO)
