"""server/store/rooms.py: rooms, members, bans and invites in a real SQLite file
(issue 15).
"""

from __future__ import annotations

import sqlite3
import stat
import threading

import pytest

from protocol import LOBBY, RoomRole, room_key
from server.store import (
    LATEST_VERSION,
    MIGRATIONS,
    NoSuchRoom,
    RoomExists,
    RoomRecord,
    RoomStore,
    SqliteMessageStore,
    SqliteRoomStore,
    SqliteStore,
    account_party,
    guest_party,
)
from tests.server.store_helpers import (
    WAIT,
    add_account,
    check_a_closed_store_refuses,
    check_a_failed_read_is_a_store_error,
    check_a_newer_file_is_refused,
    check_a_non_database_is_refused_and_kept,
    check_an_older_accounts_file_gains_the_store,
    msg,
    raw,
    run_all,
    store_fixtures,
)

ANN, BOB, CAT = (account_party(name) for name in ("ann", "bob", "cat"))
GUEST = guest_party("00ff")

_db_path, _store = store_fixtures(SqliteRoomStore)


def create(
    store: RoomStore, name: str, owner: str = ANN, at: float = 1.0
) -> RoomRecord:
    return store.create_room(
        key=room_key(name), name=name, owner_party=owner, created_at=at
    )


# --- opening ---------------------------------------------------------------------


def test_a_new_file_is_private_at_the_latest_step_with_foreign_keys(store, db_path):
    typed: RoomStore = store  # the protocol is what the hub sees
    assert typed.rooms() == []
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600
    assert raw(db_path, "PRAGMA user_version") == [(LATEST_VERSION,)]
    assert raw(db_path, "PRAGMA journal_mode") == [("wal",)]
    assert store._db.connection.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_every_connection_to_the_file_enforces_foreign_keys(db_path):
    with (
        SqliteMessageStore(db_path) as messages,
        SqliteStore(db_path) as accounts,
        SqliteRoomStore(db_path) as rooms,
    ):
        connections = [
            messages._writer.connection,
            messages._reader.connection,
            messages._searcher.connection,
            accounts._db.connection,
            rooms._db.connection,
        ]
        for connection in connections:
            assert connection.execute("PRAGMA foreign_keys").fetchone() == (1,)


def test_an_accounts_file_from_step_3_gains_rooms(db_path):
    check_an_older_accounts_file_gains_the_store(
        SqliteRoomStore,
        db_path,
        MIGRATIONS[:3],
        write=lambda store: create(store, "#Rust"),
        read=lambda store: [room.name for room in store.rooms()],
        expected=["#Rust"],
    )


def test_a_file_from_a_newer_server_is_refused(db_path):
    check_a_newer_file_is_refused(SqliteRoomStore, db_path)


def test_a_file_that_is_not_a_database_is_refused_and_kept(db_path):
    check_a_non_database_is_refused_and_kept(SqliteRoomStore, db_path)


def test_a_failed_read_is_a_store_error(store, db_path):
    check_a_failed_read_is_a_store_error(
        db_path, "rooms", store.rooms, "reading rooms failed"
    )


def test_a_closed_store_raises_store_error(db_path):
    store = SqliteRoomStore(db_path)
    check_a_closed_store_refuses(
        store,
        store.rooms,
        lambda: create(store, "#Rust"),
        lambda: store.add_member("#rust", ANN, RoomRole.MEMBER, 1.0),
    )


# --- rooms -----------------------------------------------------------------------


def test_a_room_is_created_read_changed_and_deleted(store):
    made = create(store, "#Rust", owner=BOB, at=12.5)
    assert made == RoomRecord(
        key="#rust",
        name="#Rust",
        topic="",
        invite_only=False,
        owner_party=BOB,
        created_at=12.5,
    )
    assert store.room("#rust") == made
    assert store.room("#Rust") is None  # by key only
    assert store.set_topic("#rust", "borrowing, checked")
    assert store.set_invite_only("#rust", True)
    changed = store.room("#rust")
    assert changed is not None
    assert (changed.topic, changed.invite_only) == ("borrowing, checked", True)
    assert store.set_invite_only("#rust", False)
    assert store.room("#rust").invite_only is False
    assert store.delete_room("#rust")
    assert store.room("#rust") is None
    assert not store.delete_room("#rust")
    assert not store.set_topic("#rust", "gone")
    assert not store.set_invite_only("#rust", True)


@pytest.mark.parametrize(
    "again", ["#Rust", "#rust", "#RUST", "#ru\u0455t"]
)  # Cyrillic dze
def test_a_taken_key_is_refused_whatever_the_spelling(store, again):
    create(store, "#Rust", owner=ANN)
    with pytest.raises(RoomExists, match="exists"):
        create(store, again, owner=BOB)
    assert store.rooms() == [store.room("#rust")]
    assert store.room("#rust").owner_party == ANN


@pytest.mark.parametrize(
    ("key", "name"), [("#rust", "#go"), ("rust", "Rust"), ("#Rust", "#Rust")]
)
def test_a_key_that_is_not_the_names_key_is_a_caller_bug(store, key, name):
    with pytest.raises(ValueError, match="key"):
        store.create_room(key=key, name=name, owner_party=ANN, created_at=1.0)
    assert store.rooms() == []


def test_rooms_are_listed_by_name_ignoring_case(store):
    for name in ("#zeta", "#Beta", "#alpha", "#Émile", "#gamma", "#Delta"):
        create(store, name)
    assert [room.name for room in store.rooms()] == [
        "#alpha",
        "#Beta",
        "#Delta",
        "#gamma",
        "#zeta",
        "#Émile",
    ]


def test_the_lobby_may_have_a_row_for_its_topic(db_path):
    with SqliteRoomStore(db_path) as store:
        lobby = store.create_room(
            key=room_key(LOBBY), name=LOBBY, owner_party="", created_at=1.0
        )
        assert lobby.key == LOBBY
        assert store.set_topic(LOBBY, "welcome")
    with SqliteRoomStore(db_path) as store:
        assert store.room(LOBBY).topic == "welcome"
        assert store.members(LOBBY) == {}


def test_topics_keep_any_text(store):
    create(store, "#Rust")
    for topic in ("", "ünïcödé 日本 💥", "'; DROP TABLE rooms; --", "x" * 2000):
        assert store.set_topic("#rust", topic)
        assert store.room("#rust").topic == topic


# --- members ---------------------------------------------------------------------


def test_members_join_change_role_and_leave(store):
    create(store, "#Rust")
    store.add_member("#rust", ANN, RoomRole.OWNER, 1.0)
    store.add_member("#rust", BOB, RoomRole.MEMBER, 2.0)
    store.add_member("#rust", GUEST, RoomRole.MEMBER, 3.0)
    assert store.members("#rust") == {
        ANN: RoomRole.OWNER,
        BOB: RoomRole.MEMBER,
        GUEST: RoomRole.MEMBER,
    }
    assert list(store.members("#rust")) == [ANN, BOB, GUEST]  # as they joined
    store.add_member("#rust", BOB, RoomRole.OPERATOR, 9.0)  # an upsert
    assert store.members("#rust")[BOB] is RoomRole.OPERATOR
    assert list(store.members("#rust")) == [ANN, BOB, GUEST]  # joined_at kept
    assert raw(
        store.path,
        "SELECT joined_at FROM room_members WHERE room_key = '#rust' AND party = ?",
        BOB,
    ) == [(2.0,)]
    assert store.remove_member("#rust", BOB)
    assert not store.remove_member("#rust", BOB)
    assert store.members("#rust") == {ANN: RoomRole.OWNER, GUEST: RoomRole.MEMBER}
    assert store.members("#nowhere") == {}


def test_a_member_of_a_missing_room_is_refused(store):
    with pytest.raises(NoSuchRoom, match="#nowhere"):
        store.add_member("#nowhere", ANN, RoomRole.MEMBER, 1.0)
    assert raw(store.path, "SELECT count(*) FROM room_members") == [(0,)]


def test_a_role_must_be_a_room_role(store):
    create(store, "#Rust")
    with pytest.raises(ValueError, match="RoomRole"):
        store.add_member("#rust", ANN, 7, 1.0)
    connection = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            connection.execute(
                "INSERT INTO room_members VALUES ('#rust', 'a:ann', 3, 1.0)"
            )
    finally:
        connection.close()


def test_rooms_of_a_party_by_name_with_its_roles(store):
    for name in ("#zeta", "#Beta", "#alpha", "#Delta"):
        create(store, name)
    store.add_member("#zeta", BOB, RoomRole.OWNER, 1.0)
    store.add_member(room_key("#Beta"), BOB, RoomRole.MEMBER, 2.0)
    store.add_member("#alpha", BOB, RoomRole.OPERATOR, 3.0)
    store.add_member(room_key("#Delta"), ANN, RoomRole.OWNER, 4.0)
    assert [(room.name, role) for room, role in store.rooms_of(BOB)] == [
        ("#alpha", RoomRole.OPERATOR),
        ("#Beta", RoomRole.MEMBER),
        ("#zeta", RoomRole.OWNER),
    ]
    assert [room.key for room, _ in store.rooms_of(ANN)] == ["#delta"]
    assert store.rooms_of(CAT) == []
    store.set_topic("#alpha", "first")
    assert store.rooms_of(BOB)[0][0] == store.room("#alpha")


def test_membership_and_settings_survive_a_reopen(db_path):
    with SqliteRoomStore(db_path) as store:
        create(store, "#Rust", owner=ANN, at=5.0)
        store.add_member("#rust", ANN, RoomRole.OWNER, 5.0)
        store.add_member("#rust", BOB, RoomRole.OPERATOR, 6.0)
        store.set_topic("#rust", "kept")
        store.set_invite_only("#rust", True)
        store.add_ban("#rust", CAT, "spam", 7.0)
        store.add_invite("#rust", GUEST, 8.0)
        before = (store.rooms(), store.members("#rust"), store.rooms_of(BOB))
    with SqliteRoomStore(db_path) as store:
        assert (store.rooms(), store.members("#rust"), store.rooms_of(BOB)) == before
        assert store.room("#rust").topic == "kept"
        assert store.bans("#rust") == {CAT}
        assert store.take_invite("#rust", GUEST)


# --- bans and invites ------------------------------------------------------------


def test_bans_are_added_replaced_and_lifted(store):
    create(store, "#Rust")
    create(store, "#go")
    store.add_ban("#rust", BOB, "spam", 1.0)
    store.add_ban("#rust", GUEST, "", 2.0)
    store.add_ban("#go", CAT, "off topic", 3.0)
    assert store.bans("#rust") == {BOB, GUEST}
    assert store.bans("#go") == {CAT}
    store.add_ban("#rust", BOB, "spam again", 4.0)  # again: replaces
    assert raw(
        store.path,
        "SELECT reason, created_at FROM room_bans WHERE party = ?",
        BOB,
    ) == [("spam again", 4.0)]
    assert store.remove_ban("#rust", BOB)
    assert not store.remove_ban("#rust", BOB)
    assert not store.remove_ban("#go", BOB)
    assert store.bans("#rust") == {GUEST}
    assert store.bans("#nowhere") == set()
    with pytest.raises(NoSuchRoom):
        store.add_ban("#nowhere", BOB, "x", 1.0)


def test_a_ban_leaves_membership_and_invites_to_the_caller(store):
    create(store, "#Rust")
    store.add_member("#rust", BOB, RoomRole.MEMBER, 1.0)
    store.add_invite("#rust", BOB, 1.0)
    store.add_ban("#rust", BOB, "", 2.0)
    assert BOB in store.members("#rust")
    assert store.take_invite("#rust", BOB)


def test_an_invite_is_taken_once(store):
    create(store, "#Rust")
    store.add_invite("#rust", BOB, 1.0)
    store.add_invite("#rust", BOB, 5.0)  # again: one invite, the newer time
    assert raw(store.path, "SELECT created_at FROM room_invites") == [(5.0,)]
    assert not store.take_invite("#rust", CAT)
    assert not store.take_invite("#go", BOB)
    assert store.take_invite("#rust", BOB)
    assert not store.take_invite("#rust", BOB)
    with pytest.raises(NoSuchRoom):
        store.add_invite("#nowhere", BOB, 1.0)


def test_an_invite_is_taken_once_by_racing_threads(store):
    create(store, "#Rust")
    store.add_invite("#rust", BOB, 1.0)
    results: list[bool] = []
    start = threading.Barrier(8)

    def take() -> None:
        start.wait(WAIT)
        results.append(store.take_invite("#rust", BOB))

    assert run_all(*[take] * 8) == []
    assert sorted(results) == [False] * 7 + [True]


# --- deleting a room -------------------------------------------------------------


def test_deleting_a_room_deletes_its_members_bans_and_invites(store, db_path):
    create(store, "#Rust")
    create(store, "#go")
    for key in ("#rust", "#go"):
        store.add_member(key, ANN, RoomRole.OWNER, 1.0)
        store.add_ban(key, BOB, "", 1.0)
        store.add_invite(key, CAT, 1.0)
    assert store.delete_room("#rust")
    for table in ("room_members", "room_bans", "room_invites"):
        assert raw(db_path, f"SELECT DISTINCT room_key FROM {table}") == [("#go",)]  # noqa: S608 - constant names
    assert [room.key for room, _ in store.rooms_of(ANN)] == ["#go"]
    # A new room under the old name starts empty.
    create(store, "#RUST", owner=CAT, at=9.0)
    assert store.members("#rust") == {}
    assert store.bans("#rust") == set()
    assert not store.take_invite("#rust", CAT)
    assert store.room("#rust").name == "#RUST"


def test_deleting_a_room_keeps_its_messages_apart_from_a_new_one(db_path):
    with SqliteRoomStore(db_path) as rooms, SqliteMessageStore(db_path) as messages:
        create(rooms, "#Rust")
        rooms.add_member("#rust", ANN, RoomRole.OWNER, 1.0)
        messages.append([msg(1, "kept", room="#Rust")])
        assert rooms.delete_room("#rust")
        # Kept (the sender's export still has it)...
        assert [m.text for m in messages.export(ANN)] == ["kept"]
        # ...but a new #rust starts with no history.
        create(rooms, "#rust")
        assert messages.page(ANN, before=9, after=0, limit=9, rooms=["#rust"]) == (
            [],
            False,
        )


# --- sharing the file ------------------------------------------------------------


def test_rooms_messages_and_accounts_share_the_file_from_many_threads(db_path):
    names = [f"#room{n}" for n in range(8)]
    keys = [room_key(name) for name in names]
    with (
        SqliteRoomStore(db_path) as rooms,
        SqliteMessageStore(db_path) as messages,
        SqliteStore(db_path) as accounts,
    ):
        for name in names:
            create(rooms, name)

        def join(n: int) -> None:
            for i in range(25):
                party = account_party(f"u{n}-{i}")
                rooms.add_member(keys[i % 8], party, RoomRole.MEMBER, float(i))
                if i % 5 == 0:
                    rooms.remove_member(keys[i % 8], party)

        def write() -> None:
            for i in range(1, 101):
                messages.append([msg(i, f"line {i}", room=names[i % 8])])
                if i % 20 == 0:
                    add_account(accounts, f"acct{i}")

        errors = run_all(*(lambda n=n: join(n) for n in range(4)), write)
        assert not errors
        assert sum(len(rooms.members(key)) for key in keys) == 4 * 20
        assert messages.last_id() == 100
        assert accounts.count_accounts() == 5
        page, _ = messages.page(BOB, before=999, after=0, limit=999, rooms=[keys[0]])
        assert [m.id for m in page] == list(range(8, 101, 8))
