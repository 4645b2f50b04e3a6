"""The textbook MNIST loop, as a student writes it: torchvision's MNIST with ToTensor and
Normalize, a shuffled DataLoader, LeNet-5 (nnkit's lenet5 preset, written out), Adam 1e-3.

It imports nothing of nnkit (which would set OpenMP's waiting for it): run in its own process
by benchmarks/train_speed.py, with the environment a user has. Prints one JSON line.

    python benchmarks/textbook_loop.py --data DIR [--steps 400] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision import transforms


def lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="the folder holding MNIST/raw")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = torchvision.datasets.MNIST(a.data, train=True, transform=tf)
    loader = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True)
    torch.manual_seed(0)
    model = lenet5().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    seen, start = 0, time.perf_counter()
    for i, (x, y) in enumerate(loader):
        if i == a.steps:
            break
        x, y = x.to(dev), y.to(dev)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # what a student prints
        seen += len(y)
    seconds = time.perf_counter() - start
    print(json.dumps({"images_per_second": seen / seconds, "seconds": seconds,
                      "threads": torch.get_num_threads(), "device": str(dev)}))


if __name__ == "__main__":
    main()
