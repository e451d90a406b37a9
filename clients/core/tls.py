"""Client-side TLS as bytes in, bytes out: an `ssl.SSLObject` over memory BIOs.

The transport's reader and writer threads share one TLS connection; OpenSSL
forbids using one SSL object from two threads at once, so the transport
locks around this object and moves the bytes itself. No sockets here.

Two contexts: `verifying_context` accepts only a certificate that chains to
the system's CAs and names the host; `pinning_context` accepts any
certificate so its fingerprint can be compared with the one the user
trusted (trust on first use, `clients.core.trust`).
"""

from __future__ import annotations

import ssl

import attrs

from clients.core.trust import fingerprint_of


class TlsError(Exception):
    """The TLS layer failed: a bad record, an alert, or a refused certificate."""


@attrs.frozen
class TlsInfo:
    """What a finished handshake tells about the server.

    Attributes:
        fingerprint: SHA-256 of the server's certificate (DER), as
            colon-separated upper-case hex (what `openssl x509 -fingerprint
            -sha256` prints).
        verified: the certificate chains to a system CA and names the host.
        version: the TLS version agreed, e.g. "TLSv1.3".
    """

    fingerprint: str
    verified: bool
    version: str


def verifying_context() -> ssl.SSLContext:
    """System CAs, host name checked, TLS 1.2 or newer."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinning_context() -> ssl.SSLContext:
    """Any certificate: the caller compares its fingerprint with a pin."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False  # must precede CERT_NONE
    context.verify_mode = ssl.CERT_NONE
    return context


class TlsClient:
    """One client TLS connection, without I/O.

    Args:
        context: `verifying_context()` or `pinning_context()`.
        host: the server's name, for SNI and (when verifying) the name check.
    """

    def __init__(self, context: ssl.SSLContext, host: str) -> None:
        self.verifying = context.verify_mode is not ssl.CERT_NONE
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=host
        )
        self.handshake_done = False

    def handshake(self) -> bool:
        """Advance the handshake; True once it is complete.

        Send `pending()` after each call and `feed` what the server answers.

        Raises:
            ssl.SSLCertVerificationError: the certificate failed verification.
            TlsError: any other TLS failure.
        """
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            return False
        except ssl.SSLCertVerificationError:
            raise
        except ssl.SSLError as exc:
            raise TlsError(_describe(exc)) from exc
        self.handshake_done = True
        return True

    def receive(self, data: bytes) -> None:
        """Ciphertext from the server during the handshake."""
        self._incoming.write(data)

    def info(self) -> TlsInfo:
        der = self._tls.getpeercert(binary_form=True)
        if der is None:
            msg = "the server sent no certificate"
            raise TlsError(msg)
        return TlsInfo(
            fingerprint_of(der), self.verifying, self._tls.version() or "unknown"
        )

    def feed(self, data: bytes) -> bytes:
        """Ciphertext from the server in, the plaintext it completes out.

        Raises:
            TlsError: a bad record or an alert from the server.
        """
        if data:
            self._incoming.write(data)
        chunks = []
        while True:
            try:
                chunk = self._tls.read(65536)
            except (ssl.SSLWantReadError, ssl.SSLZeroReturnError):
                break
            except ssl.SSLError as exc:
                raise TlsError(_describe(exc)) from exc
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def encrypt(self, data: bytes) -> bytes:
        """Plaintext in, the ciphertext to send out."""
        try:
            self._tls.write(data)
        except ssl.SSLError as exc:
            raise TlsError(_describe(exc)) from exc
        return self.pending()

    def pending(self) -> bytes:
        """Ciphertext waiting to be sent (handshake, tickets, alerts)."""
        return self._outgoing.read()

    def close(self) -> bytes:
        """Say close_notify; returns the bytes to send (best effort)."""
        try:
            self._tls.unwrap()
        except ssl.SSLError:
            pass
        return self.pending()


def _describe(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None) or exc.__class__.__name__
    return str(reason).lower().replace("_", " ")
