"""The server under test, as its own process, and what /proc says about it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """`python -m server` on 127.0.0.1, by default with limits opened up for load.

    Args:
        workdir: where the server writes its log.
        outbox_size: the per-client buffer before a slow client is dropped.
        open_limits: lift the flood limit, the idle timeouts and the client
            cap (the fan-out runs); False keeps the server's defaults (abuse).
        extra: more command-line options.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        outbox_size: int = 1024 * 1024,
        open_limits: bool = True,
        extra: list[str] | None = None,
    ) -> None:
        command = [
            sys.executable, "-m", "server", "--port", "0",
            "--log-file", str(workdir / "bench-server.log"),
            "--data-dir", str(workdir / "data"),
        ]  # fmt: skip
        if open_limits:
            command += [
                "--max-clients", "10000",
                "--rate-burst", "1000000000", "--rate", "1000000000",
                "--ping-interval", "600", "--idle-timeout", "1200",
                "--outbox-size", str(outbox_size),
                "--outbox-total", str(outbox_size * 10000),
            ]  # fmt: skip
        command += extra or []
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        match = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not match:
            self.proc.kill()
            msg = f"server did not start: {line!r}"
            raise RuntimeError(msg)
        self.address = (match.group(1), int(match.group(2)))

    def cpu_seconds(self) -> float:
        """User + system CPU time the server has used so far."""
        fields = (
            Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        )
        return (int(fields[11]) + int(fields[12])) / _TICKS

    def rss_bytes(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        return int(match.group(1)) * 1024 if match else 0

    def threads(self) -> int:
        return sum(1 for _ in Path(f"/proc/{self.proc.pid}/task").iterdir())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def settle(server: ServerProcess, *, quiet: float = 0.3, limit: float = 30.0) -> None:
    """Wait until the server's CPU use stops growing (a storm has passed)."""
    deadline = time.monotonic() + limit
    last = server.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = server.cpu_seconds()
        if now - last < quiet * 0.02:
            return
        last = now
