"""The settings file: defaults, round trips, atomic writes, and files that are not ours."""

from __future__ import annotations

import logging
import re
import tomllib

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clients.core.commands import CommandError, validate_nick
from clients.core.settings import (
    THEMES,
    ClientSettings,
    InvalidSetting,
    change_setting,
    default_settings_path,
    describe_settings,
    dumps,
    load_settings,
    parse_port,
    save_settings,
    validate_host,
)

# Hypothesis reuses a function-scoped tmp_path across examples; every example
# writes the same file, so that is what we want.
_tmp_ok = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])

_chars = st.characters(exclude_categories=["Cs"])
_scalars = st.one_of(
    st.text(_chars, max_size=30),
    st.integers(-(2**63), 2**63 - 1),
    st.booleans(),
)
_tables = st.dictionaries(st.text(_chars, max_size=12), _scalars, max_size=8)


def _valid_nick(raw: str) -> bool:
    try:
        return validate_nick(raw) == raw
    except CommandError:
        return False


_nicks = st.text(_chars, min_size=1, max_size=16).filter(_valid_nick)
_hosts = st.text(
    st.characters(categories=["L", "M", "N", "P", "S"]), min_size=1, max_size=40
).filter(lambda h: h[0] != "[" and h[-1] != "]")
_settings = st.builds(
    ClientSettings,
    host=_hosts,
    port=st.integers(1, 65535),
    nick=st.one_of(st.just(""), _nicks),
    theme=st.sampled_from(THEMES),
    timestamps=st.text(
        st.characters(categories=["L", "N", "P"], include_characters=" :"), max_size=20
    ).map(lambda t: t.replace("%", "")),
    notifications=st.booleans(),
)


def test_defaults_when_there_is_no_file(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    assert load_settings(tmp_path / "none.toml") == ClientSettings()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_default_path_follows_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_settings_path() == tmp_path / "chinwag" / "settings.toml"
    saved = ClientSettings(host="chat.example.org", port=7000, nick="Zoë")
    assert save_settings(saved) == tmp_path / "chinwag" / "settings.toml"
    assert load_settings() == saved


def test_save_then_load_and_the_file_is_plain_toml(tmp_path):
    path = tmp_path / "deep" / "er" / "settings.toml"
    saved = ClientSettings(host="::1", port=1, nick="ann")
    save_settings(saved, path)
    assert load_settings(path) == saved
    assert tomllib.loads(path.read_text("utf-8")) == {
        "host": "::1",
        "port": 1,
        "nick": "ann",
        "login": False,
        "theme": "system",
        "timestamps": "%H:%M",
        "notifications": True,
    }
    assert [p.name for p in path.parent.iterdir()] == ["settings.toml"]


def test_saving_replaces_the_file_whole(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('host = "old.example"\nport = 1234\n# a comment\n', "utf-8")
    old_inode = path.stat().st_ino
    save_settings(ClientSettings(nick="bob"), path)
    # os.replace swaps in a new file rather than rewriting the old one in place,
    # so a crash mid-write can never leave half a file.
    assert path.stat().st_ino != old_inode
    assert load_settings(path) == ClientSettings(nick="bob")
    assert [p.name for p in tmp_path.iterdir()] == ["settings.toml"]


def test_a_failed_save_leaves_the_old_file_and_no_temp(tmp_path):
    path = tmp_path / "settings.toml"
    save_settings(ClientSettings(nick="ann"), path)
    blocked = tmp_path / "blocked"
    blocked.write_text("a file, not a directory", "utf-8")
    with pytest.raises(OSError):
        save_settings(ClientSettings(nick="bob"), blocked / "settings.toml")
    assert load_settings(path) == ClientSettings(nick="ann")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "settings.toml"]


@pytest.mark.parametrize(
    ("content", "expected", "warning"),
    [
        (b"port = 70000\n", ClientSettings(), "port"),
        (b'port = "9000"\n', ClientSettings(), "port"),
        (b"port = true\n", ClientSettings(), "port"),
        (b'nick = "b b"\nport = 4000\n', ClientSettings(port=4000), "nick"),
        (b'host = ""\nnick = "ann"\n', ClientSettings(nick="ann"), "host"),
        (b'host = "a b"\n', ClientSettings(), "host"),
        (b"host = 1\n", ClientSettings(), "host"),
        (b"[host]\nname = 'x'\n", ClientSettings(), "host"),
        (b"port = 9000\nport = 9001\n", ClientSettings(), "not valid TOML"),
        (b"\xff\xfe junk", ClientSettings(), "not valid TOML"),
        (b"x" * 70_000, ClientSettings(), "too large"),
    ],
)
def test_bad_content_falls_back_per_key_with_a_warning(
    tmp_path, caplog, content, expected, warning
):
    path = tmp_path / "settings.toml"
    path.write_bytes(content)
    assert load_settings(path) == expected
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(warning in w for w in warnings), warnings


def test_unknown_keys_are_ignored(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text('colour_scheme = "dark"\nnick = "ann"\n', "utf-8")
    assert load_settings(path) == ClientSettings(nick="ann")


def test_an_unreadable_file_gives_defaults_and_a_warning(tmp_path, caplog):
    path = tmp_path / "settings.toml"
    path.mkdir()  # reading a directory fails, whoever we run as
    assert load_settings(path) == ClientSettings()
    assert "cannot read the settings file" in caplog.text


@_tmp_ok
@given(data=st.binary(max_size=300))
def test_random_bytes_as_the_file_never_raise(tmp_path, data):
    path = tmp_path / "settings.toml"
    path.write_bytes(data)
    loaded = load_settings(path)
    assert isinstance(loaded, ClientSettings)
    attrs.validate(loaded)


@_tmp_ok
@given(
    text=st.text(
        st.sampled_from("[]{}=\"'\\#.,\n tfrue0123456789-_:aeost"), max_size=120
    )
)
def test_random_toml_ish_text_as_the_file_never_raises(tmp_path, text):
    path = tmp_path / "settings.toml"
    path.write_text(text, "utf-8")
    attrs.validate(load_settings(path))


def test_deep_nesting_is_a_corrupt_file_not_a_crash(tmp_path, caplog):
    path = tmp_path / "settings.toml"
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n", "utf-8")
    assert load_settings(path) == ClientSettings()
    assert "not valid TOML" in caplog.text


@given(table=_tables)
def test_the_writer_round_trips_through_tomllib(table):
    assert tomllib.loads(dumps(table)) == table


@_tmp_ok
@given(saved=_settings)
def test_settings_round_trip_through_the_file(tmp_path, saved):
    path = tmp_path / "settings.toml"
    save_settings(saved, path)
    assert load_settings(path) == saved


@pytest.mark.parametrize(
    ("value", "error"),
    [(2**63, ValueError), (1.5, TypeError), (None, TypeError), ("\ud800", ValueError)],
)
def test_the_writer_refuses_what_toml_cannot_hold(value, error):
    with pytest.raises(error):
        dumps({"k": value})


@pytest.mark.parametrize(
    ("raw", "port"), [("1", 1), (" 9090 ", 9090), ("65535", 65535), (443, 443)]
)
def test_ports(raw, port):
    assert parse_port(raw) == port


@pytest.mark.parametrize("raw", ["", "0", "65536", "-1", "80a", "٣", "1e3", True])
def test_bad_ports(raw):
    with pytest.raises(InvalidSetting, match="1 to 65535"):
        parse_port(raw)


@pytest.mark.parametrize(
    ("raw", "host"),
    [("example.org", "example.org"), (" ::1 ", "::1"), ("[fe80::1]", "fe80::1")],
)
def test_hosts(raw, host):
    assert validate_host(raw) == host


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "enter the server"),
        ("[]", "enter the server"),
        ("a b", "spaces"),
        ("a\x00", "control"),
        ("a" * 254, "at most"),
    ],
)
def test_bad_hosts(raw, message):
    with pytest.raises(InvalidSetting, match=message):
        validate_host(raw)


@pytest.mark.parametrize(
    ("key", "value", "changed"),
    [
        ("theme", "dark", {"theme": "dark"}),
        ("THEME", " Light ", {"theme": "light"}),
        ("timestamps", "%H:%M:%S", {"timestamps": "%H:%M:%S"}),
        ("timestamps", "[%d %b %H:%M]", {"timestamps": "[%d %b %H:%M]"}),
        ("timestamps", "off", {"timestamps": ""}),
        ("timestamps", '""', {"timestamps": ""}),
        ("notifications", "off", {"notifications": False}),
        ("notifications", "Yes", {"notifications": True}),
        ("notifications", False, {"notifications": False}),
        ("port", "7000", {"port": 7000}),
        ("port", 7001, {"port": 7001}),
        ("host", " [::1] ", {"host": "::1"}),
        ("nick", "Zoe\u0308", {"nick": "Zoë"}),
        ("nick", "", {"nick": ""}),
        ("login", "on", {"login": True}),
    ],
)
def test_a_setting_changes_from_what_the_user_typed(key, value, changed):
    assert change_setting(ClientSettings(), key, value) == attrs.evolve(
        ClientSettings(), **changed
    )


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("colour", "red", "there is no setting 'colour'; the settings are host, port"),
        ("theme", "purple", "the theme is one of system, light, dark, not 'purple'"),
        ("theme", True, "theme is text"),
        ("notifications", "maybe", "notifications is on or off, not 'maybe'"),
        ("port", "0", "the port is a number from 1 to 65535"),
        ("port", True, "the port is a number from 1 to 65535"),
        ("timestamps", "%H" * 21, "at most 40 characters"),
        ("timestamps", "%H\n", "control characters"),
        ("nick", "a b", "spaces"),
        ("host", "", "enter the server's host"),
    ],
)
def test_a_bad_setting_says_why_and_changes_nothing(key, value, problem):
    with pytest.raises(InvalidSetting, match=re.escape(problem)):
        change_setting(ClientSettings(), key, value)


def test_settings_are_shown_as_typed():
    shown = describe_settings(ClientSettings(nick="ann"))
    assert shown == {
        "host": '"127.0.0.1"',
        "port": "9090",
        "nick": '"ann"',
        "login": "off",
        "theme": '"system"',
        "timestamps": '"%H:%M"',
        "notifications": "on",
    }


def test_a_bad_theme_in_the_file_falls_back_to_the_default(tmp_path, caplog):
    path = tmp_path / "settings.toml"
    path.write_text(
        'theme = "neon"\ntimestamps = "%H"\nnotifications = "yes"\n', "utf-8"
    )
    assert load_settings(path) == ClientSettings(timestamps="%H")
    assert "ignoring theme" in caplog.text
    assert "notifications should be a" in caplog.text
