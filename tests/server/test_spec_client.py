"""The plain-Python client printed in docs/protocol.md works against our server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import protocol as p
from server import ChatServer, ServerConfig
from tests.wire import WireClient

pytestmark = pytest.mark.integration

SPEC = Path(__file__).parents[2] / "docs" / "protocol.md"


def _spec_client() -> str:
    section = SPEC.read_text(encoding="utf-8").split(
        "## 11. A client in plain Python", 1
    )[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "no python block in section 11"
    return match.group(1)


def test_the_spec_example_client_talks_to_the_server(tmp_path):
    script = tmp_path / "plain_client.py"
    script.write_text(_spec_client(), encoding="utf-8")
    with ChatServer(ServerConfig(port=0)) as server:
        ann = WireClient(server.address)
        ann.hello("ann")
        result = subprocess.run(
            [sys.executable, str(script), str(server.address[1])],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
            cwd=tmp_path,  # so nothing of this project can be imported
        )
        line = ann.expect(p.Delivered, skip=(p.UserJoined,))
        assert (line.sender, line.text) == ("plainbot", "hello, I am plain")
        assert ann.expect(p.UserLeft) == p.UserLeft(nick="plainbot", reason="quit: bye")
        ann.close()
    assert "welcome as plainbot" in result.stdout
    assert "<plainbot> hello, I am plain" in result.stdout
