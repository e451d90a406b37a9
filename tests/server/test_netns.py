"""Per-address limits seen from a real non-loopback address.

Two network namespaces joined by a veth pair, with private 10.x addresses
that exist only inside them: the server runs in one, a client in the other.
Nothing touches the machine's own interfaces or addresses. Needs root and
`ip netns`; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import protocol as p

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]
SERVER_ADDRESS = "10.47.0.1"
CLIENT_ADDRESS = "10.47.0.2"


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args], capture_output=True, text=True, timeout=10, check=False
    )


@pytest.fixture(name="namespaces")
def _namespaces() -> Iterator[tuple[str, str]]:
    if shutil.which("ip") is None:
        pytest.skip("the ip command (iproute2) is not installed")
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = f"{os.getpid() % 100000}"
    server_ns, client_ns = f"cw-srv-{tag}", f"cw-cli-{tag}"
    server_if, client_if = f"cws{tag}", f"cwc{tag}"
    created: list[str] = []
    try:
        for name in (server_ns, client_ns):
            result = _ip("netns", "add", name)
            if result.returncode != 0:
                pytest.skip(f"ip netns is unavailable here: {result.stderr.strip()}")
            created.append(name)
        steps = [
            ("link", "add", server_if, "type", "veth", "peer", "name", client_if),
            ("link", "set", server_if, "netns", server_ns),
            ("link", "set", client_if, "netns", client_ns),
            ("-n", server_ns, "addr", "add", f"{SERVER_ADDRESS}/30", "dev", server_if),
            ("-n", client_ns, "addr", "add", f"{CLIENT_ADDRESS}/30", "dev", client_if),
            ("-n", server_ns, "link", "set", server_if, "up"),
            ("-n", client_ns, "link", "set", client_if, "up"),
            ("-n", server_ns, "link", "set", "lo", "up"),
            ("-n", client_ns, "link", "set", "lo", "up"),
        ]
        for step in steps:
            result = _ip(*step)
            if result.returncode != 0:
                pytest.skip(f"cannot set up the namespaces: {result.stderr.strip()}")
        yield server_ns, client_ns
    finally:
        # Deleting a namespace deletes the veth end inside it, and its peer.
        for name in created:
            _ip("netns", "delete", name)


def test_per_address_limits_apply_to_a_remote_address(namespaces, tmp_path):
    server_ns, client_ns = namespaces
    server, port = _serve(
        server_ns, tmp_path, "--max-per-address", "2", "--allow-plaintext"
    )
    try:
        client = subprocess.run(
            [
                "ip", "netns", "exec", client_ns,
                sys.executable, "-m", "tests.server.netns_client",
                SERVER_ADDRESS, port, "3",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )  # fmt: skip
    finally:
        _stop(server)
    results = json.loads(client.stdout)
    assert [r["kind"] for r in results] == ["Welcome", "Welcome", "Error"]
    assert results[2]["code"] == p.ErrorCode.SERVER_FULL
    assert "2 at once" in results[2]["text"]
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert re.search(r"refused 10\.47\.0\.2:\d+: too many connections", log)


def _serve(
    server_ns: str, tmp_path: Path, *extra: str
) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [
            "ip", "netns", "exec", server_ns,
            sys.executable, "-m", "server",
            "--host", SERVER_ADDRESS, "--port", "0",
            "--data-dir", str(tmp_path / "data"),
            "--log-file", str(tmp_path / "server.log"),
            *extra,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline()
    match = re.search(r"listening on 10\.47\.0\.1:(\d+)", line)
    assert match, f"server did not start: {line!r}"
    return server, match.group(1)


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    try:
        server.wait(30)  # generous: a loaded machine is slow to stop anything
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
        raise
    finally:
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()


def test_plaintext_from_another_machine_is_refused_but_tls_works(namespaces, tmp_path):
    server_ns, client_ns = namespaces
    server, port = _serve(server_ns, tmp_path)
    try:
        plain = subprocess.run(
            [
                "ip", "netns", "exec", client_ns,
                sys.executable, "-m", "tests.server.netns_client",
                SERVER_ADDRESS, port, "1",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        (result,) = json.loads(plain.stdout)
        assert result["kind"] == "Error"
        assert result["code"] == p.ErrorCode.UNSUPPORTED_VERSION
        assert "TLS" in result["text"]
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "client")}
        secure = subprocess.run(
            [
                "ip", "netns", "exec", client_ns,
                sys.executable, "-m", "clients.core",
                "--host", SERVER_ADDRESS, "--port", port,
                "--nick", "far", "--trust-new", "--linger", "0.2",
                "hello over TLS",
            ],
            cwd=ROOT, capture_output=True, text=True, timeout=30, check=False, env=env,
        )  # fmt: skip
        assert secure.returncode == 0, secure.stderr
        assert "<far> hello over TLS" in secure.stdout
        assert "Trusting" in secure.stdout
    finally:
        _stop(server)
