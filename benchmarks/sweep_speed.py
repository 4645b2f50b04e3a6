"""Does a sweep started on the Experiments page train as fast as the same sweep from the CLI?

The page's default sweep (mlp-64-64 on MNIST, weight decay 1e-6 … 1e-3 at four log-spaced
values, 3 replicates: 12 networks trained at once) is run with `python -m nnkit sweep` in its
own process, and by pressing Run on the Experiments page of a real server with Chromium
watching the live view; alternating, --repeat times, with a CLI sweep at both ends. The speed
of a sweep is the sum of its members' images/s, each read from that side's run store; each app
sweep is compared with the mean of the CLI sweeps just before and after it, and the median of
those ratios is the result (the bar: >= 0.90).

    python benchmarks/sweep_speed.py [--repeat 2] [--subset 0]
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

CLI_ARGS = ["--dataset", "mnist", "--model", "mlp-64-64", "--param", "weight_decay",
            "--range", "log:1e-6:1e-3:4", "--replicates", "3"]
MEMBERS = 12
ENDED = ("finished", "failed", "diverged", "stopped")


def speed(store: RunStore) -> tuple[float, float, set[str]]:
    """(sum of the members' images/s, wall seconds from the first run created to the last
    update, their statuses)."""
    runs = store.list()
    total = sum(r.images_per_second or 0 for r in runs)
    return total, max(r.updated for r in runs) - min(r.created for r in runs), {
        r.status for r in runs}


def cli(home: Path) -> tuple[float, float, set[str]]:
    env = {**os.environ, "NNKIT_HOME": str(home), "NNKIT_DATA": str(REAL_DATA),
           "NNKIT_OFFLINE": "1"}
    subprocess.run([sys.executable, "-m", "nnkit", "sweep", *CLI_ARGS], env=env, cwd=ROOT,
                   capture_output=True, text=True, check=True)
    return speed(RunStore(home / "runs.sqlite"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=2, help="app sweeps, each between CLI ones")
    a = p.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        tmp = Path(tmp)
        cli_runs = [cli(tmp / "cli0")]
        app_runs = []
        for i in range(a.repeat):
            home = tmp / f"app{i}"
            home.mkdir()
            browser = launch_chromium(pw)
            server = Server(home)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(server.url + "/experiments")
                wait_for_app(page)
                # the page imports torch for the sweep's plan: seconds on a first visit
                page.get_by_text(f"= {MEMBERS} runs").first.wait_for(timeout=120_000)
                page.get_by_role("button", name="Run", exact=True).click()
                store = RunStore(home / "runs.sqlite")
                deadline = time.monotonic() + 1800
                while time.monotonic() < deadline:  # the live view polls on its own meanwhile
                    runs = store.list()
                    if len(runs) == MEMBERS and all(r.status in ENDED for r in runs):
                        break
                    time.sleep(1)
                app_runs.append(speed(store))
            finally:
                browser.close()
                server.stop()
            cli_runs.append(cli(tmp / f"cli{i + 1}"))
    ratios = [x[0] / ((cli_runs[i][0] + cli_runs[i + 1][0]) / 2) for i, x in enumerate(app_runs)]
    print(f"mlp-64-64 on MNIST, {MEMBERS} members (4 weight decays x 3 replicates), 1 epoch")
    print("CLI:           " + " / ".join(f"{x[0]:,.0f} img/s in {x[1]:.1f} s" for x in cli_runs))
    print("Experiments:   " + " / ".join(f"{x[0]:,.0f} img/s in {x[1]:.1f} s" for x in app_runs))
    print("statuses: " + ", ".join(sorted(set().union(*(x[2] for x in cli_runs + app_runs)))))
    print("app / CLI around it: " + " / ".join(f"{r:.3f}" for r in ratios))
    print(f"median app / CLI: {statistics.median(ratios):.3f} (bar: >= 0.90)")
    print(json.dumps({"cli": [x[:2] for x in cli_runs], "app": [x[:2] for x in app_runs],
                      "ratios": ratios, "median_ratio": statistics.median(ratios)}))


if __name__ == "__main__":
    main()
