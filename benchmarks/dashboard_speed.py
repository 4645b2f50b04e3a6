"""Does the dashboard slow training? And how fast is the first page ready?

Trains the same short MNIST run headless (the CLI, in its own process) and through the app (a
real server, the Train page open in Chromium and polling every second), alternating, --repeat
times, with a headless run at both ends. Each app run is compared with the mean of the headless
runs just before and after it (this shared machine's speed drifts by 10-20 % within minutes),
and the median of those ratios is the result (the bar: at most 10 % slower, >= 0.90). Also
times the app from start to a Train page with its button drawn, in a browser already open
(the bar: 5 s).

    python benchmarks/dashboard_speed.py [--epochs 2] [--subset 20000] [--model fast-cnn]
                                         [--repeat 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time

from harness import REAL_DATA, Server, launch_chromium, wait_for_app

from nnkit.runs import RunStore


def headless(home: Path, args: list[str]) -> float:
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(REAL_DATA),
           "NNKIT_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "nnkit", "train", *args], env=env, cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["images_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="fast-cnn")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--repeat", type=int, default=3, help="app runs, each between headless ones")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    query = {"model": a.model, "epochs": str(a.epochs), "train_subset": str(a.subset),
             "eval_each_epoch": "0"}
    url = "/train?" + "&".join(f"{k}={v}" for k, v in query.items())
    cli_args = [f"--no-{k.replace('_', '-')}" if v == "0" else f"--{k.replace('_', '-')}={v}"
                for k, v in query.items()]
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        cli = [headless(tmp / "cli0", cli_args)]
        browser = launch_chromium(pw)  # a user's browser is open before the app starts
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        (tmp / "app").mkdir()
        t0 = time.perf_counter()
        server = Server(tmp / "app")
        healthy = time.perf_counter() - t0
        app, statuses = [], []
        try:
            page.goto(server.url + url)
            page.get_by_role("button", name="Train", exact=True).wait_for()
            ready = time.perf_counter() - t0
            store = RunStore(tmp / "app" / "runs.sqlite")
            for i in range(a.repeat):
                if i:
                    page.goto(server.url + url)  # a fresh session: the form, not the last run
                wait_for_app(page)
                page.get_by_role("button", name="Train", exact=True).click()
                deadline = time.monotonic() + 900
                while time.monotonic() < deadline:  # the page polls on its own meanwhile
                    runs = store.list()
                    if len(runs) > i and runs[0].status in ("finished", "failed", "diverged",
                                                            "stopped"):
                        break
                    time.sleep(1)
                run = store.list()[0]
                app.append(run.images_per_second)
                statuses.append(run.status)
                page.goto("about:blank")  # the next headless run has the machine to itself
                cli.append(headless(tmp / f"cli{i + 1}", cli_args))
            browser.close()
        finally:
            server.stop()
    ratios = [x / ((cli[i] + cli[i + 1]) / 2) for i, x in enumerate(app)]
    print(f"{a.model}, {a.subset} images x {a.epochs} epochs, {a.repeat} app runs")
    print("headless (CLI):  " + " / ".join(f"{x:,.0f}" for x in cli) + " images/s")
    print("through the app: " + " / ".join(f"{x:,.0f}" for x in app) + " images/s, page "
          f"polling (status {', '.join(sorted(set(statuses)))})")
    print("app / headless around it: " + " / ".join(f"{r:.3f}" for r in ratios))
    print(f"median app / headless: {statistics.median(ratios):.3f} (bar: >= 0.90)")
    print(f"server healthy after {healthy:.1f} s; Train page ready after {ready:.1f} s (bar: 5 s)")
    print(json.dumps({"cli_ips": cli, "app_ips": app, "ratios": ratios,
                      "median_ratio": statistics.median(ratios), "healthy_s": healthy,
                      "first_page_s": ready}))


if __name__ == "__main__":
    main()
