"""The report as a person sees it: opened in headless Chromium, no console errors, images decode, not blank."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from bench.browser import CHROMIUM, chromium_installed, launch

from medseg.experiments.report import write_compare, write_report


@pytest.fixture(scope="module")
def browser():
    if not chromium_installed():
        pytest.skip(f"chromium not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


def open_page(browser, path: Path):
    page = browser.new_page(viewport={"width": 1200, "height": 1600})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
    page.goto(path.resolve().as_uri())
    page.wait_for_load_state("load")
    return page, errors


def check_page(page, errors: list[str], min_images: int) -> None:
    widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
    assert len(widths) >= min_images and all(w > 0 for w in widths), widths
    shot = cv2.imdecode(np.frombuffer(page.screenshot(full_page=True), np.uint8), cv2.IMREAD_GRAYSCALE)
    shot = shot.astype(np.float64)
    assert shot.var() > 100, shot.var()  # text, tables and plots: far from a blank page
    assert errors == []


def test_report_opens_in_chromium(browser, evaluated_run, tmp_path):
    report = write_report(evaluated_run, tmp_path / "report.html")
    page, errors = open_page(browser, report)
    check_page(page, errors, min_images=4)
    assert page.locator("h2", has_text="Worst and best cases").count() == 1
    page.close()


def test_comparison_opens_in_chromium(browser, evaluated_run, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(evaluated_run, other)
    html, _, _ = write_compare([evaluated_run, other], tmp_path / "compare.html")
    page, errors = open_page(browser, html)
    check_page(page, errors, min_images=1)
    page.close()
