"""Every check the project runs: `nox` runs the default list, as CI does."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.needs_version = ">=2024.4"
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "integration",
    "tui",
    "gui",
    "package",
]
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
TUI_PINS = "tests/tui/constraints.txt"
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def _groups(*names: str) -> list[str]:
    requirements: list[str] = []
    for name in names:
        requirements += nox.project.dependency_groups(PYPROJECT, name)
    return requirements


def _pytest(session: nox.Session, marker: str, *extra: str) -> None:
    session.run(
        "coverage",
        "run",
        "-m",
        "pytest",
        "-m",
        marker,
        *extra,
        *session.posargs,
        env={"HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "ci")},
    )
    session.run("coverage", "combine", "--quiet")
    session.run("coverage", "report")


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, validate-pyproject, codespell."""
    session.install(*_groups("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("validate-pyproject", "pyproject.toml")
    session.run("codespell", "protocol", "server", "clients", "docs", "README.md")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package, the tests and this file."""
    session.install("-e", ".", *_groups("typing", "tests", "bench"))
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Protocol, property and core unit tests (no sockets to a server, no UI)."""
    session.install("-e", ".", *_groups("tests"))
    _pytest(session, "not integration and not gui and not tui")


@nox.session(python=PYTHON)
def integration(session: nox.Session) -> None:
    """A real server on 127.0.0.1 with real clients, and the server CLI."""
    session.install("-e", ".", *_groups("tests"))
    _pytest(session, "integration")


@nox.session(python=PYTHON)
def tui(session: nox.Session) -> None:
    """The Textual client under Pilot, snapshots, and the real command in tmux."""
    session.install("-c", TUI_PINS, "-e", ".", *_groups("tests", "tui-tests"))
    _pytest(session, "tui")


@nox.session(python=PYTHON)
def gui(session: nox.Session) -> None:
    """The customtkinter client on a virtual X display (Xvfb)."""
    if shutil.which("Xvfb") is None:
        session.error("Xvfb is missing: run `apt-get install -y xvfb` (Debian/Ubuntu)")
    session.install("-e", ".", *_groups("tests", "gui-tests"))
    # 24-bit colour so screenshots can be grabbed; a missing Xvfb fails above.
    _pytest(session, "gui", "--xvfb-backend", "xvfb", "-o", "xvfb_colordepth=24")


@nox.session(python=PYTHON)
def package(session: nox.Session) -> None:
    """Build the wheel, install it in a clean venv, smoke-run the commands."""
    session.install("build")
    dist = Path(session.create_tmp()) / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--wheel", "--outdir", str(dist))
    wheel = next(dist.glob("chinwag-*.whl"))
    session.install(str(wheel))
    with session.chdir(session.create_tmp()):
        for command in ("chinwag-server", "chinwag-tui", "chinwag-gui"):
            session.run(command, "--help", silent=True)


@nox.session(python=PYTHON, default=False)
def fuzz(session: nox.Session) -> None:
    """Fuzz the frame decoder (atheris, time-bounded), then the live server.

    The server fuzz is the state machine of tests/server/test_fuzz_server.py
    with a bigger budget: CHINWAG_SERVER_FUZZ_EXAMPLES (default here 500)
    and CHINWAG_SERVER_FUZZ_STEPS (50) override it.
    """
    session.install("-e", ".", *_groups("fuzz", "tests"))
    args = session.posargs or ["-max_total_time=60"]
    session.run("python", "tests/fuzz/fuzz_framing.py", *args)
    session.run(
        "pytest",
        "-m",
        "integration",
        "tests/server/test_fuzz_server.py",
        env={
            "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "dev"),
            "CHINWAG_SERVER_FUZZ_EXAMPLES": os.environ.get(
                "CHINWAG_SERVER_FUZZ_EXAMPLES", "500"
            ),
            "CHINWAG_SERVER_FUZZ_STEPS": os.environ.get(
                "CHINWAG_SERVER_FUZZ_STEPS", "50"
            ),
        },
    )


@nox.session(python=PYTHON, default=False)
def chaos(session: nox.Session) -> None:
    """Stored history under fire, long: thousands of lines, many SIGKILLs.

    The test of tests/server/test_chaos.py (the `integration` session runs
    a short version). CHINWAG_CHAOS_MESSAGES (default here 5000),
    _SECONDS (200), _KILLS (25), _RESTARTS (10), _CLIENTS (5), _SETTLE and
    _SEED override the run.
    """
    session.install("-e", ".", *_groups("tests"))
    defaults = {
        "CHINWAG_CHAOS_MESSAGES": "5000",
        "CHINWAG_CHAOS_SECONDS": "200",
        "CHINWAG_CHAOS_KILLS": "25",
        "CHINWAG_CHAOS_RESTARTS": "10",
        "CHINWAG_CHAOS_CLIENTS": "5",
    }
    session.run(
        "pytest",
        "-m",
        "integration",
        "tests/server/test_chaos.py",
        "-k",
        "loses_nothing",
        "-rP",  # the run's report even when it passes
        "-o",
        "faulthandler_timeout=0",  # a long test, bounded by its own timeout
        *session.posargs,
        env={name: os.environ.get(name, value) for name, value in defaults.items()},
    )


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Fan-out benchmark of the server; prints a table, writes JSON lines."""
    session.install("-e", ".", *_groups("bench"))
    session.run("python", "-m", "bench", *session.posargs)


@nox.session(name="bench-vs-ngircd", python=PYTHON, default=False)
def bench_vs_ngircd(session: nox.Session) -> None:
    """Chinwag against ngIRCd, interleaved in one run (issue 16).

    Installs ngIRCd with apt-get where it is missing and this is allowed
    (root), and otherwise says why it skips. See docs/performance.md.
    """
    session.install("-e", ".", *_groups("bench"))
    session.run("python", "-m", "bench.ngircd", *session.posargs)


@nox.session(python=PYTHON, default=False)
def snapshot_update(session: nox.Session) -> None:
    """Regenerate the TUI snapshots; review the HTML report first."""
    session.install("-c", TUI_PINS, "-e", ".", *_groups("tests", "tui-tests"))
    session.run(
        "pytest", "-m", "tui", "tests/tui", "--snapshot-update", *session.posargs
    )
