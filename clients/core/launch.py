"""`build_client`: one place that turns the user's choices into a `ChatClient`.

Both UIs and the headless client call it, so TLS, certificate trust and
login behave the same everywhere: TLS unless `plaintext`, pins in the
known-servers file, login tokens in the token store.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from clients.core.client import ChatClient, TransportFactory
from clients.core.formatting import address_label
from clients.core.journal import Journal
from clients.core.secrets import FileSecretStore, SecretStore, open_secret_store
from clients.core.session import AccountSettings, ChatSession, TrustSettings
from clients.core.settings import ClientSettings
from clients.core.transport import Transport, TransportEvent
from clients.core.trust import KnownServers, parse_endpoint

log = logging.getLogger(__name__)


@attrs.frozen(kw_only=True)
class Security:
    """How a client protects its connection and its login.

    Attributes:
        plaintext: no TLS (old servers, tests); the UI says "not encrypted".
        trust_new: accept a server's first-seen certificate without asking.
        login: log in to the nick's account (saved token, else the password).
        program: the client's command, for advice in warnings.
        known_servers: the pin file (default: in the user's data directory).
        tokens: the token file (default: the system keyring where one works,
            else a 0600 file in the user's data directory).
        journals: the directory of journals, where unconfirmed lines and
            the last message seen outlive the process (default: in the
            user's data directory).
    """

    plaintext: bool = False
    trust_new: bool = False
    login: bool = False
    program: str = "chinwag"
    known_servers: Path | None = None
    tokens: Path | None = None
    journals: Path | None = None


def build_client(
    host: str,
    port: int,
    nick: str,
    sink: Callable[[TransportEvent], object],
    *,
    security: Security | None = None,
    transport_factory: TransportFactory | None = None,
    session_options: Mapping[str, Any] | None = None,
    settings: ClientSettings | None = None,
    settings_path: Path | None = None,
) -> ChatClient:
    """A `ChatClient` for `nick` at host:port, set up as `security` says.

    Args:
        security: None is for tests with a fake transport: plaintext, no
            pins, no saved tokens, no journal.
        transport_factory: replaces the real `Transport` (tests).
        session_options: further `ChatSession` keyword arguments (clocks,
            backoff) for tests.
        settings: the user's settings, if the caller read them already.
        settings_path: where `/set` and `ChatClient.change_setting` keep
            them (default: the user's config directory).
    """
    trust = accounts = None
    journal: Journal | None = None
    factory = transport_factory
    if security is not None:
        known = KnownServers(security.known_servers)
        trust = TrustSettings(
            known=known,
            host=host,
            port=port,
            trust_new=security.trust_new,
            program=security.program,
        )
        secrets: SecretStore = (
            FileSecretStore(security.tokens)
            if security.tokens is not None
            else open_secret_store()
        )
        accounts = AccountSettings(
            secrets=secrets, host=host, port=port, login=security.login
        )
        if factory is None:
            factory = functools.partial(Transport, secure=not security.plaintext)
        try:
            journal = Journal(host, port, nick, directory=security.journals)
        except ValueError as exc:
            log.warning("no journal for %s:%s: %s", host, port, exc)
    options: dict[str, Any] = {"journal": journal, **(session_options or {})}
    session = ChatSession(
        nick=nick,
        server=address_label(host, port),
        trust=trust,
        accounts=accounts,
        **options,
    )
    return ChatClient(
        session,
        host,
        port,
        sink,
        transport_factory=factory or Transport,
        settings=settings,
        settings_path=settings_path,
    )


def forget_host(text: str, default_port: int, path: Path | None = None) -> str:
    """`--forget-host HOST:PORT`: drop a pinned certificate; says what happened.

    Raises:
        ValueError: `text` is not HOST, HOST:PORT or [IPv6]:PORT.
    """
    host, port = parse_endpoint(text, default_port)
    if KnownServers(path).forget(host, port):
        return f"forgot the certificate of {address_label(host, port)}; you will be asked about the next one"
    return f"no certificate was pinned for {address_label(host, port)}"
