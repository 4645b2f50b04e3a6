"""How many jobs train at once: one per training process, each process a slot.

On a CPU one at a time: a second process on the same cores only splits them (the worker
already uses every core, training/cpu.py). On a GPU a small net uses a few percent of it, so
several processes train side by side, as many as its free memory holds at MIB_PER_SLOT each
(a CUDA context, MNIST on the device, a small model and its activations). NNKIT_SLOTS sets the
number outright. Found without torch (nvidia-smi), so the server never imports it for this.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys

MIB_PER_SLOT = 2048  # a CUDA context (~500 MiB) + MNIST as float32 (~190 MiB) + headroom
MAX_SLOTS = 32


def parse(text: str | None) -> int | None:
    """A slot count from NNKIT_SLOTS: a whole number from 1 to MAX_SLOTS, else None."""
    try:
        n = int(str(text).strip())
    except ValueError:
        return None
    return n if 1 <= n <= MAX_SLOTS else None


def gpu_free_mib() -> int | None:
    """Free memory of the first CUDA GPU in MiB (nvidia-smi), None without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None or os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return None
    try:
        out = subprocess.run([smi, "--query-gpu=memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
        return int(out.split()[0])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


def for_gpu(free_mib: int | None) -> int:
    """Slots for a GPU with this much free memory (1 without a GPU)."""
    if free_mib is None:
        return 1
    return max(1, min(MAX_SLOTS, free_mib // MIB_PER_SLOT))


@functools.cache
def default() -> int:
    """NNKIT_SLOTS if set (and valid), else one per MIB_PER_SLOT of free GPU memory, else 1."""
    text = os.environ.get("NNKIT_SLOTS")
    if text and parse(text) is None:
        print(f"nnkit: NNKIT_SLOTS={text!r} is not a whole number from 1 to {MAX_SLOTS}; "
              "choosing the number of training processes myself", file=sys.stderr)
    return parse(text) or for_gpu(gpu_free_mib())


def policy(slots: int) -> str:
    """The queue's policy in words, for every page that starts work."""
    at_once = ("one job trains at a time" if slots == 1 else
               f"{slots} jobs train at once, each in its own training process")
    return (f"{at_once} (a run, a sweep, a Catalogue experiment or the palindrome study); jobs "
            "started meanwhile wait in a queue, in order (in a class, people take turns: "
            "whoever started a job least recently goes next)")
