"""Length-prefixed framing: `frame()` wraps a body, `FrameDecoder` unwraps a stream.

A frame is a u32 big-endian body length N followed by N body bytes. The
decoder refuses a declared N above its cap as soon as the 4 header bytes are
in, before buffering any of the body, so memory stays bounded by the cap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocol.constants import DEFAULT_MAX_FRAME_SIZE, FRAME_HEADER
from protocol.errors import FrameTooLarge, RemoteProtocolError

if TYPE_CHECKING:
    from collections.abc import Generator


def frame(body: bytes) -> bytes:
    """Prefix `body` with its length."""
    return FRAME_HEADER.pack(len(body)) + body


class FrameDecoder:
    """Reassembles frame bodies from arbitrary chunks of a byte stream.

    Feed it whatever `recv` returned; iterate `bodies()` for every complete
    body. Consumed bytes are dropped in one slice per `bodies()` pass, so a
    burst of many small frames costs O(n), not O(n²).
    """

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        """How many received bytes wait for the rest of their frame."""
        return len(self._buffer)

    @property
    def has_frame(self) -> bool:
        """Whether `bodies()` has something to yield (or to raise) right now."""
        buf = self._buffer
        if len(buf) < FRAME_HEADER.size:
            return False
        size: int = FRAME_HEADER.unpack_from(buf)[0]
        return size > self.max_frame_size or FRAME_HEADER.size + size <= len(buf)

    def feed(self, data: bytes) -> None:
        """Append received bytes."""
        self._buffer += data

    def bodies(self) -> Generator[bytes, None, None]:
        """Yield each complete frame body in the buffer, in order.

        Closing the generator early drops only the bodies it yielded: the
        rest stay buffered for the next call.

        Raises:
            FrameTooLarge: a header declares more than `max_frame_size` bytes.
        """
        buf = self._buffer
        header = FRAME_HEADER.size
        pos = 0
        try:
            while len(buf) - pos >= header:
                (size,) = FRAME_HEADER.unpack_from(buf, pos)
                if size > self.max_frame_size:
                    raise FrameTooLarge(size, self.max_frame_size)
                end = pos + header + size
                if end > len(buf):
                    break
                body = bytes(buf[pos + header : end])
                pos = end
                yield body
        finally:
            del buf[:pos]

    def check_eof(self) -> None:
        """The stream ended: complain if it ended inside a frame.

        Raises:
            RemoteProtocolError: bytes of an incomplete frame are buffered.
        """
        if self._buffer:
            msg = (
                f"connection closed inside a frame ({len(self._buffer)} bytes pending)"
            )
            raise RemoteProtocolError(msg)
