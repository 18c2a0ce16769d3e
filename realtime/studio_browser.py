"""The studio's page in a real, headless browser (Debian's chromium): its DOM after the scripts
ran, and a screenshot. The docs' picture (``benchmarks.studio_screenshot``) and the tests'
real-browser check use it; ``make test`` installs chromium where it can.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

WINDOW = (1180, 960)


def browser() -> str | None:
    """The headless browser this machine has, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def render_page(url: str, screenshot: Path | None = None, wait_ms: int = 4000) -> str:
    """The page's DOM after its scripts ran for ``wait_ms`` (and, with ``screenshot``, a PNG of it)."""
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--timeout={wait_ms}"]
    with tempfile.TemporaryDirectory() as profile:
        command.append(f"--user-data-dir={profile}")
        if screenshot is not None:
            subprocess.run([*command, f"--screenshot={screenshot}", url], check=True, capture_output=True,
                           timeout=120)
        # Virtual time lets the page's polling run before the DOM is written.
        return subprocess.run([*command, f"--virtual-time-budget={wait_ms}", "--dump-dom", url], check=True,
                              capture_output=True, text=True,
                              timeout=120).stdout
