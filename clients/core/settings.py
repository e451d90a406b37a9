"""`ClientSettings`: what a client remembers between runs, in a small TOML file.

Loaded with `tomllib`, written atomically (a temporary file, then `os.replace`).
A missing, corrupt or unreadable file gives the defaults and a logged
warning, never an exception. Plain file I/O only: no sockets, threads or UI.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import tomllib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from platformdirs import PlatformDirs

from clients.core.commands import CommandError, validate_nick

log = logging.getLogger(__name__)

APP_NAME = "chinwag"
SETTINGS_FILE = "settings.toml"
MAX_SETTINGS_BYTES = 64 * 1024
"""A settings file is a few lines; anything bigger is not ours."""

MAX_HOST_CHARS = 253  # the longest DNS name
_TOML_INT_MIN, _TOML_INT_MAX = -(2**63), 2**63 - 1
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class InvalidSetting(ValueError):
    """A value the user typed (or the file held) cannot be used; the message says why."""


def validate_host(raw: str) -> str:
    """A server host as the user typed it, trimmed; IPv6 brackets are dropped.

    Raises:
        InvalidSetting: empty, too long, or holding spaces or control characters.
    """
    host = raw.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1].strip()
    if not host:
        raise InvalidSetting("enter the server's host name or address")
    if len(host) > MAX_HOST_CHARS:
        raise InvalidSetting(f"a host name has at most {MAX_HOST_CHARS} characters")
    if any(c.isspace() or not c.isprintable() for c in host):
        raise InvalidSetting("a host name cannot contain spaces or control characters")
    return host


def parse_port(raw: str | int) -> int:
    """A TCP port from text the user typed (or an int from the file).

    Raises:
        InvalidSetting: not a whole number from 1 to 65535.
    """
    if isinstance(raw, int) and not isinstance(raw, bool):
        port = raw
    else:
        text = str(raw).strip()
        if not text.isascii() or not text.isdigit():
            raise InvalidSetting("the port is a number from 1 to 65535")
        port = int(text)
    if not 0 < port < 65536:
        raise InvalidSetting("the port is a number from 1 to 65535")
    return port


def _check_host(_instance: object, _attribute: object, value: str) -> None:
    if validate_host(value) != value:
        raise InvalidSetting(f"host {value!r} is not in its plain form")


def _check_port(_instance: object, _attribute: object, value: int) -> None:
    parse_port(value)


def _check_nick(_instance: object, _attribute: object, value: str) -> None:
    if not value:
        return  # no nickname remembered yet
    try:
        normal = validate_nick(value)
    except CommandError as exc:
        raise InvalidSetting(str(exc)) from exc
    if normal != value:
        raise InvalidSetting(f"nickname {value!r} is not in its plain form")


THEMES = ("system", "light", "dark")
"""`system` follows the desktop's light or dark mode."""
MAX_TIMESTAMP_FORMAT_CHARS = 40
_SAMPLE_TIME = datetime(2026, 12, 31, 23, 59, 58, tzinfo=UTC)
_TRUE_WORDS = frozenset({"on", "true", "yes", "1"})
_FALSE_WORDS = frozenset({"off", "false", "no", "0"})


def _check_theme(_instance: object, _attribute: object, value: str) -> None:
    if value not in THEMES:
        raise InvalidSetting(f"the theme is one of {', '.join(THEMES)}, not {value!r}")


def _check_timestamps(_instance: object, _attribute: object, value: str) -> None:
    validate_timestamp_format(value)


def validate_timestamp_format(value: str) -> str:
    """A `strftime` format for the time before each line ("" shows none).

    Raises:
        InvalidSetting: too long, holding control characters, or not a
            format `strftime` accepts.
    """
    if len(value) > MAX_TIMESTAMP_FORMAT_CHARS:
        raise InvalidSetting(
            f"a timestamp format has at most {MAX_TIMESTAMP_FORMAT_CHARS} characters"
        )
    if any(not c.isprintable() for c in value):
        raise InvalidSetting("a timestamp format cannot contain control characters")
    try:
        _SAMPLE_TIME.strftime(value)
    except ValueError as exc:
        raise InvalidSetting(
            f"{value!r} is not a time format (like %H:%M): {exc}"
        ) from None
    return value


@attrs.frozen(kw_only=True)
class ClientSettings:
    """What the clients remember. Every field is a flat str, int or bool key.

    Adding a setting (theme, timestamps, notifications...) is adding a field
    here with a default and, if it needs one, a validator: loading, saving
    and the file format follow the fields.

    Attributes:
        host: the server host last connected to.
        port: the server port last connected to.
        nick: the nickname last chosen ("" = none yet).
        login: log in to the nick's account (the connect dialog's checkbox).
        theme: "system", "light" or "dark".
        timestamps: the `strftime` format of the time shown before each
            line; "" shows none.
        notifications: desktop notifications (and the bell) for mentions
            and direct messages.
    """

    host: str = attrs.field(default="127.0.0.1", validator=_check_host)
    port: int = attrs.field(default=9090, validator=_check_port)
    nick: str = attrs.field(default="", validator=_check_nick)
    login: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    theme: str = attrs.field(default="system", validator=_check_theme)
    timestamps: str = attrs.field(default="%H:%M", validator=_check_timestamps)
    notifications: bool = attrs.field(
        default=True, validator=attrs.validators.instance_of(bool)
    )


attrs.resolve_types(ClientSettings)  # field.type: the class, not its name


def setting_names() -> tuple[str, ...]:
    """Every key `change_setting` knows, in the file's order."""
    return tuple(field.name for field in attrs.fields(ClientSettings))


def describe_settings(settings: ClientSettings) -> dict[str, str]:
    """Each setting's value as `/set` shows it (on/off, quoted text)."""
    shown = {}
    for key, value in attrs.asdict(settings).items():
        if isinstance(value, bool):
            shown[key] = "on" if value else "off"
        elif isinstance(value, str):
            shown[key] = f'"{value}"'
        else:
            shown[key] = str(value)
    return shown


def change_setting(
    settings: ClientSettings, key: str, value: str | bool | int
) -> ClientSettings:
    """`settings` with `key` set to `value`, which may be text the user typed
    (`/set notifications off`, `/set port 7000`) or a typed value (a dialog).

    Raises:
        InvalidSetting: an unknown key, or a value it cannot take; the
            message says what would do.
    """
    name = key.strip().lower()
    parse = _PARSERS.get(name)
    if parse is None:
        raise InvalidSetting(
            f"there is no setting {key!r}; the settings are {', '.join(setting_names())}"
        )
    changes: dict[str, Any] = {name: parse(name, value)}
    try:
        return attrs.evolve(settings, **changes)
    except InvalidSetting:
        raise
    except (TypeError, ValueError) as exc:
        raise InvalidSetting(f"{name}: {exc}") from None


def _text(name: str, value: str | bool | int) -> str:
    if not isinstance(value, str):
        raise InvalidSetting(f"{name} is text, not {value!r}")
    return value


def _parse_host(name: str, value: str | bool | int) -> str:
    return validate_host(_text(name, value))


def _parse_port(_name: str, value: str | bool | int) -> int:
    if isinstance(value, bool):
        raise InvalidSetting("the port is a number from 1 to 65535")
    return parse_port(value)


def _parse_nick(name: str, value: str | bool | int) -> str:
    text = _text(name, value).strip()
    if not text:
        return ""
    try:
        return validate_nick(text)
    except CommandError as exc:
        raise InvalidSetting(str(exc)) from None


def _parse_theme(name: str, value: str | bool | int) -> str:
    return _text(name, value).strip().lower()


def _parse_timestamps(name: str, value: str | bool | int) -> str:
    text = _text(name, value)
    # `/set timestamps off` (or "" as the listing shows it) hides the time.
    return "" if text.strip().lower() in ('""', "''", "off", "none") else text


def _boolean(name: str, value: str | bool | int) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise InvalidSetting(f"{name} is on or off, not {value!r}")


_PARSERS: dict[str, Callable[[str, str | bool | int], object]] = {
    "host": _parse_host,
    "port": _parse_port,
    "nick": _parse_nick,
    "login": _boolean,
    "theme": _parse_theme,
    "timestamps": _parse_timestamps,
    "notifications": _boolean,
}


def default_settings_path() -> Path:
    """`settings.toml` in the user's config directory (follows `XDG_CONFIG_HOME`)."""
    dirs = PlatformDirs(APP_NAME, appauthor=False)
    return Path(dirs.user_config_dir) / SETTINGS_FILE


def load_settings(path: Path | None = None) -> ClientSettings:
    """Read the settings; whatever cannot be used falls back to its default.

    Never raises for the file's sake: a missing file is the first run, and
    an unreadable or corrupt one (or a bad value in it) is logged as a
    warning and replaced by defaults.
    """
    path = path or default_settings_path()
    try:
        with path.open("rb") as file:
            data = file.read(MAX_SETTINGS_BYTES + 1)
    except FileNotFoundError:
        log.debug("no settings file at %s; using the defaults", path)
        return ClientSettings()
    except OSError as exc:
        log.warning(
            "cannot read the settings file %s (%s); using the defaults", path, exc
        )
        return ClientSettings()
    if len(data) > MAX_SETTINGS_BYTES:
        log.warning("the settings file %s is too large; using the defaults", path)
        return ClientSettings()
    try:
        table = tomllib.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        # TOMLDecodeError and UnicodeDecodeError are ValueErrors; absurd
        # nesting can exhaust the parser's recursion.
        log.warning(
            "the settings file %s is not valid TOML (%s); using the defaults", path, exc
        )
        return ClientSettings()
    return _from_table(table, path)


def _from_table(table: Mapping[str, Any], path: Path) -> ClientSettings:
    settings = ClientSettings()
    for field in attrs.fields(ClientSettings):
        if field.name not in table:
            continue
        value = table[field.name]
        # Exact type: TOML `true` must not pass for a port (bool is an int).
        if type(value) is not field.type:
            log.warning(
                "settings file %s: %s should be a %s; using the default",
                path,
                field.name,
                field.type,
            )
            continue
        try:
            settings = attrs.evolve(settings, **{field.name: value})
        except ValueError as exc:
            log.warning(
                "settings file %s: ignoring %s (%s); using the default",
                path,
                field.name,
                exc,
            )
    unknown = sorted(set(table) - {f.name for f in attrs.fields(ClientSettings)})
    if unknown:
        log.info("settings file %s: ignoring unknown keys %s", path, ", ".join(unknown))
    return settings


def save_settings(settings: ClientSettings, path: Path | None = None) -> Path:
    """Write the settings atomically: readers see the old file or the new one.

    Returns:
        The path written.

    Raises:
        OSError: the directory or the file could not be written (the old
            file, if any, is left as it was).
    """
    path = path or default_settings_path()
    text = dumps(attrs.asdict(settings))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(
        prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
    )
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        Path(temp_name).replace(path)  # os.replace: atomic on one file system
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


# --- a tiny TOML writer: flat tables of str, int and bool ---------------------------

_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return f"\\u{code:04X}"
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError("a lone surrogate cannot be written to TOML")
    return char


def _string(text: str) -> str:
    return '"' + "".join(_escape_char(c) for c in text) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: object) -> str:
    # bool before int: True is an int too.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not _TOML_INT_MIN <= value <= _TOML_INT_MAX:
            raise ValueError(f"{value} does not fit a TOML integer")
        return str(value)
    if isinstance(value, str):
        return _string(value)
    raise TypeError(f"cannot write {type(value).__name__} to the settings file")


def dumps(table: Mapping[str, object]) -> str:
    """A flat table of str, int and bool values as TOML (`tomllib.loads` reads it back).

    Raises:
        TypeError: a value of another type.
        ValueError: an integer beyond 64 bits or a string with a lone surrogate.
    """
    lines = ["# Chinwag client settings; rewritten by the client."]
    lines += [f"{_key(key)} = {_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
