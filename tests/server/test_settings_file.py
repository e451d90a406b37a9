"""`chinwag-server --config FILE` and `--print-config`."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import settings_file
from server.__main__ import build_parser, config_from_args, parse_args


def _args(tmp_path: Path, text: str, *argv: str):
    path = tmp_path / "server.toml"
    path.write_text(text, encoding="utf-8")
    return parse_args(build_parser(), ["--config", str(path), *argv])


def test_the_file_sets_defaults_and_options_win(tmp_path):
    args = _args(
        tmp_path,
        'port = 7777\nrate-burst = 40\nrequire-account = true\ntls-name = ["a.example"]\n',
        "--port",
        "7000",
    )
    config = config_from_args(args)
    assert (config.port, config.rate_burst) == (7000, 40)
    assert config.require_account
    assert config.tls_names == ("a.example",)


def test_print_config_is_a_file_that_gives_the_same_settings(tmp_path, capsys):
    args = _args(
        tmp_path, 'motd = "be \\"nice\\""\nrate = 12.5\n', "--max-clients", "9"
    )
    dumped = settings_file.dump(args, build_parser())
    again = _args(tmp_path, dumped)
    assert config_from_args(again) == config_from_args(args)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("bogus = 1\n", "unknown setting 'bogus'"),
        ('port = "many"\n', "port"),
        ("require-account = 1\n", "true or false"),
        ('registration = "sometimes"\n', "must be one of"),
        ("port = [1\n", "not valid TOML"),
    ],
)
def test_mistakes_in_the_file_are_named(tmp_path, capsys, text, complaint):
    with pytest.raises(SystemExit) as exit_info:
        _args(tmp_path, text)
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err


_KEYS = sorted(settings_file.file_options(build_parser()))
_VALUES = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300)
@given(st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=10), _VALUES))
def test_any_table_is_settings_or_a_clear_error(table):
    parser = build_parser()
    try:
        defaults = settings_file._defaults(
            table, settings_file.file_options(parser), Path("server.toml")
        )
    except settings_file.SettingsFileError:
        return
    parser.set_defaults(**defaults)
    args = parser.parse_args([])
    try:
        config_from_args(args)
    except ValueError:
        pass  # out of range for the server: reported by the CLI as a usage error
