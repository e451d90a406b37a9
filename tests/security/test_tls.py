"""server/tls.py without the network: certificates, contexts, the first byte, and
the engine driven by an in-memory client."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import ssl
import stat
import subprocess
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

import protocol as p
from server.tls import (
    CertPaths,
    ReloadableContext,
    Reloaded,
    ReloadFailed,
    TlsConfigError,
    TlsEngine,
    TlsProtocolError,
    classify_first_byte,
    default_certificate_names,
    ensure_certificate,
    fingerprint,
    fingerprint_file,
    server_context,
)

NAMES = ["chat.example.org", "localhost", "127.0.0.1", "::1"]


@pytest.fixture(name="pair")
def _pair(tmp_path: Path) -> CertPaths:
    return ensure_certificate(tmp_path, NAMES)


def _cert(paths: CertPaths) -> x509.Certificate:
    return x509.load_pem_x509_certificate(paths.cert_file.read_bytes())


def pinned_client_context(paths: CertPaths) -> ssl.SSLContext:
    """A client that trusts exactly this certificate, with strict X.509 checks."""
    context = ssl.create_default_context(cadata=paths.cert_file.read_text())
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


def handshake_in_memory(server: TlsEngine, client: TlsEngine) -> None:
    client.receive(b"")  # makes the ClientHello
    for _ in range(10):
        server.receive(client.outgoing())
        client.receive(server.outgoing())
        if server.handshake_done and client.handshake_done:
            return
    msg = "handshake did not finish in 10 round trips"
    raise AssertionError(msg)


# --- the self-signed certificate ----------------------------------------------


def test_new_certificate_has_what_strict_clients_require(pair):
    cert = _cert(pair)
    assert pair.created
    assert cert.signature_hash_algorithm is not None
    assert cert.signature_hash_algorithm.name == "sha256"
    assert cert.public_key().curve.name == "secp256r1"
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["chat.example.org", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical
    assert basic.value.ca is False
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    cert.verify_directly_issued_by(cert)  # self-signed, signature valid
    assert pair.not_valid_after == cert.not_valid_after_utc
    assert cert.not_valid_before_utc < datetime.datetime.now(datetime.UTC)


def test_key_is_private_and_the_directory_too(pair):
    assert stat.S_IMODE(pair.key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(pair.key_file.parent.stat().st_mode) == 0o700
    key = serialization.load_pem_private_key(pair.key_file.read_bytes(), password=None)
    assert key.public_key() == _cert(pair).public_key()
    assert not list(pair.key_file.parent.glob(".*.tmp"))


def test_fingerprint_is_sha256_of_der_in_openssl_format(pair):
    cert = _cert(pair)
    expected = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert pair.fingerprint.replace(":", "") == expected
    assert len(pair.fingerprint) == 95
    assert (
        fingerprint(cert.public_bytes(serialization.Encoding.DER)) == pair.fingerprint
    )
    assert fingerprint_file(pair.cert_file) == pair.fingerprint


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_fingerprint_matches_what_openssl_prints(pair):
    shown = subprocess.run(
        ["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", pair.cert_file],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip().split("=", 1)[1] == pair.fingerprint


def test_the_pair_is_reused_on_later_runs(tmp_path, pair):
    again = ensure_certificate(tmp_path, NAMES)
    assert not again.created
    assert again.fingerprint == pair.fingerprint
    assert again.missing_names == ()


def test_a_name_the_old_certificate_lacks_is_reported_not_regenerated(tmp_path, pair):
    again = ensure_certificate(tmp_path, [*NAMES, "new.example.org", "192.0.2.7"])
    assert again.fingerprint == pair.fingerprint
    assert again.missing_names == ("new.example.org", "192.0.2.7")


def test_an_expired_certificate_is_replaced(tmp_path, pair):
    later = pair.not_valid_after + datetime.timedelta(days=1)
    renewed = ensure_certificate(tmp_path, NAMES, now=later)
    assert renewed.created
    assert renewed.fingerprint != pair.fingerprint
    assert _cert(renewed).not_valid_after_utc > later


def test_a_key_left_without_its_certificate_gets_one(tmp_path, pair):
    key_before = pair.key_file.read_bytes()
    pair.cert_file.unlink()
    again = ensure_certificate(tmp_path, NAMES)
    assert again.created
    assert pair.key_file.read_bytes() == key_before


def test_a_certificate_without_its_key_is_not_overwritten(tmp_path, pair):
    cert_before = pair.cert_file.read_bytes()
    pair.key_file.unlink()
    with pytest.raises(TlsConfigError, match=r"key .* is missing"):
        ensure_certificate(tmp_path, NAMES)
    assert pair.cert_file.read_bytes() == cert_before


def test_a_corrupt_key_is_a_clear_error(tmp_path, pair):
    pair.key_file.write_text("not a key")
    with pytest.raises(TlsConfigError, match="not an unencrypted PEM private key"):
        ensure_certificate(tmp_path, NAMES)


@pytest.mark.parametrize("name", ["bad name", "", "a..b", "x" * 64 + ".org", "-\n-"])
def test_invalid_names_are_refused(tmp_path, name):
    with pytest.raises(TlsConfigError):
        ensure_certificate(tmp_path, [name])


def test_international_names_become_a_labels(tmp_path):
    paths = ensure_certificate(tmp_path, ["bücher.example", "[::1]"])
    san = _cert(paths).extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["xn--bcher-kva.example"]
    assert san.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("::1")
    ]


def test_default_names_cover_loopback_and_extras(tmp_path):
    names = default_certificate_names(["chat.example.org", "localhost"])
    assert names[-4:-1] == ["localhost", "127.0.0.1", "::1"]
    assert names[-1] == "chat.example.org"
    assert names.count("localhost") == 1
    ensure_certificate(tmp_path, names)  # every default name is usable


# --- contexts -------------------------------------------------------------------


def test_server_context_is_tls12_or_later(pair):
    context = server_context(pair.cert_file, pair.key_file)
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_RENEGOTIATION


def test_missing_files_are_named(tmp_path, pair):
    with pytest.raises(TlsConfigError, match=r"nope\.pem"):
        server_context(tmp_path / "nope.pem", pair.key_file)


def test_a_key_of_another_certificate_is_refused(tmp_path, pair):
    other = ensure_certificate(tmp_path / "other", ["localhost"])
    with pytest.raises(TlsConfigError, match="cannot load the certificate"):
        server_context(pair.cert_file, other.key_file)


def test_an_encrypted_key_is_refused_without_prompting(tmp_path, pair):
    key = serialization.load_pem_private_key(pair.key_file.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret passphrase"),
        )
    )
    with pytest.raises(TlsConfigError, match="is encrypted"):
        server_context(pair.cert_file, encrypted)


def _trustme_pair(tmp_path: Path, name: str) -> tuple[trustme.CA, Path, Path]:
    """A CA-issued pair laid out like Let's Encrypt's fullchain.pem and privkey.pem."""
    ca = trustme.CA()
    intermediate = ca.create_child_ca()
    leaf = intermediate.issue_cert("localhost", "127.0.0.1")
    directory = tmp_path / name
    directory.mkdir()
    chain = directory / "fullchain.pem"
    key = directory / "privkey.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    return ca, chain, key


def test_reload_swaps_in_renewed_files_and_keeps_the_old_on_failure(tmp_path):
    _, chain, key = _trustme_pair(tmp_path, "first")
    holder = ReloadableContext(chain, key)
    first_context, first_print = holder.context, holder.fingerprint
    assert first_print == fingerprint_file(chain)

    same = holder.reload()
    assert same == Reloaded(first_print, changed=False)

    _, new_chain, new_key = _trustme_pair(tmp_path, "renewed")
    chain.write_bytes(new_chain.read_bytes())
    key.write_bytes(new_key.read_bytes())
    renewed = holder.reload()
    assert isinstance(renewed, Reloaded)
    assert renewed.changed
    assert holder.fingerprint == renewed.fingerprint != first_print
    assert holder.context is not first_context

    good_context = holder.context
    key.write_text("half-written by a renewal tool")
    failed = holder.reload()
    assert isinstance(failed, ReloadFailed)
    assert str(key) in failed.reason
    assert holder.context is good_context
    assert holder.fingerprint == renewed.fingerprint


def test_a_reloadable_context_fails_loudly_at_start(tmp_path):
    with pytest.raises(TlsConfigError):
        ReloadableContext(tmp_path / "missing.pem", tmp_path / "missing-key.pem")


# --- the first byte ----------------------------------------------------------------


def test_first_bytes_of_real_traffic(pair):
    client = TlsEngine(pinned_client_context(pair), server_side=False)
    client.receive(b"")
    hello = client.outgoing()
    frame = p.encode_frame(p.Hello(version=2, client_name="t", nick="bob"))
    assert classify_first_byte(hello[0]) == "tls"
    assert classify_first_byte(frame[0]) == "plain"
    assert classify_first_byte(b"GET / HTTP/1.1"[0]) == "unknown"


@pytest.mark.parametrize(
    ("byte", "kind"),
    [(0x16, "tls"), (0x00, "plain"), (0x15, "unknown"), (0xFF, "unknown")],
)
def test_classify_first_byte(byte, kind):
    assert classify_first_byte(byte) == kind


# --- the engine, both ends in memory -----------------------------------------------


def test_engine_handshake_and_data_both_ways(pair):
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(
        pinned_client_context(pair),
        server_side=False,
        server_hostname="chat.example.org",
    )
    assert not server.handshake_done
    assert server.version is None
    handshake_in_memory(server, client)
    assert server.version in {"TLSv1.2", "TLSv1.3"}
    assert server.cipher
    assert fingerprint(client.peer_certificate() or b"") == pair.fingerprint
    assert server.receive(client.send(b"hello " * 5000)) == b"hello " * 5000
    assert client.receive(server.send(b"welcome")) == b"welcome"


def test_engine_holds_plaintext_sent_before_the_handshake(pair):
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(
        pinned_client_context(pair), server_side=False, server_hostname="localhost"
    )
    assert server.send(b"early") == b""
    client.receive(b"")
    server.receive(client.outgoing())  # ServerHello...: handshake not finished yet
    client.receive(server.outgoing())
    server.receive(client.outgoing())  # client Finished: the held bytes go out now
    assert server.handshake_done
    assert client.receive(server.outgoing()) == b"early"


def test_engine_close_notify_reaches_the_peer(pair):
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(
        pinned_client_context(pair), server_side=False, server_hostname="localhost"
    )
    handshake_in_memory(server, client)
    assert client.receive(server.close()) == b""
    assert client.peer_closed
    with pytest.raises(TlsProtocolError, match="closing"):
        server.send(b"too late")
    assert server.close() == b""  # twice is harmless


@pytest.mark.parametrize(
    ("garbage", "said"),
    [
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "plain HTTP"),
        (b"\x16\x03\x01\x00\x05hello", "handshake failed"),
        (bytes(range(256)) * 4, "handshake failed"),
    ],
)
def test_engine_garbage_is_one_clean_error_and_stays_failed(pair, garbage, said):
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    with pytest.raises(TlsProtocolError, match=said):
        server.receive(garbage)
    assert server.failure is not None
    server.outgoing()  # may hold an alert; never raises
    with pytest.raises(TlsProtocolError, match="failed earlier"):
        server.receive(b"more")
    with pytest.raises(TlsProtocolError, match="failed earlier"):
        server.send(b"reply")
    server.close()  # still safe


def test_engine_garbage_after_the_handshake(pair):
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(
        pinned_client_context(pair), server_side=False, server_hostname="localhost"
    )
    handshake_in_memory(server, client)
    record = bytearray(client.send(b"a message"))
    record[-3] ^= 0xFF  # tampered ciphertext fails authentication
    with pytest.raises(TlsProtocolError, match="TLS data failed"):
        server.receive(bytes(record))


def test_a_client_that_rejects_the_certificate_fails_the_server_handshake(pair):
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    trustme.CA().configure_trust(stranger)  # trusts some other CA only
    server = TlsEngine(server_context(pair.cert_file, pair.key_file))
    client = TlsEngine(stranger, server_side=False, server_hostname="localhost")
    client.receive(b"")
    server.receive(client.outgoing())
    with pytest.raises(TlsProtocolError):
        client.receive(server.outgoing())
    with pytest.raises(
        TlsProtocolError, match=r"does not trust this certificate|handshake failed"
    ):
        server.receive(client.outgoing())
