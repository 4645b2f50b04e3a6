"""nnkit: train, watch and inspect small neural networks; the backend of the dashboard."""

__version__ = "0.1.0"

import os as _os

# OpenMP threads that spin at barriers stall badly when the CPU is shared (the dashboard's own
# server, a browser, other programs): measured 14x slower on a loaded 2-core machine. Passive
# waiting keeps training near full speed there; set OMP_WAIT_POLICY yourself to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
