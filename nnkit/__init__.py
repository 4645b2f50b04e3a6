"""nnkit: train, watch and inspect small neural networks; the backend of the dashboard."""

__version__ = "0.1.0"
