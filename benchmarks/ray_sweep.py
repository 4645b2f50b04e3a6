"""Does a sweep through a Ray cluster take as long as the same sweep on the local process?

A real local Ray cluster: a head and a second node, each started with `ray start` and given
one of this machine's CPUs. Each side is a fresh process that does what the server does when
the Experiments page's Run is pressed (RunManager.submit_sweep, then it waits for the job):
with NNKIT_RAY_ADDRESS pointing at the cluster, and without it (the local training process).
The sweep: fast-cnn on MNIST, lr 0.05 and 0.1, 2 replicates (4 members, one batched group),
1 epoch on the first --subset training images. Each process runs the sweep twice: the first
includes starting the training process (or connecting to Ray and starting its workers), the
second is the steady state of a server that already runs (with --form-seconds S, the first
is the first sweep of a page opened S seconds before Run was pressed: the page readies the
executor on load, as the Experiments page does). Sides alternate, --repeat times;
the ratios of medians are printed (the bar: Ray / local <= 1.25).

    python benchmarks/ray_sweep.py [--repeat 3] [--subset 20000] [--form-seconds 0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RAY = Path(sys.executable).with_name("ray")
sys.path.insert(0, str(ROOT))

DRIVER = """
import json, sys, time
from nnkit.config import RunConfig
from nnkit.jobs import executors
from nnkit.jobs.manager import RunManager
from nnkit.runs import RunStore
from nnkit.training import sweep

store = RunStore()
mgr = RunManager(store)
base = RunConfig(dataset="mnist", model="fast-cnn", epochs=1, train_subset=int(sys.argv[1]))
form = float(sys.argv[2])
if form > 0:  # the Experiments page was opened: it readies the executor, the form is filled in
    mgr.warm()
    time.sleep(form)
out = []
for i in range(2):
    spec = sweep.SweepSpec(base, "lr", (0.05, 0.1), replicates=2, name=f"bench {i}")
    t0 = time.perf_counter()
    job_id = mgr.submit_sweep(spec)
    mgr.wait(job_id)
    seconds = time.perf_counter() - t0
    recs = [store.get(r) for r in store.get_job(job_id).runs]
    out.append({"seconds": seconds, "statuses": sorted({r.status for r in recs}),
                "nodes": sorted({r.node.split(" (")[0] for r in recs}),
                "images_per_second": sum(r.images_per_second or 0 for r in recs)})
mgr.shutdown()
print(json.dumps({"sweeps": out, "where": executors.cluster_status().text}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(temp: str) -> tuple[str, list[subprocess.Popen]]:
    """A head and a second node, one CPU each, as Ray documents it; (address, processes)."""
    port = free_port()
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--block", "--num-cpus=1", "--num-gpus=0", "--object-store-memory=200000000",
              "--disable-usage-stats"]
    head = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}",
                             "--include-dashboard=false", f"--temp-dir={temp}", *common],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    for _ in range(240):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            break
        time.sleep(0.5)
    else:
        raise SystemExit("the Ray head did not come up")
    node = subprocess.Popen([str(RAY), "start", f"--address={address}", *common], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    check = (f"import ray,time\nray.init(address='{address}', log_to_driver=False)\n"
             "while len([n for n in ray.nodes() if n['Alive']]) < 2: time.sleep(0.5)\n"
             "print(ray.cluster_resources())")
    print("cluster:", subprocess.run([sys.executable, "-c", check], capture_output=True,
                                     text=True, timeout=180).stdout.strip(), flush=True)
    return address, [node, head]


def side(address: str | None, subset: int, data_dir: str, form: float) -> dict:
    """One fresh server-like process that runs the sweep twice; its figures."""
    with tempfile.TemporaryDirectory(prefix="nnkit-bench-") as home:
        env = {**os.environ, "NNKIT_HOME": home, "NNKIT_DATA": data_dir, "NNKIT_OFFLINE": "1",
               "PYTHONPATH": str(ROOT)}
        env.pop("NNKIT_RAY_ADDRESS", None)
        if address:
            env["NNKIT_RAY_ADDRESS"] = address
        proc = subprocess.run([sys.executable, "-c", DRIVER, str(subset), str(form)], env=env,
                              cwd=ROOT,
                              capture_output=True, text=True, timeout=1800)
    if proc.returncode:
        raise SystemExit(f"the {'Ray' if address else 'local'} side failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--subset", type=int, default=20000)
    p.add_argument("--form-seconds", type=float, default=0.0,
                   help="open the page first: the server readies its executor (the training "
                        "process, or the Ray connection and workers) this many seconds before "
                        "Run is pressed, as the Experiments page does; 0: fully cold")
    args = p.parse_args()
    from nnkit import paths

    data_dir = str(paths.data_dir())
    temp = tempfile.mkdtemp(prefix="nnray", dir="/tmp")
    address, procs = start_cluster(temp)
    results: dict[str, list[dict]] = {"local": [], "ray": []}
    try:
        for i in range(args.repeat):
            for name in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                r = side(address if name == "ray" else None, args.subset, data_dir,
                         args.form_seconds)
                first, second = r["sweeps"]
                print(f"{name:5s} first {first['seconds']:6.1f} s  second {second['seconds']:6.1f}"
                      f" s  {second['images_per_second']:7.0f} img/s  {second['statuses']} "
                      f"{second['nodes']}  ({r['where']})", flush=True)
                results[name].append(r)
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)
    first = (f"first sweep (the page opened {args.form_seconds:g} s before Run)"
             if args.form_seconds > 0 else "first sweep (starting the training process / Ray "
             "workers)")
    for k, label in ((0, first),
                     (1, "second sweep (a server already running)")):
        med = {n: statistics.median(r["sweeps"][k]["seconds"] for r in rs)
               for n, rs in results.items()}
        print(f"{label}: local {med['local']:.1f} s, Ray {med['ray']:.1f} s, "
              f"Ray / local = {med['ray'] / med['local']:.2f} (bar <= 1.25)")


if __name__ == "__main__":
    main()
