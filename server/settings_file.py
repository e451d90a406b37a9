"""`--config FILE`: server settings in TOML, named like the command-line options.

A key is an option's long name without the dashes (`port = 9090`,
`rate-burst = 40`, `tls-cert = "/etc/…/fullchain.pem"`, `require-account =
true`, `tls-name = ["chat.example.org"]`). The file supplies defaults;
options given on the command line win. `--print-config` writes what is in
effect in the same form.
"""

from __future__ import annotations

import argparse
import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_NOT_IN_FILE = {"help", "config", "print_config", "version"}


class SettingsFileError(ValueError):
    """The file cannot be used; the message says which key and why."""


def file_options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """The options a settings file may set, by their key."""
    return {
        action.option_strings[-1].removeprefix("--"): action
        for action in parser._actions  # noqa: SLF001 - argparse has no public list
        if action.option_strings
        and action.option_strings[-1].startswith("--")
        and action.dest not in _NOT_IN_FILE
    }


def load(path: Path, parser: argparse.ArgumentParser) -> dict[str, Any]:
    """Read `path` into argparse defaults (dest → value), checked like options.

    Raises:
        SettingsFileError: unreadable, not TOML, an unknown key or a bad value.
    """
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SettingsFileError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SettingsFileError(f"{path} is not valid TOML: {exc}") from exc
    return _defaults(table, file_options(parser), path)


def _defaults(
    table: Mapping[str, Any], options: dict[str, argparse.Action], path: Path
) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for key, value in table.items():
        action = options.get(key)
        if action is None:
            known = ", ".join(sorted(options))
            raise SettingsFileError(f"{path}: unknown setting {key!r} (known: {known})")
        defaults[action.dest] = _value(key, value, action, path)
    return defaults


def _value(key: str, value: Any, action: argparse.Action, path: Path) -> Any:
    if action.nargs == 0:  # a flag such as --require-account
        if not isinstance(value, bool):
            raise SettingsFileError(f"{path}: {key} must be true or false")
        return value
    if isinstance(action, argparse._AppendAction):  # noqa: SLF001
        items = value if isinstance(value, list) else [value]
        return [_convert(key, item, action, path) for item in items]
    return _convert(key, value, action, path)


def _convert(key: str, value: Any, action: argparse.Action, path: Path) -> Any:
    if isinstance(value, bool | dict | list):
        raise SettingsFileError(f"{path}: {key} cannot be {value!r}")
    convert: Any = action.type if callable(action.type) else str
    try:
        numeric = convert in (int, float) and isinstance(value, int | float)
        converted = convert(value) if numeric else convert(str(value))
    except (TypeError, ValueError, OverflowError) as exc:
        raise SettingsFileError(f"{path}: {key} = {value!r}: {exc}") from exc
    if isinstance(converted, float) and not math.isfinite(converted):
        raise SettingsFileError(f"{path}: {key} must be a finite number")
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(map(str, action.choices))
        raise SettingsFileError(f"{path}: {key} must be one of {choices}")
    return converted


def dump(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """What is in effect, as a settings file (usable with --config)."""
    lines = ["# chinwag-server settings in effect"]
    for key, action in sorted(file_options(parser).items()):
        value = getattr(args, action.dest, None)
        if value is None or value == []:
            lines.append(f"# {key} = (not set)")
            continue
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
