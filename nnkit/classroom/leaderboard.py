"""Who trained the best network: per dataset, each person's best run by test accuracy."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    rank: int  # 1 = best; people with the same accuracy share a rank
    owner: str
    name: str
    dataset: str
    accuracy: float
    run_id: str
    model: str
    settings: str  # the run's key settings in one line
    epochs: int


def settings_line(cfg) -> str:
    """Optimizer, learning rate, batch, epochs and the regularisers a run used."""
    parts = [f"{cfg.optimizer} lr {cfg.lr:g}", f"batch {cfg.batch_size}",
             f"{cfg.epochs} epoch{'s' if cfg.epochs != 1 else ''}"]
    if cfg.weight_decay:
        parts.append(f"wd {cfg.weight_decay:g}")
    if cfg.schedule != "none":
        parts.append(cfg.schedule)
    if cfg.train_subset:
        parts.append(f"{cfg.train_subset:,} images")
    return " · ".join(parts)


def best_runs(runs, names: dict[str, str]) -> dict[str, list[Entry]]:
    """dataset -> entries, best first: each person's (owner's) run with the highest test
    accuracy (its best epoch's, else its final one); ties go to the earlier run. Runs of no
    one in `names` (started before the class) are left out."""
    best: dict[tuple[str, str], object] = {}
    for r in sorted(runs, key=lambda r: r.created):
        acc = _accuracy(r)
        if acc is None or r.owner not in names:
            continue
        key = (r.dataset, r.owner)
        if key not in best or acc > _accuracy(best[key]):
            best[key] = r
    out: dict[str, list[Entry]] = {}
    for (dataset, _), r in best.items():
        out.setdefault(dataset, []).append(r)
    boards = {}
    for dataset, rs in sorted(out.items()):
        rs.sort(key=lambda r: (-_accuracy(r), r.created))
        entries, rank, last = [], 0, None
        for i, r in enumerate(rs, 1):
            acc = _accuracy(r)
            rank = rank if acc == last else i
            last = acc
            entries.append(Entry(rank, r.owner, names[r.owner], dataset, acc, r.id, r.model,
                                 settings_line(r.config), r.epochs_done))
        boards[dataset] = entries
    return boards


def _accuracy(r) -> float | None:
    values = [a for a in (r.best_test_accuracy, r.final_test_accuracy) if a]
    return max(values) if values else None
