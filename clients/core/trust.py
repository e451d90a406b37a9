"""Trust on first use for server certificates, like OpenSSH's known_hosts.

A pinned SHA-256 fingerprint per (host, port) in a small text file, the
decision what to do with a certificate (`decide`), and the exact texts a
user reads. Sans-IO apart from that file: no sockets, no threads, no `ssl`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
import logging
import os
from pathlib import Path

import attrs
from platformdirs import PlatformDirs

log = logging.getLogger(__name__)

APP_NAME = "chinwag"
KNOWN_SERVERS_FILE = "known_servers"
FORGET_OPTION = "--forget-host"
"""The proposed command-line option that removes a pin: `chinwag-tui --forget-host HOST:PORT`."""
DEFAULT_PROGRAM = "chinwag-tui"

_HEADER = (
    "# Chinwag known servers: one '[host]:port FINGERPRINT' per line (SHA-256).\n"
    f"# Remove a line (or use {FORGET_OPTION} HOST:PORT) to be asked again.\n"
)
_FINGERPRINT_HEX = 64


# --- fingerprints and names ----------------------------------------------------


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate as `AB:CD:…`, the way the server prints it.

    `der` is what `SSLSocket.getpeercert(binary_form=True)` returns.
    """
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def normalize_fingerprint(text: str) -> str:
    """A fingerprint typed or pasted in any common form, as `AB:CD:…`.

    Accepts upper or lower case, with colons, spaces or nothing between
    bytes, and an optional `SHA256:`/`sha256 Fingerprint=` prefix.

    Raises:
        ValueError: not 32 bytes of hex.
    """
    cleaned = text.strip()
    for prefix in ("sha256 fingerprint=", "sha256:", "sha-256:"):
        if cleaned.lower().startswith(prefix):
            cleaned = cleaned[len(prefix) :]
    digits = "".join(char for char in cleaned if char not in ": \t").upper()
    if len(digits) != _FINGERPRINT_HEX or any(
        c not in "0123456789ABCDEF" for c in digits
    ):
        msg = "a SHA-256 fingerprint is 32 bytes in hex, like AB:CD:EF:…"
        raise ValueError(msg)
    return ":".join(digits[i : i + 2] for i in range(0, _FINGERPRINT_HEX, 2))


def is_fingerprint(text: str) -> bool:
    """True if `text` is a SHA-256 fingerprint in a form `normalize_fingerprint` reads.

    The UIs use it to set the fingerprint line of a question apart.
    """
    try:
        normalize_fingerprint(text)
    except ValueError:
        return False
    return True


def endpoint(host: str, port: int) -> str:
    """The one spelling of a server: `[host]:port`, lower case, IPv6 compressed.

    `Chat.Example.org.`, `chat.example.org` and `[::0:1]`/`::1` each give one
    key, so a pin is found however the user typed the host.

    Raises:
        ValueError: empty host or a port outside 1 to 65535.
    """
    name = host.strip()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    name = name.rstrip(".")
    if not name or any(char.isspace() or char in "[]" for char in name):
        msg = f"{host!r} is not a host name or address"
        raise ValueError(msg)
    if not 0 < port < 65536:
        msg = f"{port} is not a TCP port (1 to 65535)"
        raise ValueError(msg)
    try:
        name = str(ipaddress.ip_address(name))
    except ValueError:
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            name = name.casefold()
        name = name.lower()
    return f"[{name}]:{port}"


def parse_endpoint(text: str, default_port: int) -> tuple[str, int]:
    """`HOST`, `HOST:PORT`, `[v6]:PORT` or a bare IPv6 address, as (host, port).

    For the `--forget-host HOST:PORT` option.

    Raises:
        ValueError: with a sentence for the user.
    """
    raw = text.strip()
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest.removeprefix(":") if rest.startswith(":") else rest
    elif raw.count(":") == 1:
        host, _, port_text = raw.partition(":")
    else:  # a name, or an IPv6 address without brackets
        host, port_text = raw, ""
    if not port_text:
        port = default_port
    elif port_text.isdigit():
        port = int(port_text)
    else:
        msg = f"{text!r}: the port must be a number (HOST:PORT, [IPv6]:PORT)"
        raise ValueError(msg)
    endpoint(host, port)  # validates
    return host, port


# --- the store -------------------------------------------------------------------


@attrs.frozen
class Trusted:
    """The certificate is the one pinned for this server."""

    fingerprint: str


@attrs.frozen
class FirstSeen:
    """Nothing is pinned for this server yet."""

    fingerprint: str


@attrs.frozen
class Changed:
    """A different certificate than the pinned one: maybe an attack."""

    old: str
    new: str


TrustState = Trusted | FirstSeen | Changed


def default_known_servers_path() -> Path:
    """`known_servers` in the user's data directory (follows `XDG_DATA_HOME`)."""
    return (
        Path(PlatformDirs(APP_NAME, appauthor=False).user_data_dir) / KNOWN_SERVERS_FILE
    )


class KnownServers:
    """Pinned certificate fingerprints per (host, port), in one text file.

    The file is read on every call and rewritten whole, atomically, mode
    0600, so two clients running at once see each other's pins and a crash
    never leaves half a file. Lines it cannot parse are kept as they are.

    Args:
        path: the file; `default_known_servers_path()` if None.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_known_servers_path()

    def pinned(self, host: str, port: int) -> str | None:
        """The fingerprint pinned for this server, if any."""
        key = endpoint(host, port)
        for entry in self._read():
            if isinstance(entry, tuple) and entry[0] == key:
                return entry[1]
        return None

    def check(self, host: str, port: int, fingerprint: str) -> TrustState:
        """Compare the certificate a server showed with its pin.

        Raises:
            ValueError: `fingerprint`, host or port malformed.
        """
        offered = normalize_fingerprint(fingerprint)
        old = self.pinned(host, port)
        if old is None:
            return FirstSeen(offered)
        if hmac.compare_digest(old, offered):
            return Trusted(offered)
        return Changed(old, offered)

    def pin(self, host: str, port: int, fingerprint: str) -> None:
        """Remember this certificate for this server (replacing any earlier pin).

        Raises:
            OSError: the file cannot be written; the caller tells the user.
        """
        key = endpoint(host, port)
        value = normalize_fingerprint(fingerprint)
        entries = [
            e for e in self._read() if not (isinstance(e, tuple) and e[0] == key)
        ]
        entries.append((key, value))
        self._write(entries)
        log.info("pinned certificate %s for %s", value, key)

    def forget(self, host: str, port: int) -> bool:
        """Remove this server's pin; True if there was one."""
        key = endpoint(host, port)
        entries = self._read()
        kept = [e for e in entries if not (isinstance(e, tuple) and e[0] == key)]
        if len(kept) == len(entries):
            return False
        self._write(kept)
        log.info("forgot the certificate of %s", key)
        return True

    def _read(self) -> list[tuple[str, str] | str]:
        """Pins as (endpoint, fingerprint); other lines as they are."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError) as error:
            log.warning("cannot read %s: %s", self.path, error)
            return []
        entries: list[tuple[str, str] | str] = []
        for line in text.splitlines():
            if line.startswith("#") and line + "\n" in _HEADER:
                continue
            entry = _parse_line(line)
            entries.append(entry if entry is not None else line)
        return entries

    def _write(self, entries: list[tuple[str, str] | str]) -> None:
        lines = [e if isinstance(e, str) else f"{e[0]} {e[1]}" for e in entries]
        write_private_file(
            self.path, (_HEADER + "".join(f"{ln}\n" for ln in lines)).encode()
        )


def _parse_line(line: str) -> tuple[str, str] | None:
    parts = line.split()
    if len(parts) != 2 or not parts[0].startswith("["):
        return None
    host, _, port = parts[0][1:].rpartition("]:")
    try:
        return endpoint(host, int(port)), normalize_fingerprint(parts[1])
    except ValueError:
        return None


def write_private_file(path: Path, data: bytes) -> None:
    """Replace `path` atomically with `data`, readable only by the user (0600).

    The directory is made (0700) if missing; the temporary file is created
    0600 from the start, then renamed over the old one, so neither a crash
    nor another user ever sees a partial or exposed file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


# --- deciding, and what the user reads -------------------------------------------


class Action(enum.Enum):
    """What the client does with the certificate."""

    ACCEPT = "accept"
    """Go on with the connection."""
    ASK = "ask"
    """Show `Decision.text` and ask; on yes, pin the fingerprint and go on."""
    REFUSE = "refuse"
    """Close the connection and show `Decision.text` (loudly)."""


@attrs.frozen(kw_only=True)
class Decision:
    """The outcome of `decide`.

    Attributes:
        action: accept, ask or refuse.
        pin: pin the fingerprint now (accepted without asking under
            `trust_new`). After an ASK, pin only if the user said yes.
        text: what to show: the question (ASK), the warning (REFUSE), or a
            one-line notice (ACCEPT; empty when there is nothing to say).
    """

    action: Action
    pin: bool
    text: str


def decide(
    *,
    host: str,
    port: int,
    ca_verified: bool,
    state: TrustState,
    trust_new: bool,
    program: str = DEFAULT_PROGRAM,
) -> Decision:
    """What to do with the certificate a server showed.

    Args:
        host, port: the server, as the user named it.
        ca_verified: the certificate chain verified against the system's CAs
            for this host name (e.g. Let's Encrypt). Such certificates renew
            every few weeks, so they are accepted and not pinned.
        state: `KnownServers.check` for the fingerprint shown.
        trust_new: the user asked up front (`--trust-new`) to accept a
            server seen for the first time without a question, for scripts.
            It never accepts a *changed* certificate.
        program: the client's command name, for the warning's advice.
    """
    match state:
        case _ if ca_verified:
            return Decision(action=Action.ACCEPT, pin=False, text="")
        case Trusted():
            return Decision(action=Action.ACCEPT, pin=False, text="")
        case FirstSeen(fingerprint) if trust_new:
            notice = (
                f"Trusting {_display(host, port)} on first use (--trust-new); "
                f"certificate SHA-256 {fingerprint}"
            )
            return Decision(action=Action.ACCEPT, pin=True, text=notice)
        case FirstSeen(fingerprint):
            return Decision(
                action=Action.ASK,
                pin=False,
                text=first_use_question(host, port, fingerprint),
            )
        case Changed(old, new):
            return Decision(
                action=Action.REFUSE,
                pin=False,
                text=changed_warning(host, port, old, new, program=program),
            )


def first_use_question(host: str, port: int, fingerprint: str) -> str:
    """The question asked the first time a client meets a self-signed server."""
    return (
        f"The server {_display(host, port)} is not known yet, and its certificate is "
        "not signed by an authority this computer trusts.\n"
        "Its certificate fingerprint (SHA-256) is:\n"
        f"  {fingerprint}\n"
        "Compare it with the fingerprint the server's operator gave you (the server "
        "prints it when it starts).\n"
        "Trust this server and remember its certificate?"
    )


def changed_warning(
    host: str, port: int, old: str, new: str, *, program: str = DEFAULT_PROGRAM
) -> str:
    """The warning shown, before refusing, when a pinned certificate changed."""
    where = _display(host, port)
    return (
        f"WARNING: THE CERTIFICATE OF {where} HAS CHANGED!\n"
        "Someone could be intercepting this connection (a man-in-the-middle attack), "
        "or the server's operator replaced its certificate.\n"
        f"Pinned fingerprint (SHA-256):  {old}\n"
        f"Offered fingerprint (SHA-256): {new}\n"
        "The connection was refused and nothing was sent.\n"
        "Ask the operator for the new fingerprint by some other way. Only if it "
        "matches, forget the old certificate:\n"
        f"  {forget_command(host, port, program=program)}\n"
        "then connect again; you will be asked about the new certificate."
    )


def forget_command(host: str, port: int, *, program: str = DEFAULT_PROGRAM) -> str:
    """The command that removes a pin, e.g. `chinwag-tui --forget-host [::1]:9090`."""
    return f"{program} {FORGET_OPTION} {_display(host, port)}"


def accepts(answer: str, fingerprint: str) -> bool:
    """True if the answer to `first_use_question` is yes.

    `yes`/`y` (any case), or the fingerprint itself pasted back, as OpenSSH
    allows; anything else is no.
    """
    reply = answer.strip()
    if reply.lower() in {"yes", "y"}:
        return True
    try:
        return normalize_fingerprint(reply) == normalize_fingerprint(fingerprint)
    except ValueError:
        return False


def _display(host: str, port: int) -> str:
    """`host:port`, with brackets around an IPv6 address."""
    name = host.strip().strip("[]")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"
