#!/usr/bin/env python3
"""One-command set-up for people and CI; needs only Python 3.11+ with pip.

    python3 dev.py start   # the bot: console chat without BOT_TOKEN, Telegram with it
    python3 dev.py test    # lint and the whole test suite

Each command first makes `.venv/` and installs the pinned dependencies from the lock files
(again only when they changed), then runs. Extra arguments go to the command underneath,
e.g. `python3 dev.py test -k webhook` or `python3 dev.py start --lang kk`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".talapker-installed"
INPUTS = ("pyproject.toml", "requirements.lock", "requirements-dev.lock")


def _fingerprint() -> str:
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py must run on an old python3 to say so)
        sys.exit(f"Talapker needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    python = BIN / "python"
    if not python.exists():
        print("Creating .venv …", flush=True)
        venv.create(VENV, with_pip=True)
    fingerprint = _fingerprint()
    if STAMP.exists() and STAMP.read_text() == fingerprint:
        return
    print("Installing dependencies from requirements-dev.lock …", flush=True)
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for step in (["-r", str(ROOT / "requirements-dev.lock")], ["--no-deps", "-e", str(ROOT)]):
        if subprocess.call([*pip, *step]) != 0:
            sys.exit(f"dev.py: `pip install {' '.join(step)}` failed; see pip's message above")
    STAMP.write_text(fingerprint)


def main() -> int:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in {"start", "test"}:
        print(__doc__)
        return 2
    ensure_environment()
    os.chdir(ROOT)
    if command == "start":
        return subprocess.call([str(BIN / "talapker"), "start", *args])
    lint = subprocess.call([str(BIN / "ruff"), "check", "."])
    tests = subprocess.call([str(BIN / "python"), "-m", "pytest", *args])
    return tests or lint


if __name__ == "__main__":
    sys.exit(main())
