"""Debian's chromium, as the browser tests and the studio benchmark start it (never a downloaded one)."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Browser, Playwright

__all__ = ["CHROMIUM", "launch"]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# For a closed network: no background calls to Google's hosts (refused here, and slow to fail).
_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def launch(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        raise RuntimeError("chromium is missing: `make install-browser` installs Debian's chromium package")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=_FLAGS)
