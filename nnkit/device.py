"""Choosing the device: CUDA, then MPS, then the CPU.

torch is imported on the first call, not with the module: a page that only names devices
draws before torch (~3 s to import) is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def available() -> list[str]:
    """Devices this machine can train on, best first."""
    import torch

    found = []
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return [*found, "cpu"]


def pick(requested: str = "auto") -> tuple[torch.device, str]:
    """The device to train on and a notice when the request could not be met ('' if it was)."""
    import torch

    have = available()
    if requested == "auto":
        return torch.device(have[0]), ""
    if requested in have:
        return torch.device(requested), ""
    return torch.device("cpu"), f"{requested} is not available on this machine; training on the CPU"


def describe(device: torch.device) -> str:
    """A human name for the device, e.g. 'cuda (NVIDIA H100)'."""
    import torch

    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return device.type
