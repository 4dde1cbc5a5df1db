"""A real browser on the real server: ``medseg serve`` in a subprocess, the page driven by Playwright.

Uses the system's chromium (``.ci/run`` installs Debian's package); nothing is downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from bench.browser import chromium_installed, launch

import medseg

from .conftest import phantom_png

PIXEL_SIZE_MM = 0.15

pytestmark = pytest.mark.skipif(not chromium_installed(), reason="chromium is not installed")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server_url(served_run: Path):
    port = _free_port()
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(Path(medseg.__file__).parents[1]), env.get("PYTHONPATH", "")])
    command = [sys.executable, "-m", "medseg", "serve", str(served_run / "model.onnx"), "--port", str(port)]
    process = subprocess.Popen([*command, "--threads", "1"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
                pytest.fail(f"medseg serve did not start: {output[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def test_page_measures_the_phantom_head_and_shows_the_overlay(server_url):
    from playwright.sync_api import sync_playwright

    image, circumference_px = phantom_png(seed=6)
    true_hc_mm = circumference_px * PIXEL_SIZE_MM
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(server_url)
            page.set_input_files("#file", files=[{"name": "head.png", "mimeType": "image/png", "buffer": image}])
            page.fill("#pixel_size_mm", str(PIXEL_SIZE_MM))
            page.click("#submit")
            page.wait_for_selector("#result", timeout=60_000)
            hc_mm = float(page.inner_text("#m-hc_mm td"))
            overlay_width = page.eval_on_selector("#overlay", "img => img.complete ? img.naturalWidth : 0")
            download = page.get_attribute("#download", "download")
        finally:
            browser.close()
    assert abs(hc_mm - true_hc_mm) / true_hc_mm < 0.03, (hc_mm, true_hc_mm)
    assert overlay_width == 96
    assert download == "mask.png"
