"""Finding links in chat text (pure; collected with the other GUI tests)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients.core.formatting import sanitize
from clients.gui.links import find_links

pytestmark = pytest.mark.gui


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("see https://example.org", ["https://example.org"]),
        ("HTTP://EXAMPLE.ORG/A", ["HTTP://EXAMPLE.ORG/A"]),
        ("end of sentence https://a.example/x.", ["https://a.example/x"]),
        ("(see http://a.example/p)", ["http://a.example/p"]),
        ("wiki https://w.example/Foo_(bar)", ["https://w.example/Foo_(bar)"]),
        (
            "two: http://a.example, https://b.example!",
            ["http://a.example", "https://b.example"],
        ),
        ('quoted "https://q.example/x"', ["https://q.example/x"]),
        ("<https://angle.example/>", ["https://angle.example/"]),
        ("https://", []),
        ("https://.", []),
        ("ftp://files.example mailto:x@y.example", []),
        ("javascript:alert(1) file:///etc/passwd", []),
        ("no links here", []),
        ("https://a.example/\u241b[31m", ["https://a.example/"]),
    ],
)
def test_finds_links(text, urls):
    assert [link.url for link in find_links(text)] == urls


@given(st.text())
def test_links_are_exact_slices_of_http_urls_without_spaces(text):
    shown = sanitize(text)
    for link in find_links(shown):
        assert shown[link.start : link.end] == link.url
        assert link.url.lower().startswith(("http://", "https://"))
        assert not any(c.isspace() for c in link.url)
