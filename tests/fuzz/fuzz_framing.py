"""atheris harness: arbitrary bytes into a server-side Connection.

Invariant: only messages, `Rejected` events or `RemoteProtocolError` come out,
and the buffered bytes never exceed one frame. Run with `nox -s fuzz`
(bounded by `-max_total_time` or `-atheris_runs`).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import protocol as p
    from protocol.constants import FRAME_HEADER
    from protocol.testing import GOLDEN_VECTORS

LIMIT = 4096


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    conn = p.Connection(p.Role.SERVER, max_frame_size=LIMIT)
    if fdp.ConsumeBool():
        # Start from an open conversation so chat messages are reachable.
        list(
            conn.receive_data(
                p.frame(p.encode_body(p.Hello(version=1, client_name="f", nick="f")))
            )
        )
        conn.send(p.Welcome(version=1, nick="f", server_name="f"))
    try:
        while fdp.remaining_bytes():
            chunk = fdp.ConsumeBytes(fdp.ConsumeIntInRange(1, 64))
            for event in conn.receive_data(chunk):
                assert isinstance(event, (p.Rejected, *p.MESSAGE_CLASSES))
            assert conn._decoder.buffered < FRAME_HEADER.size + LIMIT + 64
        conn.receive_eof()
    except p.RemoteProtocolError:
        pass


def _seed_corpus() -> str:
    """A corpus directory holding every golden frame, alone and all together."""
    corpus = Path(tempfile.mkdtemp(prefix="chinwag-fuzz-"))
    frames = [bytes.fromhex(h) for _, h in GOLDEN_VECTORS]
    for index, data in enumerate(frames):
        (corpus / f"golden-{index}").write_bytes(b"\x01\x40" + data)
    (corpus / "golden-all").write_bytes(b"\x01\x40" + b"".join(frames))
    return str(corpus)


def main() -> None:
    argv = list(sys.argv)
    if not any(not arg.startswith("-") for arg in argv[1:]):
        argv.append(_seed_corpus())
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
