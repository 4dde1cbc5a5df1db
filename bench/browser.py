"""The headless Chromium that the browser tests and the report screenshot drive: Debian's package
(``.ci/run`` installs it), no downloads."""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_installed() -> bool:
    return Path(CHROMIUM).is_file()


def launch(playwright):
    """A headless Chromium browser from a Playwright session."""
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
