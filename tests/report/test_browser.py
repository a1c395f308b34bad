"""Open the committed index.html in headless Chromium: the DOM holds the summary table, every
claim's section, MathML and the SVG figures; a screenshot of the first screen is written.

Chromium is the Debian package ``chromium`` (``.ci/run`` installs it). Where it cannot be
had the test skips with that reason — unless ``PKVERIFY_REQUIRE_BROWSER=1`` (set by CI),
where a missing browser is a failure. ``PKVERIFY_SCREENSHOT=path.png`` keeps the screenshot.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pkverify.report.content import figure_slots

REPORTS = Path(__file__).resolve().parents[2] / "reports"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    reason = ("Chromium not found (install the Debian package: apt-get install -y chromium); "
              "the browser check of index.html is skipped")
    if os.environ.get("PKVERIFY_REQUIRE_BROWSER") == "1":
        pytest.fail(reason.replace("is skipped", "is required here (PKVERIFY_REQUIRE_BROWSER)"))
    pytest.skip(reason)


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def test_index_html_in_a_real_browser(tmp_path):
    page = REPORTS / "index.html"
    payload = json.loads((REPORTS / "results.json").read_text(encoding="utf-8"))
    done = _run(["--dump-dom", page.as_uri()], tmp_path)
    dom = done.stdout
    assert done.returncode == 0 and "<body>" in dom, done.stderr[-2000:]
    assert 'id="summary-table"' in dom
    for c in payload["claims"]:
        assert f'id="claim-{c["id"]}"' in dom, c["id"]
    assert dom.count("<math") >= len(payload["claims"])
    assert dom.count("<svg") == len(list(figure_slots(payload)))
    assert 'id="proof"' in dom

    shot = tmp_path / "first-screen.png"
    done = _run([f"--screenshot={shot}", "--window-size=1280,900", page.as_uri()], tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a drawn page, not blank
    keep = os.environ.get("PKVERIFY_SCREENSHOT")
    if keep:
        shutil.copyfile(shot, keep)
