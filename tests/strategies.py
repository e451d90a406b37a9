"""Hypothesis strategies that build every message type within its limits."""

from __future__ import annotations

from hypothesis import strategies as st

import protocol as p
from protocol.constants import MAX_NAME_CHARS, MAX_PING_PAYLOAD, MAX_REASON_CHARS

# Any Unicode scalar value except surrogates: what UTF-8 can carry.
_chars = st.characters(exclude_categories=["Cs"])


def _text(min_size: int = 0, max_size: int = 40) -> st.SearchStrategy[str]:
    return st.text(_chars, min_size=min_size, max_size=max_size)


names = _text(0, MAX_NAME_CHARS)
nicks = _text(1, MAX_NAME_CHARS)
chat_texts = st.one_of(
    _text(1, 60), st.text(_chars, min_size=3990, max_size=p.MAX_TEXT_CHARS)
)
reasons = _text(0, MAX_REASON_CHARS)
u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**64 - 1)
payloads = st.binary(max_size=MAX_PING_PAYLOAD)
caps = st.lists(names, max_size=5).map(tuple)

messages: st.SearchStrategy[p.Message] = st.one_of(
    st.builds(
        p.Hello,
        version=st.integers(0, 0xFFFF),
        client_name=names,
        nick=nicks,
        capabilities=caps,
    ),
    st.builds(
        p.Welcome,
        version=st.integers(0, 0xFFFF),
        nick=nicks,
        server_name=names,
        capabilities=caps,
        motd=reasons,
    ),
    st.builds(p.Ping, payload=payloads),
    st.builds(p.Pong, payload=payloads),
    st.builds(p.Bye, reason=reasons),
    st.builds(p.Error, code=st.sampled_from(p.ErrorCode), text=reasons, ref=u32),
    st.builds(
        p.Limits,
        rate_burst=st.integers(0, 0xFFFF),
        rate_interval_ms=u32,
        flood_kick_after=st.integers(0, 0xFFFF),
        max_frame_size=u32,
    ),
    st.builds(
        p.Identify,
        token=st.binary(max_size=64),
        password=st.none() | _text(1, 256),
    ),
    st.builds(
        p.SessionToken,
        token=st.binary(max_size=64),
        account=st.none() | nicks,
        resumed=st.booleans(),
        last_ref=u32,
    ),
    st.builds(p.SendText, ref=u32, text=chat_texts),
    st.builds(p.SendDirect, ref=u32, target=nicks, text=chat_texts),
    st.builds(
        p.Delivered,
        id=u64,
        timestamp_ms=u64,
        sender=nicks,
        target=st.none() | nicks,
        text=chat_texts,
        ref=u32,
    ),
    st.just(p.ListUsers()),
    st.builds(
        p.UserList, nicks=st.lists(nicks, max_size=20).map(tuple), final=st.booleans()
    ),
    st.builds(p.UserJoined, nick=nicks),
    st.builds(p.UserLeft, nick=nicks, reason=reasons),
    st.builds(p.ChangeNick, ref=u32, nick=nicks),
    st.builds(p.NickChanged, old=nicks, new=nicks),
    st.builds(p.Register, ref=u32, password=_text(1, 256), invite=st.none() | nicks),
    st.builds(
        p.ChangePassword,
        ref=u32,
        old_password=_text(1, 256),
        new_password=_text(1, 256),
    ),
    st.builds(p.Logout, ref=u32, everywhere=st.booleans()),
    st.builds(
        p.AccountStatus,
        ref=u32,
        account=st.none() | nicks,
        admin=st.booleans(),
        token=st.binary(max_size=64),
    ),
    st.builds(
        p.Moderate,
        ref=u32,
        action=st.sampled_from(p.ModerationAction),
        target=names,
        reason=reasons,
        minutes=u32,
    ),
    st.builds(p.Moderated, ref=u32, text=reasons),
    st.builds(
        p.Post,
        ref=u32,
        txn=st.binary(min_size=p.TXN_BYTES, max_size=p.TXN_BYTES),
        target=st.none() | nicks,
        text=chat_texts,
    ),
    st.builds(
        p.FetchHistory,
        ref=u32,
        before=u64,
        after=u64,
        limit=st.integers(0, 0xFFFF),
        conversation=st.none() | nicks,
    ),
    st.builds(
        p.Search,
        ref=u32,
        query=_text(1, p.MAX_QUERY_CHARS),
        before=u64,
        limit=st.integers(0, 0xFFFF),
        conversation=st.none() | nicks,
    ),
    st.builds(
        p.Recalled,
        ref=u32,
        id=u64,
        timestamp_ms=u64,
        sender=nicks,
        target=st.none() | nicks,
        text=chat_texts,
    ),
    st.builds(p.HistoryEnd, ref=u32, count=u32, more=st.booleans()),
    st.builds(p.JoinRoom, ref=u32, room=nicks),
    st.builds(p.PartRoom, ref=u32, room=nicks, reason=reasons),
    st.builds(
        p.RoomJoined,
        ref=u32,
        room=nicks,
        topic=reasons,
        invite_only=st.booleans(),
        role=st.sampled_from(p.RoomRole),
    ),
    st.builds(
        p.RoomMembers,
        ref=u32,
        room=nicks,
        nicks=st.lists(nicks, max_size=20).map(tuple),
        final=st.booleans(),
    ),
    st.builds(p.ListRooms, ref=u32),
    st.builds(
        p.RoomInfo,
        ref=u32,
        room=nicks,
        members=u32,
        topic=reasons,
        invite_only=st.booleans(),
        final=st.booleans(),
    ),
    st.builds(
        p.RoomAction,
        ref=u32,
        room=nicks,
        action=st.sampled_from(p.RoomActionKind),
        target=names,
        text=reasons,
    ),
    st.builds(
        p.RoomEvent,
        room=nicks,
        kind=st.sampled_from(p.RoomEventKind),
        nick=names,
        actor=names,
        text=reasons,
    ),
    st.builds(p.ListMembers, ref=u32, room=nicks),
    st.builds(p.Typing, conversation=nicks, active=st.booleans()),
    st.builds(p.TypingNotice, conversation=nicks, nick=nicks, active=st.booleans()),
    st.builds(p.SetAway, text=reasons),
    st.builds(p.AwayChanged, nick=nicks, text=reasons),
)
