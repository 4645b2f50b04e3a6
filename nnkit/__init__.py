"""nnkit: train, watch and inspect small neural networks; the backend of the dashboard."""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin at barriers stall badly when the CPU is shared (the dashboard's own
# server, a browser, other programs): on a loaded 2-core machine fast-cnn trained at 254
# images/s spinning and 1424 waiting passively; unloaded the two were alike (~5,400). Set
# OMP_WAIT_POLICY yourself to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
