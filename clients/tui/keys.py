"""Alt+digit as terminals send it: ESC then the digit. Textual only.

Textual reads ESC 1 … ESC 9 as the characters WezTerm on macOS types with
Option and a digit ("¡", "™", "£"…), so in xterm, GNOME Terminal, tmux and
the rest, Alt+1 would type "¡" into the input line and never reach the
Alt+1..9 bindings (the conversations). Without those entries the sequences
go the way of every other ESC-letter pair: Alt+1 is "alt+1". A layout that
types "¡" or "£" directly is not affected (those come as the character
itself, not after ESC), and terminals with the kitty keyboard protocol send
alt+1 either way.
"""

from __future__ import annotations

from textual import _ansi_sequences

ALT_DIGIT_SEQUENCES = tuple(f"\x1b{digit}" for digit in "123456789")


def read_alt_digits() -> None:
    """Make ESC 1..9 read as alt+1..alt+9 in this process (idempotent)."""
    table = _ansi_sequences.ANSI_SEQUENCES_KEYS
    if isinstance(table, dict):
        for sequence in ALT_DIGIT_SEQUENCES:
            table.pop(sequence, None)
