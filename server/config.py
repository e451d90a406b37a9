"""`ServerConfig`: every knob of the server in one frozen, validated object."""

from __future__ import annotations

import attrs
from attrs.validators import ge, gt, instance_of, le

from protocol import DEFAULT_MAX_FRAME_SIZE


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How the server listens and what it tolerates.

    Attributes:
        host: address to bind; 127.0.0.1 keeps the server private to this machine.
        port: TCP port; 0 picks a free one (see `ChatServer.address`).
        max_clients: connections beyond this are refused with SERVER_FULL.
        max_frame_size: largest frame body accepted from a client.
        outbox_size: bytes a client may fall behind before it is dropped.
        handshake_timeout: seconds a new connection has to send Hello.
        ping_interval: seconds of client silence before the server pings it.
        idle_timeout: seconds of client silence before it is dropped.
        rate_burst / rate_per_second: the per-connection token bucket.
        flood_kick_after: frames over the rate limit before a disconnect.
        server_name / motd: shown to clients in Welcome.
        housekeeping_interval: how often timeouts are checked.
        reader_threads: threads reading client sockets (each serves many).
        close_grace: seconds a closing connection has to flush its last words.
    """

    host: str = attrs.field(default="127.0.0.1", validator=instance_of(str))
    port: int = attrs.field(default=9090, validator=[ge(0), le(65535)])
    max_clients: int = attrs.field(default=2048, validator=gt(0))
    max_frame_size: int = attrs.field(
        default=DEFAULT_MAX_FRAME_SIZE, validator=[ge(64), le(DEFAULT_MAX_FRAME_SIZE)]
    )
    outbox_size: int = attrs.field(default=1024 * 1024, validator=ge(4096))
    handshake_timeout: float = attrs.field(default=10.0, validator=gt(0))
    ping_interval: float = attrs.field(default=30.0, validator=gt(0))
    idle_timeout: float = attrs.field(default=60.0, validator=gt(0))
    rate_burst: int = attrs.field(default=20, validator=gt(0))
    rate_per_second: float = attrs.field(default=10.0, validator=gt(0))
    flood_kick_after: int = attrs.field(default=50, validator=gt(0))
    server_name: str = attrs.field(default="chinwag", validator=instance_of(str))
    motd: str = attrs.field(default="", validator=instance_of(str))
    housekeeping_interval: float = attrs.field(default=0.5, validator=gt(0))
    reader_threads: int = attrs.field(default=2, validator=[gt(0), le(64)])
    close_grace: float = attrs.field(default=2.0, validator=gt(0))

    @idle_timeout.validator
    def _idle_after_ping(self, _attr: attrs.Attribute[float], value: float) -> None:
        if value <= self.ping_interval:
            msg = "idle_timeout must be longer than ping_interval"
            raise ValueError(msg)
