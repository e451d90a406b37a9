"""`ServerConfig`: every knob of the server in one frozen, validated object."""

from __future__ import annotations

from pathlib import Path

import attrs
from attrs.validators import ge, gt, in_, instance_of, le, optional

from protocol import DEFAULT_MAX_FRAME_SIZE, Limits
from protocol.constants import MIN_MAX_FRAME_SIZE

_U16_MAX = 0xFFFF


@attrs.frozen(kw_only=True)
class ServerConfig:
    """How the server listens and what it tolerates.

    Attributes:
        host: address to bind; 127.0.0.1 keeps the server private to this machine.
        port: TCP port; 0 picks a free one (see `ChatServer.address`).
        max_clients: connections beyond this are refused with SERVER_FULL.
        max_per_address: connections one address may hold at once.
        new_per_address / new_per_address_window: connections one address
            may open per window of that many seconds.
        exempt_loopback: the per-address limits do not apply to loopback
            addresses (127.0.0.0/8, ::1).
        flood_cooldown: seconds an address may not connect after one of its
            connections was kicked for flooding (0: no cooldown).
        max_frame_size: largest frame body accepted from a client; never
            below the largest frame a valid client sends (spec section 2).
        outbox_size: bytes a client may fall behind before it is dropped.
        outbox_total: bytes all clients together may fall behind; the one
            whose backlog would pass it is dropped.
        handshake_timeout: seconds a new connection has to finish its
            handshake (Hello, and Identify when it asked for sessions).
        ping_interval: seconds of client silence before the server pings it.
        idle_timeout: seconds of client silence before it is dropped.
        rate_burst / rate_per_second: the per-connection token bucket.
        flood_kick_after: frames over the rate limit in a row before a disconnect.
        server_name / motd: shown to clients in Welcome.
        housekeeping_interval: how often timeouts are checked.
        reader_threads: threads reading client sockets (each serves many).
        close_grace: seconds a closing connection has to flush its last words.
        tls: serve TLS on the port (beside plaintext, told apart by the
            first byte, spec'd in docs/server.md).
        data_dir: where the self-signed certificate (and the database) live;
            None: the user data directory (`server.admin.default_data_dir`).
        tls_cert / tls_key: a certificate chain and its key to use instead
            of the self-signed one (a Let's Encrypt pair, say).
        tls_names: extra names for the self-signed certificate.
        allow_plaintext: accept plaintext from other machines too (by
            default only loopback may skip TLS).
        accounts: offer accounts (spec 12.3), kept in the data directory.
        registration: "open", "invite" (an invite code is needed) or
            "closed" (only `chinwag-server admin create-user`).
        require_account: refuse guests.
        history: store every message (spec 12.4) in the data directory.
        retention_days: delete stored messages older than this; None keeps all.
        cheap_hashing: hash passwords with argon2's cheapest parameters
            (tests only: it makes passwords easy to guess).
    """

    host: str = attrs.field(default="127.0.0.1", validator=instance_of(str))
    port: int = attrs.field(default=9090, validator=[ge(0), le(65535)])
    max_clients: int = attrs.field(default=2048, validator=gt(0))
    max_per_address: int = attrs.field(default=16, validator=gt(0))
    new_per_address: int = attrs.field(default=30, validator=gt(0))
    new_per_address_window: float = attrs.field(default=60.0, validator=gt(0))
    exempt_loopback: bool = attrs.field(default=True, validator=instance_of(bool))
    flood_cooldown: float = attrs.field(default=60.0, validator=ge(0))
    max_frame_size: int = attrs.field(default=DEFAULT_MAX_FRAME_SIZE)
    outbox_size: int = attrs.field(default=256 * 1024, validator=ge(4096))
    outbox_total: int = attrs.field(default=64 * 1024 * 1024)
    handshake_timeout: float = attrs.field(default=10.0, validator=gt(0))
    ping_interval: float = attrs.field(default=30.0, validator=gt(0))
    idle_timeout: float = attrs.field(default=60.0, validator=gt(0))
    rate_burst: int = attrs.field(default=20, validator=gt(0))
    rate_per_second: float = attrs.field(default=10.0, validator=gt(0))
    flood_kick_after: int = attrs.field(default=50, validator=gt(0))
    server_name: str = attrs.field(default="chinwag", validator=instance_of(str))
    motd: str = attrs.field(default="", validator=instance_of(str))
    housekeeping_interval: float = attrs.field(default=0.25, validator=gt(0))
    reader_threads: int = attrs.field(default=2, validator=[gt(0), le(64)])
    close_grace: float = attrs.field(default=2.0, validator=gt(0))
    tls: bool = attrs.field(default=True, validator=instance_of(bool))
    data_dir: Path | None = attrs.field(
        default=None, validator=optional(instance_of(Path))
    )
    tls_cert: Path | None = attrs.field(
        default=None, validator=optional(instance_of(Path))
    )
    tls_key: Path | None = attrs.field(
        default=None, validator=optional(instance_of(Path))
    )
    tls_names: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    allow_plaintext: bool = attrs.field(default=False, validator=instance_of(bool))
    accounts: bool = attrs.field(default=True, validator=instance_of(bool))
    registration: str = attrs.field(
        default="open", validator=in_(("open", "invite", "closed"))
    )
    require_account: bool = attrs.field(default=False, validator=instance_of(bool))
    cheap_hashing: bool = attrs.field(default=False, validator=instance_of(bool))
    history: bool = attrs.field(default=True, validator=instance_of(bool))
    retention_days: float | None = attrs.field(default=None)

    @tls_key.validator
    def _cert_and_key(
        self, _attr: attrs.Attribute[Path | None], value: Path | None
    ) -> None:
        if (self.tls_cert is None) != (value is None):
            msg = "give both a TLS certificate and its key, or neither"
            raise ValueError(msg)

    @retention_days.validator
    def _retention_positive(
        self, _attr: attrs.Attribute[float | None], value: float | None
    ) -> None:
        if value is not None and not (isinstance(value, int | float) and value > 0):
            msg = f"retention_days must be a positive number of days, not {value!r}"
            raise ValueError(msg)

    @max_frame_size.validator
    def _frame_size_in_range(self, _attr: attrs.Attribute[int], value: int) -> None:
        if not MIN_MAX_FRAME_SIZE <= value <= DEFAULT_MAX_FRAME_SIZE:
            msg = (
                f"max_frame_size must be between {MIN_MAX_FRAME_SIZE} (the largest "
                f"frame a valid client sends) and {DEFAULT_MAX_FRAME_SIZE}, not {value}"
            )
            raise ValueError(msg)

    @outbox_total.validator
    def _total_holds_one_outbox(self, _attr: attrs.Attribute[int], value: int) -> None:
        if value < self.outbox_size:
            msg = f"outbox_total ({value}) must be at least outbox_size ({self.outbox_size})"
            raise ValueError(msg)

    @idle_timeout.validator
    def _idle_after_ping(self, _attr: attrs.Attribute[float], value: float) -> None:
        if value <= self.ping_interval:
            msg = "idle_timeout must be longer than ping_interval"
            raise ValueError(msg)

    @property
    def rate_interval_ms(self) -> int:
        """Milliseconds between two frames after a burst, as `Limits` tells clients.

        `round(1000 / rate)`, but at least 1: 0 would read as "no limit".
        """
        return max(1, round(1000 / self.rate_per_second))

    @property
    def effective_rate(self) -> float:
        """Frames per second the server's bucket refills: never less than it advertises.

        Rounding `rate_interval_ms` down would otherwise make a client that
        paces by it slightly faster than the configured rate, and refused.
        """
        return max(self.rate_per_second, 1000 / self.rate_interval_ms)

    def limits(self) -> Limits:
        """The `Limits` message (spec 12.1) describing this configuration."""
        return Limits(
            rate_burst=min(self.rate_burst, _U16_MAX),
            rate_interval_ms=min(self.rate_interval_ms, 0xFFFFFFFF),
            flood_kick_after=min(self.flood_kick_after, _U16_MAX),
            max_frame_size=self.max_frame_size,
        )
