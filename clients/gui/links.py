"""Finding web links in a line of chat text, for the log to make clickable.

Pure string work (no Tk), so it is easy to test and could move to the
core if the terminal client wants clickable links too.
"""

from __future__ import annotations

import re

import attrs

# A link runs to the next space or to a character that cannot be in a URL as
# written in chat; the control pictures and U+FFFD stand in for characters
# `formatting.sanitize` neutralised, so they end a link too.
_URL = re.compile(r"https?://[^\s<>\"`{}|\\^\u2400-\u243f\ufffd]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\"*_"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


@attrs.frozen
class Link:
    """`url` is `text[start:end]`."""

    start: int
    end: int
    url: str


def _trim(url: str) -> str:
    """Drop sentence punctuation after a link, and a closing bracket it did not open."""
    while url and (
        url[-1] in _TRAILING
        or (url[-1] in _PAIRS and url.count(_PAIRS[url[-1]]) < url.count(url[-1]))
    ):
        url = url[:-1]
    return url


def find_links(text: str) -> list[Link]:
    """Every http(s) link in `text`, in order.

    A bare scheme ("https://") is not a link: something must follow it.
    """
    links = []
    for match in _URL.finditer(text):
        url = _trim(match.group())
        scheme_end = url.index("://") + 3
        if len(url) > scheme_end:
            links.append(Link(match.start(), match.start() + len(url), url))
    return links
