"""The protocol's exception hierarchy; nothing else may escape this package.

`ProtocolError` is abstract (as in h11): raise `LocalProtocolError` when we
misuse the protocol and `RemoteProtocolError` when the peer sent bad bytes.
"""

from __future__ import annotations

from typing import Any, Self

from protocol.constants import ErrorCode


class ProtocolError(Exception):
    """Base of every error this package raises; never raised itself.

    Attributes:
        error_code: the code to put in an Error frame sent about this problem.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:  # noqa: ARG004
        if cls is ProtocolError:
            msg = "ProtocolError is abstract; raise a subclass"
            raise TypeError(msg)
        return super().__new__(cls)

    def __init__(
        self, message: str, error_code: ErrorCode = ErrorCode.MALFORMED_FRAME
    ) -> None:
        super().__init__(message)
        self.error_code = error_code


class LocalProtocolError(ProtocolError):
    """We tried something the protocol forbids (a bug, or unchecked input)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol forbids; the connection is unusable."""


class FrameTooLarge(RemoteProtocolError):
    """A frame header declared a body longer than the agreed maximum."""

    def __init__(self, declared: int, limit: int) -> None:
        super().__init__(
            f"frame of {declared} bytes exceeds the {limit}-byte limit",
            ErrorCode.FRAME_TOO_LARGE,
        )
        self.declared = declared
        self.limit = limit


class InvalidMessage(RemoteProtocolError):
    """A well-framed message whose content is refused (too long, unknown type...).

    Unlike other remote errors the byte stream is still in sync, so the
    receiver may refuse just this request and carry on.

    Attributes:
        message_type: the raw type tag of the refused frame.
        ref: the request id the frame carried, or 0.
    """

    def __init__(
        self, message: str, error_code: ErrorCode, message_type: int, ref: int = 0
    ) -> None:
        super().__init__(message, error_code)
        self.message_type = message_type
        self.ref = ref
