"""nnkit: train, watch and inspect small neural networks; the backend of the dashboard."""

__version__ = "0.1.0"

import os as _os

# OpenMP's waiting, set before torch loads (it is read once): threads spin a bounded while at
# a barrier (GOMP_SPINCOUNT: 100,000 spins, about a millisecond), then sleep. Unbounded
# spinning (ACTIVE) stalls when the CPU is shared; sleeping at once (PASSIVE alone) left ~40 %
# of a quiet 2-core CPU idle. The thread count follows the load as the run goes
# (nnkit/training/cpu.py). Set either variable yourself to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
_os.environ.setdefault("GOMP_SPINCOUNT", "100000")
