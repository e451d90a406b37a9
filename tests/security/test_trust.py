"""clients/core/trust.py: the pin file, the decision table and the texts."""

from __future__ import annotations

import ssl
import stat

import pytest

from clients.core.trust import (
    Action,
    Changed,
    FirstSeen,
    KnownServers,
    Trusted,
    accepts,
    changed_warning,
    decide,
    default_known_servers_path,
    endpoint,
    fingerprint_of,
    first_use_question,
    forget_command,
    normalize_fingerprint,
    parse_endpoint,
)
from server.tls import ensure_certificate, fingerprint

A = ":".join(["AB"] * 32)
B = ":".join(["CD"] * 32)


@pytest.fixture(name="known")
def _known(tmp_path) -> KnownServers:
    return KnownServers(tmp_path / "chinwag" / "known_servers")


def test_client_and_server_fingerprints_agree(tmp_path):
    paths = ensure_certificate(tmp_path, ["localhost"])
    der = ssl.PEM_cert_to_DER_cert(paths.cert_file.read_text())
    assert fingerprint_of(der) == fingerprint(der) == paths.fingerprint


@pytest.mark.parametrize(
    "text",
    [
        A,
        A.lower(),
        A.replace(":", ""),
        A.replace(":", " "),
        f"SHA256:{A}",
        f"sha256 Fingerprint={A}",
        f"  {A}\n",
    ],
)
def test_fingerprints_are_accepted_in_common_spellings(text):
    assert normalize_fingerprint(text) == A


@pytest.mark.parametrize("text", ["", "AB:CD", A + ":EF", A.replace("AB", "ZZ", 1)])
def test_malformed_fingerprints_are_refused(text):
    with pytest.raises(ValueError, match="32 bytes"):
        normalize_fingerprint(text)


@pytest.mark.parametrize(
    ("host", "port", "key"),
    [
        ("Chat.Example.ORG.", 9090, "[chat.example.org]:9090"),
        ("[::0:1]", 443, "[::1]:443"),
        ("::1", 443, "[::1]:443"),
        ("127.0.0.1", 1, "[127.0.0.1]:1"),
        ("bücher.example", 9090, "[xn--bcher-kva.example]:9090"),
    ],
)
def test_endpoints_have_one_spelling(host, port, key):
    assert endpoint(host, port) == key


@pytest.mark.parametrize(
    ("host", "port"), [("", 1), ("a b", 1), ("x", 0), ("x", 65536)]
)
def test_bad_endpoints(host, port):
    with pytest.raises(ValueError):
        endpoint(host, port)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("chat.example.org", ("chat.example.org", 9090)),
        ("chat.example.org:7000", ("chat.example.org", 7000)),
        ("[::1]:7000", ("::1", 7000)),
        ("[::1]", ("::1", 9090)),
        ("::1", ("::1", 9090)),
    ],
)
def test_parse_endpoint(text, expected):
    assert parse_endpoint(text, 9090) == expected


@pytest.mark.parametrize("text", ["host:port", "[::1]x", "", "host:99999"])
def test_parse_endpoint_errors(text):
    with pytest.raises(ValueError):
        parse_endpoint(text, 9090)


def test_first_seen_then_pinned_then_changed_then_forgotten(known):
    assert known.check("chat.example.org", 9090, A) == FirstSeen(A)
    known.pin("chat.example.org", 9090, A.lower())
    assert known.check("CHAT.example.org", 9090, A) == Trusted(A)
    assert known.check("chat.example.org", 9090, B) == Changed(A, B)
    assert known.check("chat.example.org", 9091, B) == FirstSeen(B)  # per port
    assert known.pinned("chat.example.org", 9090) == A
    assert known.forget("chat.example.org", 9090)
    assert not known.forget("chat.example.org", 9090)
    assert known.check("chat.example.org", 9090, B) == FirstSeen(B)


def test_the_file_is_private_and_readable(known):
    known.pin("::1", 9090, A)
    known.pin("chat.example.org", 9090, B)
    known.pin("::1", 9090, B)  # replaces
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.path.parent.stat().st_mode) == 0o700
    lines = [ln for ln in known.path.read_text().splitlines() if not ln.startswith("#")]
    assert lines == [f"[chat.example.org]:9090 {B}", f"[::1]:9090 {B}"]
    assert not list(known.path.parent.glob(".*.tmp"))


def test_two_clients_see_each_others_pins(known):
    other = KnownServers(known.path)
    known.pin("a.example", 1, A)
    other.pin("b.example", 2, B)
    assert known.check("b.example", 2, B) == Trusted(B)
    assert other.check("a.example", 1, A) == Trusted(A)


def test_lines_it_cannot_read_are_kept(known):
    known.path.parent.mkdir(parents=True)
    known.path.write_text(f"# my own note\n[a.example]:1 {A}\nsomething odd\n")
    known.pin("b.example", 2, B)
    text = known.path.read_text()
    assert "# my own note" in text
    assert "something odd" in text
    assert known.check("a.example", 1, A) == Trusted(A)
    known.pin("b.example", 2, A)
    assert known.path.read_text().count("Chinwag known servers") == 1


def test_an_unreadable_file_means_nothing_pinned(known):
    known.path.parent.mkdir(parents=True)
    known.path.write_bytes(b"\xff\xfe\x00garbage")
    assert known.check("a.example", 1, A) == FirstSeen(A)


def test_default_path_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert (
        default_known_servers_path() == tmp_path / "xdg" / "chinwag" / "known_servers"
    )
    assert KnownServers().path == default_known_servers_path()


@pytest.mark.parametrize(
    ("ca_verified", "state", "trust_new", "action", "pin"),
    [
        (True, FirstSeen(A), False, Action.ACCEPT, False),
        (
            True,
            Changed(A, B),
            False,
            Action.ACCEPT,
            False,
        ),  # e.g. moved to Let's Encrypt
        (False, Trusted(A), False, Action.ACCEPT, False),
        (False, Trusted(A), True, Action.ACCEPT, False),
        (False, FirstSeen(A), False, Action.ASK, False),
        (False, FirstSeen(A), True, Action.ACCEPT, True),
        (False, Changed(A, B), False, Action.REFUSE, False),
        (False, Changed(A, B), True, Action.REFUSE, False),  # never automatic
    ],
)
def test_decide(ca_verified, state, trust_new, action, pin):
    decision = decide(
        host="chat.example.org",
        port=9090,
        ca_verified=ca_verified,
        state=state,
        trust_new=trust_new,
    )
    assert (decision.action, decision.pin) == (action, pin)
    if action is Action.ASK:
        assert decision.text == first_use_question("chat.example.org", 9090, A)
    if action is Action.REFUSE:
        assert decision.text == changed_warning("chat.example.org", 9090, A, B)


def test_the_first_use_question():
    text = first_use_question("chat.example.org", 9090, A)
    assert "chat.example.org:9090" in text
    assert f"  {A}\n" in text
    assert "SHA-256" in text
    assert text.endswith("remember its certificate?")


def test_the_changed_certificate_warning():
    text = changed_warning("::1", 9090, A, B, program="chinwag-gui")
    assert text.startswith("WARNING: THE CERTIFICATE OF [::1]:9090 HAS CHANGED!")
    assert A in text
    assert B in text
    assert "man-in-the-middle" in text
    assert "  chinwag-gui --forget-host [::1]:9090\n" in text
    assert forget_command("chat.example.org", 7000) == (
        "chinwag-tui --forget-host chat.example.org:7000"
    )


def test_the_forget_command_parses_back():
    for host in ("::1", "chat.example.org"):
        command = forget_command(host, 7000)
        assert parse_endpoint(command.split()[-1], 9090) == (host, 7000)


@pytest.mark.parametrize(
    ("answer", "yes"),
    [
        ("yes", True),
        ("Y", True),
        (" YES ", True),
        (A.lower(), True),
        (B, False),
        ("no", False),
        ("", False),
        ("yes please", False),
    ],
)
def test_accepts(answer, yes):
    assert accepts(answer, A) is yes
