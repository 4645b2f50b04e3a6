"""Textbook loop vs nnkit's loop on the same model and hyperparameters, in one process.

The textbook loop: torchvision's MNIST dataset with ToTensor + Normalize, a DataLoader of
batch 64, shuffled. nnkit's loop: the same images held as one uint8 tensor, randperm batches,
normalized per batch, channels_last and a fused optimizer. Both train for the same number of
steps from the same initial weights; the ratio of images/s is printed (the bar is >= 3x for
lenet5 on a 2-core CPU).

    python benchmarks/train_speed.py [--model lenet5] [--steps 300] [--device auto]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

import argparse
import json
import time

import torch
import torch.nn.functional as F
import torchvision
from torchvision import transforms

from nnkit import data, device, models, paths
from nnkit.config import RunConfig
from nnkit.train import train


def textbook(model_name: str, steps: int, batch: int, dev: torch.device) -> float:
    """images/s of the DataLoader + ToTensor loop."""
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = torchvision.datasets.MNIST(str(paths.data_dir()), train=True, transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=0)
    torch.manual_seed(0)
    model = models.build_model(models.preset(model_name), (1, 28, 28), 10).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seen, start = 0, time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if i == steps:
            break
        x, y = x.to(dev), y.to(dev)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()
        seen += len(y)
    return seen / (time.perf_counter() - start)


def nnkit_loop(model_name: str, steps: int, batch: int, dev_name: str) -> float:
    """images/s of nnkit's trainer on the same steps."""
    bundle = data.load_bundle("mnist", train_subset=steps * batch)
    cfg = RunConfig(model=model_name, optimizer="adam", lr=1e-3, weight_decay=0.0,
                    batch_size=batch, epochs=1, schedule="none", device=dev_name,
                    eval_each_epoch=False)
    result = train(cfg, bundle)
    return result.end.metrics["images_per_second"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="lenet5")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    data.prepare("mnist")
    dev, _ = device.pick(a.device)
    print(f"{a.model}, batch {a.batch}, {a.steps} steps each, on {device.describe(dev)}")
    nnkit_loop(a.model, 20, a.batch, a.device)  # warm-up: first-call costs out of the figures
    slow = textbook(a.model, a.steps, a.batch, dev)
    fast = nnkit_loop(a.model, a.steps, a.batch, a.device)
    print(f"textbook DataLoader loop: {slow:10,.0f} images/s")
    print(f"nnkit loop:               {fast:10,.0f} images/s")
    print(f"ratio: {fast / slow:.2f}x (bar: >= 3x for lenet5 on the 2-core CPU)")
    print(json.dumps({"model": a.model, "device": device.describe(dev), "textbook_ips": slow,
                      "nnkit_ips": fast, "ratio": fast / slow}))


if __name__ == "__main__":
    main()
