"""`Refusal`: the hub (or the session registry) said no; the peer answers with an Error."""

from __future__ import annotations

import attrs

from protocol import ErrorCode


@attrs.frozen
class Refusal(Exception):
    """A request is refused; the peer turns this into an Error frame.

    Attributes:
        fatal: the connection must close afterwards (handshake refusals).
    """

    code: ErrorCode
    text: str
    ref: int = 0
    fatal: bool = False
