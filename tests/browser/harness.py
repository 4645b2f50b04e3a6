"""A real Streamlit server and Debian's Chromium, for browser tests and benchmarks.

The server runs `streamlit run app.py` on a free loopback port with its own NNKIT_HOME (a tmp
folder) and the machine's prepared MNIST (NNKIT_DATA), so browser tests train on real data.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nnkit import paths

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
REAL_DATA = paths.data_dir()  # read before any test moves NNKIT_HOME


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `streamlit run app.py`; url, home folder, and its log."""

    def __init__(self, home: Path, args: tuple[str, ...] = (), data: Path | None = None) -> None:
        """`args`: nnkit's own options for scripts/serve.py, e.g. ("--class", "--code", ...);
        `data`: a data folder of the test's own instead of the machine's MNIST."""
        self.home, self.port = home, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "server.log"
        env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(data or REAL_DATA),
               "NNKIT_OFFLINE": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "serve.py"),
             "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.fileWatcherType", "none", *args],
            cwd=ROOT, env=env, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"streamlit did not start; log:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


def launch_chromium(playwright):
    """Debian's Chromium, headless, with the flags this closed network needs."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def screenshot(page, name: str) -> Path:
    """Save the whole page as a test artifact (Streamlit scrolls inside its main panel, so the
    viewport is stretched to the panel's height for the shot)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    size = page.viewport_size
    height = page.evaluate("() => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m ? m.scrollHeight : document.body.scrollHeight; }")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(size)
    return path


def wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished its script run and drawn its lazily loaded widgets."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_function(
        "() => { const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
        " return (!s || s.innerText === '')"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]'); }",
        timeout=timeout)
