"""A class of N students on one real server (./start.sh --class) and this machine's CPU.

Each student has their own Chromium context and joins at a random moment of the first
--arrive seconds (a room fills over a minute or two): opens the link, enters the class code
and a name, and starts a short run from the Train page. While the queue drains, every student goes
back and forth between Runs and Train at a person's pace (a page every --think seconds, ±50 %,
random): by the sidebar's links, as one does in the app, and every --reload-every-th time by
reloading the browser tab instead. Each page is timed from the click (or the request) to
Streamlit's finished script run, and the two kinds are reported apart. The browsers share this
machine's CPU with the server: a reload costs Chromium ~1-2 s of CPU here (it parses the whole
frontend again), a link click much less (the server ~0.05-0.4 s either way), so the pace
decides how busy the 2 cores are. Prints: runs finished / lost / duplicated, pages that showed
an exception, page times (median, 95th percentile; the bar: 3 s), how long the queue took to
drain, and the server's peak memory (its process and the training process it started, RSS).

    python benchmarks/class_load.py [--students 30] [--arrive 120] [--think 20] [--subset 1000]
                                    [--model mlp-64-64] [--reload-every 4]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "browser")]

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import threading
import time

from harness import CHROMIUM, CHROMIUM_ARGS, Server

CODE, TEACHER = "LOAD42", "LOADTEACHER9"
READY = ("(title) => { const s = document.querySelector('[data-testid=\"stStatusWidget\"]');"
         " const h = document.querySelector('[data-testid=\"stMainBlockContainer\"] h1');"
         " return !!document.querySelector('[data-testid=\"stApp\"]') && (!s || s.innerText === '')"
         " && !document.querySelector('[data-testid=\"stSkeleton\"]')"
         " && !!h && (!title || h.innerText.trim() === title); }")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids += [int(c) for c in f.read().split()]
        except (OSError, StopIteration):
            continue
    return total / 1024


async def student(browser, url: str, i: int, query: str, arrive: float, think: float,
                  reload_every: int, loads: list, errors: list,
                  stop: asyncio.Event) -> str | None:
    pace = random.Random(i)
    await asyncio.sleep(pace.uniform(0, arrive))
    ctx = await browser.new_context(viewport={"width": 1200, "height": 900})
    page = await ctx.new_page()
    page.set_default_timeout(180_000)
    try:
        await page.goto(url)
        await page.get_by_label("Class code").fill(CODE)
        await page.get_by_label("Your name").fill(f"student {i:02d}")
        await page.get_by_role("button", name="Join the class").click()
        await page.locator('[data-testid="stSidebar"]').get_by_text("Signed in as").wait_for()
        await page.wait_for_function("() => document.cookie.includes('nnkit_token=')")
        await page.goto(f"{url}/train?{query}")
        await page.wait_for_function(READY, arg="Train")
        await page.get_by_role("button", name="Train", exact=True).click()
        await page.wait_for_function("() => new URLSearchParams(location.search).has('run')")
        run_id = (await page.evaluate("() => new URLSearchParams(location.search).get('run')"))
        views = 0
        while not stop.is_set():  # Runs and Train in turn while the queue drains, each timed
            try:  # a person reads the page a while before the next
                await asyncio.wait_for(stop.wait(), think * pace.uniform(0.5, 1.5))
                break
            except TimeoutError:
                pass
            views += 1
            title = "Runs" if views % 2 else "Train"
            reload = reload_every > 0 and views % reload_every == 0
            t0 = time.perf_counter()
            if reload:
                await page.goto(f"{url}/{title.lower()}")
            else:
                await page.locator(f'[data-testid="stSidebarNav"] a[href$="/{title.lower()}"]'
                                   ).click()
            await page.wait_for_function(READY, arg=title)
            loads.append(("reload" if reload else "link", time.perf_counter() - t0))
            if await page.locator('[data-testid="stException"]').count():
                errors.append(f"student {i}: an exception on {title}")
        return run_id
    except Exception as e:  # counted, reported
        errors.append(f"student {i}: {type(e).__name__}: {str(e)[:200]}")
        return None
    finally:
        await ctx.close()


async def main_async(a) -> None:
    from playwright.async_api import async_playwright

    home = Path(tempfile.mkdtemp(prefix="nnkit-class-load-"))
    server = Server(home, ("--class", "--code", CODE, "--teacher-code", TEACHER))
    peak = [0.0]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], rss_mb(server.proc.pid))
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    query = f"model={a.model}&epochs=1&train_subset={a.subset}"
    loads, errors = [], []
    stop = asyncio.Event()
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            t0 = time.perf_counter()
            tasks = [asyncio.create_task(student(browser, server.url, i, query, a.arrive,
                                                 a.think, a.reload_every, loads, errors, stop))
                     for i in range(a.students)]
            db = home / "runs.sqlite"
            drained = None
            while time.perf_counter() - t0 < a.timeout:
                await asyncio.sleep(2.0)
                if not db.exists():
                    continue
                with sqlite3.connect(db) as c:
                    n, active = c.execute(
                        "SELECT COUNT(*), SUM(status IN ('queued','loading','running','paused'))"
                        " FROM runs").fetchone()
                if n >= a.students and not active:
                    drained = time.perf_counter() - t0
                    break
                if all(t.done() for t in tasks):
                    break
            stop.set()
            run_ids = await asyncio.gather(*tasks)
            await browser.close()
    finally:
        sampling.set()
        server.stop()
    with sqlite3.connect(home / "runs.sqlite") as c:
        rows = c.execute("SELECT id, owner, status FROM runs").fetchall()
    by_owner = {}
    for _, owner, _ in rows:
        by_owner[owner] = by_owner.get(owner, 0) + 1
    finished = sum(1 for r in rows if r[2] == "finished")
    started = [r for r in run_ids if r]
    print(f"students: {a.students}, joining over {a.arrive:g} s, a page every {a.think:g} s "
          "±50 % each; "
          f"runs started from a page: {len(started)}; "
          f"in the store: {len(rows)}; finished: {finished}; "
          f"lost: {a.students - len(rows)}; duplicated: {sum(v - 1 for v in by_owner.values())}")
    print(f"queue drained in: {drained:.1f} s" if drained else "queue did not drain in time")
    for kind, what in (("link", "pages opened by a sidebar link"),
                       ("reload", "pages opened by reloading the tab")):
        times = sorted(t for k, t in loads if k == kind)
        if times:
            p95 = times[int(0.95 * (len(times) - 1))]
            print(f"{what} while draining: {len(times)}; median {statistics.median(times):.2f} s;"
                  f" 95th percentile {p95:.2f} s (bar: 3 s); max {times[-1]:.2f} s")
    print(f"server peak memory (RSS, with its training process): {peak[0]:.0f} MB")
    print(f"pages with an exception or a failed step: {len(errors)}")
    for e in errors[:10]:
        print("  ", e)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--arrive", type=float, default=120.0,
                   help="students join at random moments of this many seconds")
    p.add_argument("--think", type=float, default=20.0,
                   help="seconds a student reads a page before opening the next (±50 %%)")
    p.add_argument("--reload-every", type=int, default=4,
                   help="every n-th page is a reload of the tab, the others a sidebar link "
                        "(0: links only)")
    p.add_argument("--subset", type=int, default=1000)
    p.add_argument("--model", default="mlp-64-64")
    p.add_argument("--timeout", type=float, default=900)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
