"""`Link`: the current connection as the session's parts see it.

Whether it is open and what the server enabled (spec 12) decide what a
part may ask for; the server's label words the refusals. `ChatSession`
makes one whenever a part needs it; it is a value, so parts never reach
back into the session. No I/O.
"""

from __future__ import annotations

import attrs


@attrs.frozen(kw_only=True)
class Link:
    """What the connection allows right now.

    Attributes:
        server: the server's label ("host:port"), for messages.
        open: the connection is open and welcomed.
        capabilities: what the server enabled on it (empty when closed).
    """

    server: str
    open: bool = False
    capabilities: frozenset[str] = frozenset()

    def has(self, capability: str) -> bool:
        """Whether the server enabled `capability` (spec 12)."""
        return capability in self.capabilities
