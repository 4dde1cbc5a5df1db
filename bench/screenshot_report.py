"""Screenshot of a medseg HTML report in headless Chromium (for the README's picture).

    python bench/screenshot_report.py REPORT.html OUT.png [--width 1280] [--height 1800]

Uses Playwright with Debian's chromium (``/usr/bin/chromium``); the page needs no network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1800, help="height of the captured top of the page")
    parser.add_argument("--scale", type=float, default=1.0, help="device scale factor")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": args.width, "height": args.height}, device_scale_factor=args.scale)
        page.goto(args.report.resolve().as_uri())
        page.wait_for_load_state("load")
        page.screenshot(path=str(args.out), full_page=False)
        browser.close()
    print(args.out)


if __name__ == "__main__":
    main()
