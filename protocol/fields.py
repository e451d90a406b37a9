"""Field codecs and the attrs field helpers that attach them to messages.

A message class never spells out its byte layout: each attribute is declared
with one of the helpers below, which records a `FieldCodec` in the field's
metadata and a validator that enforces the wire limits. `protocol.codec`
walks those fields in declaration order.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import attrs

from protocol.constants import (
    MAX_LIST_ITEMS,
    MAX_STRING_BYTES,
    U8,
    U16,
    U32,
    U64,
    ErrorCode,
)

if TYPE_CHECKING:
    import struct
    from collections.abc import Callable, Sequence

CODEC_KEY = "chinwag.codec"

_E = TypeVar("_E", bound=enum.IntEnum)


class FieldValueError(ValueError):
    """A field value breaks a limit; carries the error code to report."""

    def __init__(self, message: str, error_code: ErrorCode) -> None:
        super().__init__(message)
        self.error_code = error_code


class FieldCodec(Protocol):
    """Turns one field value into bytes and back."""

    def encode(self, value: Any, out: bytearray) -> None: ...

    def decode(self, data: bytes, pos: int) -> tuple[Any, int]:
        """Read one value at `pos`; return it and the position after it."""
        ...


@attrs.frozen
class UIntCodec:
    fmt: struct.Struct

    def encode(self, value: int, out: bytearray) -> None:
        out += self.fmt.pack(value)

    def decode(self, data: bytes, pos: int) -> tuple[int, int]:
        (value,) = self.fmt.unpack_from(data, pos)
        return value, pos + self.fmt.size


@attrs.frozen
class BoolCodec:
    def encode(self, value: bool, out: bytearray) -> None:
        out.append(1 if value else 0)

    def decode(self, data: bytes, pos: int) -> tuple[bool, int]:
        (raw,) = U8.unpack_from(data, pos)
        if raw > 1:
            msg = f"boolean byte must be 0 or 1, got {raw}"
            raise ValueError(msg)
        return raw == 1, pos + 1


def _take(data: bytes, pos: int, size: int) -> bytes:
    end = pos + size
    if end > len(data):
        msg = f"field needs {size} bytes, only {len(data) - pos} left"
        raise ValueError(msg)
    return data[pos:end]


@attrs.frozen
class StrCodec:
    """UTF-8 text behind a u16 byte length."""

    def encode(self, value: str, out: bytearray) -> None:
        raw = value.encode("utf-8")
        out += U16.pack(len(raw))
        out += raw

    def decode(self, data: bytes, pos: int) -> tuple[str, int]:
        (size,) = U16.unpack_from(data, pos)
        pos += U16.size
        return _take(data, pos, size).decode("utf-8"), pos + size


@attrs.frozen
class BytesCodec:
    """Opaque bytes behind a u32 length."""

    def encode(self, value: bytes, out: bytearray) -> None:
        out += U32.pack(len(value))
        out += value

    def decode(self, data: bytes, pos: int) -> tuple[bytes, int]:
        (size,) = U32.unpack_from(data, pos)
        pos += U32.size
        return bytes(_take(data, pos, size)), pos + size


@attrs.frozen
class OptionalCodec:
    """A presence byte (0 absent, 1 present) followed by the value if present."""

    inner: FieldCodec

    def encode(self, value: Any, out: bytearray) -> None:
        if value is None:
            out.append(0)
        else:
            out.append(1)
            self.inner.encode(value, out)

    def decode(self, data: bytes, pos: int) -> tuple[Any, int]:
        present, pos = BoolCodec().decode(data, pos)
        if not present:
            return None, pos
        return self.inner.decode(data, pos)


@attrs.frozen
class ListCodec:
    """A u16 item count followed by the items."""

    inner: FieldCodec

    def encode(self, value: Sequence[Any], out: bytearray) -> None:
        out += U16.pack(len(value))
        for item in value:
            self.inner.encode(item, out)

    def decode(self, data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
        (count,) = U16.unpack_from(data, pos)
        pos += U16.size
        items = []
        for _ in range(count):
            item, pos = self.inner.decode(data, pos)
            items.append(item)
        return tuple(items), pos


@attrs.frozen
class EnumCodec:
    """An IntEnum member as a u16; unknown values are malformed."""

    enum_type: type[enum.IntEnum]

    def encode(self, value: enum.IntEnum, out: bytearray) -> None:
        out += U16.pack(int(value))

    def decode(self, data: bytes, pos: int) -> tuple[enum.IntEnum, int]:
        (raw,) = U16.unpack_from(data, pos)
        return self.enum_type(raw), pos + U16.size


_UINTS = {8: U8, 16: U16, 32: U32, 64: U64}


# --- validators ------------------------------------------------------------


def _check_uint(bits: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    top = (1 << bits) - 1

    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not int or not 0 <= value <= top:
            msg = f"{attr.name} must be an int in 0..{top}, got {value!r}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)

    return check


def _check_str(
    max_chars: int, min_chars: int, too_long: ErrorCode
) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, str):
            msg = f"{attr.name} must be a str, got {type(value).__name__}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        if len(value) > max_chars:
            msg = f"{attr.name} is {len(value)} characters; the limit is {max_chars}"
            raise FieldValueError(msg, too_long)
        if len(value) < min_chars:
            msg = f"{attr.name} must have at least {min_chars} character(s)"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        if len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
            msg = f"{attr.name} exceeds {MAX_STRING_BYTES} UTF-8 bytes"
            raise FieldValueError(msg, too_long)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            msg = f"{attr.name} is not valid Unicode text (lone surrogate)"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD) from exc

    return check


# --- field helpers used by protocol.messages --------------------------------


def uint(bits: int, *, default: int | None = None) -> Any:
    """An unsigned big-endian integer of `bits` (8, 16, 32 or 64) bits."""
    kwargs: dict[str, Any] = {} if default is None else {"default": default}
    return attrs.field(
        validator=_check_uint(bits),
        metadata={CODEC_KEY: UIntCodec(_UINTS[bits])},
        **kwargs,
    )


def flag(*, default: bool | None = None) -> Any:
    """A boolean as one byte, 0 or 1."""

    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not bool:
            msg = f"{attr.name} must be a bool"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)

    kwargs: dict[str, Any] = {} if default is None else {"default": default}
    return attrs.field(validator=check, metadata={CODEC_KEY: BoolCodec()}, **kwargs)


def text(
    max_chars: int,
    *,
    min_chars: int = 0,
    too_long: ErrorCode = ErrorCode.INVALID_FIELD,
    default: str | None = None,
) -> Any:
    """A UTF-8 string bounded in characters (code points)."""
    kwargs: dict[str, Any] = {} if default is None else {"default": default}
    return attrs.field(
        validator=_check_str(max_chars, min_chars, too_long),
        metadata={CODEC_KEY: StrCodec()},
        **kwargs,
    )


def optional_text(max_chars: int, *, min_chars: int = 0) -> Any:
    """A string that may be absent (None)."""
    inner = _check_str(max_chars, min_chars, ErrorCode.INVALID_FIELD)

    def check(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            inner(inst, attr, value)

    return attrs.field(
        default=None,
        validator=check,
        metadata={CODEC_KEY: OptionalCodec(StrCodec())},
    )


def text_list(max_items: int, max_chars: int, *, min_chars: int = 0) -> Any:
    """A list of bounded strings, held as a tuple so messages stay hashable."""
    item_check = _check_str(max_chars, min_chars, ErrorCode.INVALID_FIELD)

    def check(inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple):
            msg = f"{attr.name} must be a tuple"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        if len(value) > min(max_items, MAX_LIST_ITEMS):
            msg = f"{attr.name} has {len(value)} items; the limit is {max_items}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        for item in value:
            item_check(inst, attr, item)

    return attrs.field(
        factory=tuple,
        converter=_to_tuple,
        validator=check,
        metadata={CODEC_KEY: ListCodec(StrCodec())},
    )


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def blob(max_bytes: int, *, default: bytes | None = None, min_bytes: int = 0) -> Any:
    """Opaque bytes behind a u32 length, `min_bytes` to `max_bytes` long."""

    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if type(value) is not bytes:
            msg = f"{attr.name} must be bytes"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        if len(value) > max_bytes:
            msg = f"{attr.name} is {len(value)} bytes; the limit is {max_bytes}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)
        if len(value) < min_bytes:
            msg = f"{attr.name} is {len(value)} bytes; it needs at least {min_bytes}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)

    kwargs: dict[str, Any] = {} if default is None else {"default": default}
    return attrs.field(validator=check, metadata={CODEC_KEY: BytesCodec()}, **kwargs)


def enum_field(enum_type: type[_E]) -> Any:
    """An IntEnum member as a u16."""

    def check(_inst: Any, attr: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, enum_type):
            msg = f"{attr.name} must be a {enum_type.__name__}"
            raise FieldValueError(msg, ErrorCode.INVALID_FIELD)

    return attrs.field(
        validator=check,
        converter=_to_enum(enum_type),
        metadata={CODEC_KEY: EnumCodec(enum_type)},
    )


def _to_enum(enum_type: type[_E]) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, enum_type):
            try:
                return enum_type(value)
            except ValueError:
                return value
        return value

    return convert
