"""TLS for the server: the self-signed certificate, contexts, and a sans-socket engine.

Only the server imports this module. It owns certificate files and `ssl`
contexts; it never opens sockets, so the selector loop stays the only place
that does I/O (`TlsEngine` is TLS as a bytes-in/bytes-out layer).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, NoReturn

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server import memory

log = logging.getLogger(__name__)

CERT_FILE_NAME = "cert.pem"
KEY_FILE_NAME = "key.pem"
TLS_DIR_NAME = "tls"
"""The self-signed pair lives in `<data dir>/tls/{cert,key}.pem`."""

SELF_SIGNED_DAYS = 3650
"""Validity of the self-signed certificate.

Clients pin its fingerprint, so a new certificate means every user sees the
changed-certificate warning: make it last. (The 398-day limit applies to
certificates from public CAs, which clients check differently.)
"""

BACKDATE = datetime.timedelta(hours=1)
"""`not_valid_before` is set this far back so a client whose clock is a little
behind does not reject a certificate made a moment ago."""

READ_CHUNK = 16384
"""Bytes asked of `SSLObject.read` at a time: one TLS record's worth."""

BIO_PIECE = 4096
"""Most bytes put in a `MemoryBIO` at a time, plaintext to seal or ciphertext in.

An OpenSSL memory BIO never shrinks its buffer: one 64 KiB burst (a history
replay, a big paste) would stay allocated, a third larger, for the rest of
the connection (measured: 139 KB per end after a 65 KB burst). Fed in
pieces and emptied between them, each BIO stays under about 5.5 KB. Chat
frames are smaller than a piece, so they take the single-piece path.
"""

FirstByte = Literal["tls", "plain", "unknown"]
TLS_HANDSHAKE_RECORD = 0x16
"""First byte of a TLS record carrying a handshake message (the ClientHello)."""
PLAIN_FRAME_FIRST_BYTE = 0x00
"""First byte of a plain Chinwag frame: a big-endian u32 length ≤ 64 KiB."""


class TlsError(Exception):
    """Base of this module's errors; the message is meant for an operator's log."""


class TlsConfigError(TlsError):
    """A certificate or key file is missing, unreadable, mismatched or invalid."""


class TlsProtocolError(TlsError):
    """The peer sent bytes that are not acceptable TLS (or the handshake failed).

    The only exception `TlsEngine` raises. The connection is finished: send
    what `TlsEngine.outgoing()` still holds (an alert), then close it.
    """


@attrs.frozen(kw_only=True)
class CertPaths:
    """Where the certificate and key are, and what a client will see.

    Attributes:
        cert_file: PEM certificate (for a real CA: the full chain, leaf first).
        key_file: PEM private key, readable only by the owner.
        fingerprint: SHA-256 of the leaf, as `fingerprint()` formats it; the
            server prints it at start so users can compare on first use.
        created: True if this call generated the pair (first run).
        missing_names: requested names the (reused) certificate does not
            cover; the caller should log them, since regenerating would change
            the fingerprint every client has pinned.
        not_valid_after: when the leaf expires (UTC).
    """

    cert_file: Path
    key_file: Path
    fingerprint: str
    created: bool
    missing_names: tuple[str, ...] = ()
    not_valid_after: datetime.datetime


def fingerprint(cert: x509.Certificate | bytes) -> str:
    """SHA-256 of a certificate as `AB:CD:…` (95 characters), as openssl prints it.

    Args:
        cert: a parsed certificate, or its DER bytes (what
            `SSLSocket.getpeercert(binary_form=True)` returns).
    """
    der = (
        cert.public_bytes(serialization.Encoding.DER)
        if isinstance(cert, x509.Certificate)
        else cert
    )
    return ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def fingerprint_file(cert_file: Path) -> str:
    """The fingerprint of the first (leaf) certificate in a PEM file.

    Raises:
        TlsConfigError: the file is missing or holds no certificate.
    """
    return fingerprint(_load_leaf(cert_file))


def default_certificate_names(extra: Iterable[str] = ()) -> list[str]:
    """The names a self-signed certificate should carry: this host, loopback, `extra`.

    `extra` is what the operator passed with `--tls-name` (the public DNS
    name or address clients type). Duplicates are dropped, order kept; a
    machine name that is not a valid DNS name is left out.
    """
    names = ["localhost", "127.0.0.1", "::1", *extra]
    host = socket.gethostname().strip()
    try:
        _general_name(host)
    except TlsConfigError:
        log.info(
            "leaving the host name %r out of the certificate: not a DNS name", host
        )
    else:
        names.insert(0, host)
    return list(dict.fromkeys(name.strip() for name in names if name.strip()))


def ensure_certificate(
    data_dir: Path,
    names: Sequence[str],
    *,
    now: datetime.datetime | None = None,
) -> CertPaths:
    """Return the server's self-signed certificate, creating it on first use.

    Used only when the operator configured no certificate. The pair is
    reused on later runs so that its fingerprint, which clients pin, stays
    the same; it is replaced only once it has expired (a client that checks
    dates would refuse it anyway). A key left without a certificate (a crash
    between the two writes) gets a new certificate: nothing was ever served
    with it.

    Args:
        data_dir: the server's data directory; the pair goes in `tls/` there.
        names: DNS names and IP addresses for the SubjectAltName extension;
            the first is also the subject's common name.
        now: the current time (tests); defaults to the system clock.

    Raises:
        TlsConfigError: a name is invalid, the files are unreadable, or a
            certificate exists without its key (not overwritten: it may be
            pinned by clients; the message says what to remove).
    """
    if not names:
        raise TlsConfigError("a certificate needs at least one name")
    general_names = [_general_name(name) for name in names]
    moment = now or datetime.datetime.now(datetime.UTC)
    directory = data_dir / TLS_DIR_NAME
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_file = directory / CERT_FILE_NAME
    key_file = directory / KEY_FILE_NAME

    if cert_file.exists() and not key_file.exists():
        raise TlsConfigError(
            f"{cert_file} exists but its key {key_file} is missing; restore the key, "
            f"or delete {cert_file} to make a new certificate (clients will then see "
            "a changed fingerprint)"
        )
    key: ec.EllipticCurvePrivateKey | None = None
    if key_file.exists():
        key = _load_key(key_file)
        _warn_if_exposed(key_file)
    if key is not None and cert_file.exists():
        cert = _load_leaf(cert_file)
        if cert.public_key() != key.public_key():
            raise TlsConfigError(
                f"{cert_file} does not belong to the key {key_file}; delete both to "
                "make a new pair"
            )
        if cert.not_valid_after_utc > moment:
            return CertPaths(
                cert_file=cert_file,
                key_file=key_file,
                fingerprint=fingerprint(cert),
                created=False,
                missing_names=_missing_names(cert, names, general_names),
                not_valid_after=cert.not_valid_after_utc,
            )
        log.warning(
            "the self-signed certificate %s expired on %s; making a new one "
            "(clients will see a changed fingerprint)",
            cert_file,
            cert.not_valid_after_utc.isoformat(),
        )
    if key is None:
        key = ec.generate_private_key(ec.SECP256R1())
        _write_atomic(
            key_file,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            mode=0o600,
        )
    cert = _self_signed(key, names[0], general_names, moment)
    _write_atomic(cert_file, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    log.info("made a self-signed certificate %s for %s", cert_file, ", ".join(names))
    return CertPaths(
        cert_file=cert_file,
        key_file=key_file,
        fingerprint=fingerprint(cert),
        created=True,
        not_valid_after=cert.not_valid_after_utc,
    )


def server_context(cert_file: Path, key_file: Path) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or later, this certificate chain and key.

    Works alike for the self-signed pair and a CA-issued one (for example
    Let's Encrypt's `fullchain.pem` and `privkey.pem`).

    Raises:
        TlsConfigError: a file is missing or unreadable, the key is encrypted,
            or the key does not match the certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # TLS 1.2 renegotiation lets a client make the server redo the costly
    # handshake at will; nothing needs it.
    context.options |= ssl.OP_NO_RENEGOTIATION
    # No TLS 1.3 session tickets: our clients never resume a session (they
    # pass no `session=`), so the two tickets OpenSSL sends by default were
    # 510 bytes and ~10% of the server's handshake CPU for nothing. (Not
    # `OP_NO_TICKET`: that would make OpenSSL keep stateful sessions.)
    context.num_tickets = 0
    try:
        # A password callback: without one, OpenSSL would prompt on the
        # terminal for an encrypted key and block the server (or a SIGHUP).
        context.load_cert_chain(cert_file, key_file, password=_no_password)
    except _EncryptedKey as error:
        raise TlsConfigError(
            f"the key {key_file} is encrypted; give the server an unencrypted key "
            "readable only by its user"
        ) from error
    except FileNotFoundError as error:
        # `ssl` does not say which of the two files is missing.
        missing = cert_file if not cert_file.exists() else key_file
        raise TlsConfigError(f"cannot load {missing}: no such file") from error
    except (OSError, ssl.SSLError) as error:
        raise TlsConfigError(
            f"cannot load the certificate {cert_file} with the key {key_file}: "
            f"{_describe(error)}"
        ) from error
    return context


@attrs.frozen
class Reloaded:
    """`ReloadableContext.reload` loaded the files; new connections use them."""

    fingerprint: str
    changed: bool
    """False if the files held the same certificate as before."""


@attrs.frozen
class ReloadFailed:
    """The files could not be loaded; the previous context stays in use."""

    reason: str


class ReloadableContext:
    """The current server context, replaced by `reload()` when certificates renew.

    A certificate from a CA is renewed on disk every few weeks (certbot and
    friends) and the server is told with SIGHUP. `reload()` builds a whole
    new context first and swaps it in only if that worked, so a half-written
    or wrong file never takes TLS down. Connections already open keep the
    context they started with; new ones pick up `context` at accept time.
    Safe to use from several threads.

    Raises:
        TlsConfigError: (constructor) the files cannot be loaded at start,
            where failing loudly is right.
    """

    def __init__(self, cert_file: Path, key_file: Path) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._lock = threading.Lock()
        self._context = server_context(cert_file, key_file)
        self._fingerprint = fingerprint_file(cert_file)

    @property
    def context(self) -> ssl.SSLContext:
        """The context to wrap each new connection with."""
        return self._context

    @property
    def fingerprint(self) -> str:
        """SHA-256 fingerprint of the leaf certificate now in use."""
        return self._fingerprint

    def reload(self) -> Reloaded | ReloadFailed:
        """Re-read both files; on any failure keep the current context."""
        with self._lock:
            try:
                context = server_context(self.cert_file, self.key_file)
                new_fingerprint = fingerprint_file(self.cert_file)
            except TlsConfigError as error:
                log.warning("TLS reload failed, keeping the old certificate: %s", error)
                return ReloadFailed(str(error))
            changed = new_fingerprint != self._fingerprint
            self._context = context
            self._fingerprint = new_fingerprint
        log.info("TLS reloaded; certificate %s", new_fingerprint)
        return Reloaded(new_fingerprint, changed)


def classify_first_byte(first: int) -> FirstByte:
    """Tell a TLS client from a plain one by the first byte it sends.

    A ClientHello starts with the TLS record type 0x16 (handshake). A plain
    Chinwag frame starts with its big-endian u32 length, whose top byte is
    0x00 since frames are at most 64 KiB. Anything else (an HTTP request, a
    port scanner) is "unknown" and the connection should be closed.
    """
    if first == TLS_HANDSHAKE_RECORD:
        return "tls"
    if first == PLAIN_FRAME_FIRST_BYTE:
        return "plain"
    return "unknown"


class TlsEngine:
    """TLS with no socket: ciphertext in, plaintext out, and back.

    Wraps `SSLContext.wrap_bio` over two `ssl.MemoryBIO`, as asyncio and
    trio do, so a selector-driven server adds TLS as one more layer instead
    of a second code path full of `SSLWantReadError`. Not thread-safe: one
    connection's bytes are handled by one thread at a time.

    The contract, for a caller with a socket:

    - bytes from the socket go to `receive()`, which returns the plaintext
      now available (often `b""`, e.g. mid-handshake or for half a record);
    - after every `receive()`, send `outgoing()` to the socket (handshake
      replies, session tickets, alerts);
    - `send(plaintext)` returns the ciphertext to write. Plaintext sent
      before the handshake finishes is held (unbounded: the caller's
      outbox limit applies) and released by the `receive()` that finishes it;
    - an incomplete handshake just waits: timing out is the caller's job;
    - any bad input raises `TlsProtocolError`; flush `outgoing()` once more
      (it may hold an alert telling the peer why), then close.

    Memory: about 17 KB of OpenSSL heap per connection once the handshake
    is done (the `SSL` object ~14 KB, its two BIOs ~2.6 KB; this object and
    `ssl`'s wrappers add ~0.6 KB). Bursts go through the BIOs in `BIO_PIECE`s
    so they stay that small, and the end of each handshake is told to
    `server.memory`, which gives back the heap the handshake freed.

    Args:
        context: a server context (`server_context`) or, with
            `server_side=False`, a client one.
        server_side: which end of the handshake this is.
        server_hostname: the name to send (SNI) and check, client side only.
    """

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        server_side: bool = True,
        server_hostname: str | None = None,
    ) -> None:
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming,
            self._outgoing,
            server_side=server_side,
            server_hostname=server_hostname,
        )
        # Plaintext sent before the handshake finished; None after it.
        self._held: bytearray | None = bytearray()
        # Records taken out of `_outgoing` between pieces, oldest first; the
        # BIO's content always goes after them.
        self._sealed: list[bytes] = []
        self._handshake_done = False
        self._peer_closed = False
        self._closing = False
        self._failure: str | None = None

    @property
    def handshake_done(self) -> bool:
        """True once the handshake has completed; plaintext flows from then on."""
        return self._handshake_done

    @property
    def peer_closed(self) -> bool:
        """True once the peer sent close_notify: no more plaintext will come."""
        return self._peer_closed

    @property
    def failure(self) -> str | None:
        """Why the engine failed, or None while it is usable."""
        return self._failure

    @property
    def version(self) -> str | None:
        """The negotiated protocol, such as `TLSv1.3`, once the handshake is done."""
        return self._tls.version() if self._handshake_done else None

    @property
    def cipher(self) -> str | None:
        """The negotiated cipher suite's name, once the handshake is done."""
        found = self._tls.cipher() if self._handshake_done else None
        return found[0] if found else None

    def peer_certificate(self) -> bytes | None:
        """The peer's certificate as DER (client side: the server's), if any."""
        if not self._handshake_done:
            return None
        return self._tls.getpeercert(binary_form=True)

    def receive(self, data: bytes) -> bytes:
        """Feed ciphertext from the peer; return the plaintext it completes.

        Raises:
            TlsProtocolError: the bytes are not acceptable TLS, the handshake
                failed, or the engine had already failed.
        """
        self._check_usable()
        if len(data) <= BIO_PIECE:
            if data:
                self._incoming.write(data)
            return self._advance()
        plain: list[bytes] = []
        view = memoryview(data)
        for start in range(0, len(view), BIO_PIECE):
            self._incoming.write(view[start : start + BIO_PIECE])
            plain.append(self._advance())
        return b"".join(plain)

    def _advance(self) -> bytes:
        """Go on with the handshake, then read what plaintext is complete."""
        if not self._handshake_done:
            try:
                self._tls.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return b""
            except (ssl.SSLError, ValueError) as error:
                self._fail(error)
            self._handshake_done = True
            memory.note_freed()
            held, self._held = self._held, None
            if held:
                self._write(bytes(held))
        return self._read_available()

    def send(self, plaintext: bytes) -> bytes:
        """Encrypt `plaintext`; return every ciphertext byte now ready to go out.

        Raises:
            TlsProtocolError: the engine has failed or is closing.
        """
        self._check_usable()
        if self._closing:
            raise TlsProtocolError("cannot send: this TLS connection is closing")
        if self._held is not None:
            self._held += plaintext
        elif plaintext:
            self._write(plaintext)
        return self.outgoing()

    def outgoing(self) -> bytes:
        """Take the ciphertext waiting to be written to the socket (maybe `b""`)."""
        if not self._sealed:
            return self._outgoing.read()
        self._sealed.append(self._outgoing.read())
        sealed = b"".join(self._sealed)
        self._sealed.clear()
        return sealed

    def close(self) -> bytes:
        """Start a clean close (close_notify); return the bytes to send.

        Safe to call in any state; it never raises.
        """
        if self._handshake_done and self._failure is None and not self._closing:
            self._closing = True
            try:
                self._tls.unwrap()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass  # the peer's close_notify has not come yet: no need to wait
            except (ssl.SSLError, ValueError) as error:
                log.debug("TLS close: %s", _describe(error))
        return self.outgoing()

    def _write(self, plaintext: bytes) -> None:
        view = memoryview(plaintext)
        while view:
            try:
                written = self._tls.write(view[:BIO_PIECE])
            except (ssl.SSLError, ValueError) as error:
                self._fail(error)
            view = view[written:]
            if view:  # more to seal: empty the BIO first (see BIO_PIECE)
                self._sealed.append(self._outgoing.read())

    def _read_available(self) -> bytes:
        chunks: list[bytes] = []
        while not self._peer_closed:
            try:
                chunk = self._tls.read(READ_CHUNK)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                break
            except ssl.SSLZeroReturnError:
                self._peer_closed = True
                break
            except (ssl.SSLError, ValueError) as error:
                self._fail(error)
            if not chunk:  # `SSLObject.read` returns b"" after close_notify
                self._peer_closed = True
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise TlsProtocolError(
                f"the TLS connection failed earlier: {self._failure}"
            )

    def _fail(self, error: Exception) -> NoReturn:
        stage = "TLS data" if self._handshake_done else "TLS handshake"
        self._failure = f"{stage} failed: {_describe(error)}"
        raise TlsProtocolError(self._failure) from error


# --- helpers ---------------------------------------------------------------

_REASONS = {
    "WRONG_VERSION_NUMBER": "not TLS, or a TLS version this server does not speak",
    "HTTP_REQUEST": "the client sent a plain HTTP request to the TLS port",
    "UNSUPPORTED_PROTOCOL": "the client offered only TLS versions older than 1.2",
    "NO_SHARED_CIPHER": "no cipher suite in common with the client",
    "TLSV1_ALERT_UNKNOWN_CA": "the client does not trust this certificate",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the client rejected this certificate",
    "RECORD_LAYER_FAILURE": "the TLS records are malformed",
}


def _describe(error: BaseException) -> str:
    """A short human sentence for an `ssl`/OS error, without a traceback."""
    if isinstance(error, ssl.SSLError) and error.reason:
        known = _REASONS.get(error.reason)
        text = error.reason.replace("_", " ").lower()
        return f"{known} ({text})" if known else text
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


class _EncryptedKey(Exception):
    """Raised from the password callback to stop OpenSSL prompting on a tty."""


def _no_password() -> str:
    raise _EncryptedKey


def _general_name(name: str) -> x509.GeneralName:
    """An IPAddress SAN for an address, a DNSName (IDNA A-label) otherwise."""
    text = name.strip()
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip("[]")))
    except ValueError:
        pass
    try:
        ascii_name = text.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise TlsConfigError(f"{name!r} is not a valid host name") from error
    labels = ascii_name.split(".")
    valid = (
        0 < len(ascii_name) <= 253
        and all(0 < len(label) <= 63 for label in labels)
        and all(
            (label == "*" and index == 0)
            or all(char.isalnum() or char in "-_" for char in label)
            for index, label in enumerate(labels)
        )
    )
    if not valid:
        raise TlsConfigError(f"{name!r} is not a valid host name or IP address")
    return x509.DNSName(ascii_name)


def _self_signed(
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    names: list[x509.GeneralName],
    now: datetime.datetime,
) -> x509.Certificate:
    """A leaf certificate that passes `VERIFY_X509_STRICT` as its own trust anchor."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, "Chinwag server (self-signed)"
            ),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(list(dict.fromkeys(names))), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def _missing_names(
    cert: x509.Certificate, names: Sequence[str], wanted: list[x509.GeneralName]
) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return tuple(names)
    present = set(san.value)
    return tuple(
        name
        for name, general in zip(names, wanted, strict=True)
        if general not in present
    )


def _load_leaf(cert_file: Path) -> x509.Certificate:
    try:
        certificates = x509.load_pem_x509_certificates(cert_file.read_bytes())
    except OSError as error:
        raise TlsConfigError(f"cannot read {cert_file}: {_describe(error)}") from error
    except ValueError as error:
        raise TlsConfigError(f"{cert_file} holds no PEM certificate") from error
    return certificates[0]


def _load_key(key_file: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except OSError as error:
        raise TlsConfigError(f"cannot read {key_file}: {_describe(error)}") from error
    except (ValueError, TypeError) as error:
        raise TlsConfigError(
            f"{key_file} is not an unencrypted PEM private key; delete it (and "
            f"{key_file.with_name(CERT_FILE_NAME)}) to make a new pair"
        ) from error
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsConfigError(f"{key_file} is not the ECDSA key this server made")
    return key


def _warn_if_exposed(key_file: Path) -> None:
    if os.name == "posix" and key_file.stat().st_mode & 0o077:
        log.warning(
            "%s can be read by other users; run: chmod 600 %s", key_file, key_file
        )


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write `path` so a reader (or a crash) sees the old file or the new, whole.

    The temporary file is created with `mode` from the start, so a private
    key is never readable by others, not even for a moment.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # left by a crash of a process with our pid
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if os.name == "posix":
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
