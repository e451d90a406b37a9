"""A reader serves the light talkers of a turn first."""

from __future__ import annotations

import selectors

from server.readers import _Reader


class _Talker:
    def __init__(self, name: str, appetite: int) -> None:
        self.name = name
        self.appetite = appetite


def _key(fd: int, data: object) -> tuple[selectors.SelectorKey, int]:
    return selectors.SelectorKey(
        fd, fd, selectors.EVENT_READ, data
    ), selectors.EVENT_READ


def test_a_turn_serves_peers_by_how_many_frames_their_last_read_held():
    reader = _Reader("reader-test", clock=lambda: 0.0)
    try:
        ready = [
            _key(3, _Talker("flooder", 500)),
            _key(4, _Talker("spammer", 20)),
            _key(5, None),  # the waker
            _key(6, _Talker("quiet", 1)),
            _key(7, _Talker("new", 0)),
        ]
        order = [
            getattr(key.data, "name", "waker") for key, _ in reader._in_order(ready)
        ]
        assert order == ["waker", "new", "quiet", "spammer", "flooder"]
    finally:
        reader._selector.close()
        reader._waker.close()


def test_equal_appetites_keep_selects_order():
    reader = _Reader("reader-test", clock=lambda: 0.0)
    try:
        ready = [_key(fd, _Talker(str(fd), 1)) for fd in (9, 3, 7)]
        assert [key.fd for key, _ in reader._in_order(ready)] == [9, 3, 7]
    finally:
        reader._selector.close()
        reader._waker.close()
