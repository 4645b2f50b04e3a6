"""Training: the loop, the batched trainer, sweeps, the NumPy engine and the RNN study.

Everything here runs in the training process (or the CLI) and imports torch."""
