"""What the benchmark commands share around their runs: the open-file limit, a
scratch directory, the results file, and how many messages a flat-out run needs.

Only `python -m bench` and `python -m bench.ngircd` use it; it measures nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Record = Callable[[dict[str, Any]], None]
"""Stamps a result row, appends it to the results file and shows it."""


def raise_fd_limit(wanted: int) -> int:
    """Raise this process's soft open-file limit towards `wanted`; the result."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def flat_messages(minimum: int, clients: int, senders: int) -> int:
    """Messages per sender of a flat-out run: at least `minimum`, and enough
    deliveries (100,000) for the CPU clock's 10 ms ticks to resolve."""
    return max(minimum, 100_000 // (clients * senders))


@contextlib.contextmanager
def recording(
    output: Path, *, load: bool = True, stamp: dict[str, Any] | None = None
) -> Iterator[tuple[Path, Record]]:
    """A scratch directory, and a `record(row)` that appends to `output`.

    Each row gets the machine's core count, with `load` its 1-minute load
    average (others' work on the machine shows in the figures), then `stamp`;
    it is written as one JSON line, flushed so an interrupted run keeps what
    it measured, and echoed on stderr.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        output.open("a", encoding="utf-8") as out,
    ):

        def record(row: dict[str, Any]) -> None:
            row["cores"] = os.cpu_count()
            if load:
                row["load_1min"] = round(os.getloadavg()[0], 2)
            row.update(stamp or {})
            out.write(json.dumps(row) + "\n")
            out.flush()
            print(json.dumps(row), file=sys.stderr, flush=True)

        yield Path(tmp), record
