"""Screenshot of a medseg HTML report in headless Chromium (for the README's picture).

    python -m bench.screenshot_report REPORT.html OUT.png [--width 1280] [--height 1800] [--full] [--out-width 640]

Uses Playwright with Debian's chromium (:mod:`bench.browser`); the page needs no network.
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

from bench.browser import launch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=1800, help="height of the captured top of the page")
    parser.add_argument("--full", action="store_true", help="the whole page, not only the top --height pixels")
    parser.add_argument("--out-width", type=int, help="shrink to this width and 256 colours (a small PNG for READMEs)")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.report.resolve().as_uri())
        page.wait_for_load_state("load")
        shot = Image.open(io.BytesIO(page.screenshot(full_page=args.full))).convert("RGB")
        browser.close()
    if args.out_width:
        height = round(shot.height * args.out_width / shot.width)
        shot = shot.resize((args.out_width, height), Image.LANCZOS)
        # octree keeps the thin green and red outlines that a median-cut palette merges into grey
        shot = shot.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    shot.save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
