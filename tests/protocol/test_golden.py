"""Golden byte vectors: the wire format may not drift, and the spec shows it."""

from __future__ import annotations

from pathlib import Path

import pytest

import protocol as p
from protocol.testing import GOLDEN_VECTORS

SPEC = Path(__file__).parents[2] / "docs" / "protocol.md"


def _ids() -> list[str]:
    return [f"{type(m).__name__}-{i}" for i, (m, _) in enumerate(GOLDEN_VECTORS)]


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN_VECTORS, ids=_ids())
def test_encodes_to_golden_bytes(message, hex_bytes):
    assert p.frame(p.encode_body(message)) == bytes.fromhex(hex_bytes)


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN_VECTORS, ids=_ids())
def test_golden_bytes_decode(message, hex_bytes):
    decoder = p.FrameDecoder()
    decoder.feed(bytes.fromhex(hex_bytes))
    (body,) = decoder.bodies()
    assert p.decode_body(body) == message


def test_every_message_type_has_a_vector():
    covered = {type(m) for m, _ in GOLDEN_VECTORS}
    assert covered == set(p.MESSAGE_CLASSES)


@pytest.mark.parametrize(("message", "hex_bytes"), GOLDEN_VECTORS, ids=_ids())
def test_spec_shows_every_vector(message, hex_bytes):
    spec = " ".join(SPEC.read_text(encoding="utf-8").split())
    assert hex_bytes in spec, f"docs/protocol.md lacks the example for {message!r}"


def test_spec_lists_every_type_tag_and_error_code():
    spec = SPEC.read_text(encoding="utf-8")
    for kind in p.MessageType:
        assert f"`0x{kind.value:02x}`" in spec, kind
    for code in p.ErrorCode:
        assert f"| {code.value} | `{code.name}`" in spec, code
