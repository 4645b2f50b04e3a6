"""The command line: `python -m nnkit data|models|train|runs|sweep ...`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import fields
from pathlib import Path

from nnkit import datainfo, paths, specs
from nnkit.config import (
    DEVICES,
    OPTIMIZERS,
    SCHEDULES,
    SWEEP_PARAMS,
    ConfigError,
    RunConfig,
    validate,
)
from nnkit.runs import RunStore, StoreError
from nnkit.training.events import Callback, EpochEnd, RunEnd, RunStart

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_DIVERGED, EXIT_STOPPED = 0, 1, 2, 3, 4


def plural(n: int, word: str) -> str:
    """1 -> '1 epoch', 2 -> '2 epochs'."""
    return f"{n} {word}{'s' * (n != 1)}"


class ProgressPrinter(Callback):
    """Prints one line per epoch to stderr (stdout's last line is the JSON result)."""

    def on_run_start(self, e: RunStart) -> None:
        print(f"run {e.run_id}: {e.num_params:,} parameters on {e.device}, {e.train_size} "
              f"training images, {plural(e.epochs, 'epoch')} of "
              f"{plural(e.steps_per_epoch, 'step')}", file=sys.stderr)

    def on_epoch_end(self, e: EpochEnd) -> None:
        val = f"  val {e.val_accuracy:.4f}" if e.val_accuracy is not None else ""
        test = f"  test {e.test_accuracy:.4f}" if e.test_accuracy is not None else ""
        print(f"epoch {e.epoch:3d}  loss {e.train_loss:.4f}  train {e.train_accuracy:.4f}{val}"
              f"{test}  {e.images_per_second:,.0f} img/s  {e.seconds:.1f} s", file=sys.stderr)

    def on_run_end(self, e: RunEnd) -> None:
        print(f"{e.status}: {e.message}", file=sys.stderr)


def _add_config_options(p: argparse.ArgumentParser) -> None:
    """One --option per RunConfig field, typed from its default."""
    choices = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "device": DEVICES,
               "dataset": tuple(datainfo.names()), "model": (*specs.PRESETS, "custom")}
    for f in fields(RunConfig):
        if f.name == "spec":
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default)
        kw = {"dest": f.name, "default": None, "help": f"default {f.default}"}
        if f.name in choices:
            kw["choices"] = choices[f.name]
        if kind is bool:  # --nesterov / --no-nesterov
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = kind
        p.add_argument(flag, **kw)
    p.add_argument("--hidden", help="dense hidden widths for a custom MLP, e.g. 500,300")
    p.add_argument("--activation", choices=tuple(specs.ACTIVATIONS), help="custom MLP activation")
    p.add_argument("--dropout", type=float, help="custom MLP dropout")


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """A RunConfig from parsed options (unset ones keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(RunConfig)
              if f.name != "spec" and getattr(args, f.name, None) is not None}
    cfg = RunConfig(**values)
    if args.hidden is not None or args.activation or args.dropout is not None:
        base = cfg.model_spec() if cfg.model not in ("custom",) else specs.ModelSpec()
        if base.kind != "mlp" and args.hidden is not None:
            raise ConfigError("hidden", "only an MLP preset takes --hidden")
        changes = {}
        if args.hidden is not None:
            try:
                changes["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h.strip())
            except ValueError:
                raise ConfigError("hidden", f"must be widths like 500,300 (got "
                                  f"{args.hidden!r})") from None
        if args.activation:
            changes["activation"] = args.activation
        if args.dropout is not None:
            changes["dropout"] = args.dropout
        cfg = cfg.with_changes(model="custom", spec=specs.with_overrides(base, **changes))
    return cfg


def cmd_train(args) -> int:
    from nnkit.training.runner import run_and_store

    try:
        cfg = config_from_args(args)
    except ConfigError as e:  # an invalid setting, like validate's errors below
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    errors = validate(cfg)
    if errors:
        for e in errors:
            print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    store = RunStore()
    run_id, result = run_and_store(cfg, store, callbacks=[ProgressPrinter()], name=args.name or "")
    end = result.end
    out = {"run_id": run_id, "status": end.status, "message": end.message,
           "test_accuracy": end.test_accuracy, "test_loss": end.test_loss,
           "train_seconds": round(end.train_seconds, 3),
           "images_per_second": round(end.metrics.get("images_per_second", 0.0), 1),
           "epochs_done": end.metrics.get("epochs_done"), "device": result.device,
           "num_params": sum(p.numel() for p in result.model.parameters())}
    if result.notice:
        out["notice"] = result.notice
    print(json.dumps(out))
    return {"finished": EXIT_OK, "diverged": EXIT_DIVERGED, "stopped": EXIT_STOPPED}.get(
        end.status, EXIT_ERROR)


def cmd_data_prepare(args) -> int:
    from nnkit import data

    names = [args.dataset] if args.dataset != "all" else ["mnist"]
    for name in names:
        damaged = data.check(name)  # every file, with MNIST's official counts and labels
        root = data.prepare(name, log=lambda m: print(m, file=sys.stderr), official=True)
        if damaged and set(damaged.values()) != {"missing"}:  # not a first download: a repair
            print(f"{name}: repaired {', '.join(damaged)}; ready in {root}")
        else:
            print(f"{name}: ready in {root}")
    return EXIT_OK


def cmd_data_add(args) -> int:
    from nnkit import userdata

    try:
        s = userdata.add(args.name, args.path, shape=args.shape, test_share=args.test_share,
                         seed=args.seed, title=args.title)
    except userdata.UserDataError as e:  # bad input: nothing was stored
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{s.info.name}: {len(s.info.classes)} classes, {sum(s.train_counts)} training and "
          f"{sum(s.test_counts)} test images ({s.test_share:g} of each class held out), "
          f"{' x '.join(map(str, s.info.input_shape))}")
    for c, tr, te in zip(s.info.classes, s.train_counts, s.test_counts, strict=True):
        print(f"  {c}: {tr} train, {te} test")
    if s.skipped:
        print(f"skipped {s.skipped} file(s) that are not readable images, e.g. "
              f"{', '.join(s.skipped_examples)}")
    if s.ignored:
        print(f"ignored {s.ignored} file(s) outside any class folder")
    return EXIT_OK


def cmd_data_list(args) -> int:
    for name in datainfo.names():
        ds = datainfo.info(name)
        shape = " x ".join(map(str, ds.input_shape))
        print(f"{name:<16} {ds.source:<8} {shape:<10} {ds.num_classes:>3} classes  {ds.title}")
    return EXIT_OK


def cmd_data_rename(args) -> int:
    from nnkit import userdata

    try:
        ds = userdata.rename(args.name, args.title)
    except userdata.UserDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{ds.name}: now titled {ds.title!r}")
    return EXIT_OK


def cmd_data_delete(args) -> int:
    from nnkit import userdata
    from nnkit.training.status import is_active

    busy = sum(is_active(r.status) for r in RunStore().list(dataset=args.name))
    try:
        userdata.delete(args.name, in_use=busy)
    except userdata.UserDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{args.name}: deleted (runs trained on it keep their records)")
    return EXIT_OK


def cmd_models(args) -> int:
    from nnkit import models

    print(f"{'preset':<14} {'params':>9}  description")
    for name, (spec, about) in models.PRESETS.items():
        shape = (3, 32, 32) if name == "vgg-small" else (1, 28, 28)
        n = models.num_params(models.build_model(spec, shape, 10))
        print(f"{name:<14} {n:>9,}  {about}")
    return EXIT_OK


def _fmt(x, spec=".4f"):
    return "-" if x is None else format(x, spec)


def cmd_runs_list(args) -> int:
    store = RunStore()
    store.recover_interrupted()
    runs = store.list()
    if not runs:
        print(f"no runs yet in {store.path}")
        return EXIT_OK
    print(f"{'id':<23} {'status':<11} {'dataset':<13} {'model':<12} {'ep':>3} {'best':>7} "
          f"{'final':>7} {'seconds':>8}  name")
    for r in runs:
        print(f"{r.id:<23} {r.status:<11} {r.dataset:<13} {r.model:<12} {r.epochs_done:>3} "
              f"{_fmt(r.best_test_accuracy):>7} {_fmt(r.final_test_accuracy):>7} "
              f"{_fmt(r.train_seconds, '.1f'):>8}  {r.name}")
    return EXIT_OK


def cmd_runs_show(args) -> int:
    store = RunStore()
    store.recover_interrupted()
    r = store.get(args.run_id)
    if r is None:
        print(f"error: no run {args.run_id!r} in {store.path}", file=sys.stderr)
        return EXIT_ERROR
    node = f"  node: {r.node}" if r.node else ""
    print(f"{r.id}  {r.name}\nstatus: {r.status}  {r.message}\ndevice: {r.device}  parameters: "
          f"{r.num_params}{node}\nconfig: {r.config.to_json()}")
    print(f"{'epoch':>5} {'loss':>8} {'train':>7} {'val':>7} {'test':>7} {'img/s':>8} {'s':>7}")
    for e in store.epochs(r.id):
        print(f"{e['epoch']:>5} {_fmt(e['train_loss']):>8} {_fmt(e['train_accuracy']):>7} "
              f"{_fmt(e['val_accuracy']):>7} {_fmt(e['test_accuracy']):>7} "
              f"{_fmt(e['images_per_second'], ',.0f'):>8} {_fmt(e['seconds'], '.1f'):>7}")
    return EXIT_OK


def cmd_runs_export(args) -> int:
    from nnkit.export import ExportError, to_onnx

    store = RunStore()
    try:
        path = to_onnx(store, args.run_id, args.out)
    except ExportError as e:  # a bad id, no checkpoint: the user's to fix, like a bad setting
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{path}: class probabilities for pixel / 255 inputs; open it in https://netron.app",
          file=sys.stderr)
    print(path)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m nnkit", description="Train and inspect small "
                                f"neural networks. Runs live in {paths.home()} ($NNKIT_HOME), "
                                f"datasets in {paths.data_dir()} ($NNKIT_DATA).")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("data", help="prepare datasets").add_subparsers(dest="action", required=True)
    dp = d.add_parser("prepare", help="fetch and verify a dataset's files")
    dp.add_argument("--dataset", default="mnist", choices=(*datainfo.DATASETS, "all"))
    dp.set_defaults(func=cmd_data_prepare)
    da = d.add_parser("add", help="add your own images: an ImageFolder (one folder per class) "
                      "as a folder or a zip")
    da.add_argument("name", help="the dataset's name: a-z, 0-9, - and _")
    da.add_argument("path", help="a folder or a .zip holding one folder per class")
    da.add_argument("--shape", choices=("gray28", "rgb32"), default="gray28",
                    help="28x28 grayscale (default) or 32x32 colour")
    da.add_argument("--test-share", type=float, default=0.2,
                    help="share of each class held out as the test set (default 0.2)")
    da.add_argument("--seed", type=int, default=0, help="seed of the train/test split")
    da.add_argument("--title", help="what the pages show (default: the name)")
    da.set_defaults(func=cmd_data_add)
    d.add_parser("list", help="every dataset, built-in and your own").set_defaults(
        func=cmd_data_list)
    dr = d.add_parser("rename", help="give one of your datasets a new title")
    dr.add_argument("name")
    dr.add_argument("title")
    dr.set_defaults(func=cmd_data_rename)
    dd = d.add_parser("delete", help="delete one of your datasets")
    dd.add_argument("name")
    dd.set_defaults(func=cmd_data_delete)
    sub.add_parser("models", help="list model presets").set_defaults(func=cmd_models)
    t = sub.add_parser("train", help="train a model and store the run")
    _add_config_options(t)
    t.add_argument("--name", help="a name for the run")
    t.set_defaults(func=cmd_train)
    r = sub.add_parser("runs", help="stored runs").add_subparsers(dest="action", required=True)
    r.add_parser("list", help="all runs").set_defaults(func=cmd_runs_list)
    rs = r.add_parser("show", help="one run's config and epochs")
    rs.add_argument("run_id")
    rs.set_defaults(func=cmd_runs_show)
    rx = r.add_parser("export", help="one run's trained model as a file")
    rx.add_argument("run_id")
    rx.add_argument("--onnx", action="store_true", required=True,
                    help="as ONNX: pixel / 255 in, class probabilities out (the only format)")
    rx.add_argument("--out", type=Path, help="the file or folder to write (default ./ID.onnx)")
    rx.set_defaults(func=cmd_runs_export)
    add_sweep_parser(sub)
    return p


def add_sweep_parser(sub) -> None:
    p = sub.add_parser("sweep", help="train one setting at several values, replicated",
                       description="Every member is stored as a run; the table gives the final "
                       "test accuracy per value (mean, sample std, n).")
    _add_config_options(p)
    p.add_argument("--param", required=True, choices=tuple(SWEEP_PARAMS),
                   help="the setting to vary")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--values", help="comma-separated values, e.g. 1e-6,1e-5,1e-4,1e-3")
    how.add_argument("--range", dest="value_range", metavar="KIND:START:STOP:COUNT",
                     help="e.g. log:1e-6:1e-3:5 or linear:0:0.5:3")
    p.add_argument("--replicates", type=int, default=3, help="trainings per value (default 3)")
    p.add_argument("--name", help="the sweep's name (its runs' group)")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> int:
    from nnkit.training import sweep

    base = config_from_args(args)
    integer = args.param in sweep.INTEGER
    if args.values is not None:
        values = sweep.values_from_range("list", text=args.values, integer=integer)
    else:
        try:
            kind, start, stop, count = args.value_range.split(":")
            start, stop, count = float(start), float(stop), int(count)
        except ValueError:
            raise ConfigError("range", f"must be KIND:START:STOP:COUNT (got {args.value_range!r})"
                              ) from None
        values = sweep.values_from_range(kind, start, stop, count, integer=integer)
    spec = sweep.SweepSpec(base, args.param, values, args.replicates, args.name or "")
    print(f"{len(sweep.members(spec))} runs: {sweep.describe_plan(spec)}; about "
          f"{sweep.estimate_seconds(spec):.0f} s on a 2-core CPU", file=sys.stderr)

    def report(m) -> None:
        acc = "-" if m.test_accuracy is None else f"{m.test_accuracy:.4f}"
        print(f"{args.param}={m.value:g} #{m.replicate + 1}: {m.status}, test {acc}",
              file=sys.stderr)

    result = sweep.run_sweep(spec, RunStore(), on_member_end=report)
    agg = result.aggregate()
    print(f"{args.param:>12} {'mean':>7} {'std':>7} {'n':>3}  replicates")
    for a in agg:
        print(f"{a['value']:>12g} {a['mean']:>7.4f} {a['std']:>7.4f} {a['n']:>3}  "
              + " ".join(f"{v:.4f}" for v in a["values"]))
    print(json.dumps({"param": args.param, "name": result.name,
                      "results": [{k: a[k] for k in ("value", "mean", "std", "n")} for a in agg],
                      "best": sweep.best_value(agg), "batched": result.batched,
                      "seconds": round(result.seconds, 3),
                      "runs": [m.run_id for m in result.members]}))
    return EXIT_OK if agg else EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:  # stdout closed early (`runs list | head`): nothing left to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
        return EXIT_ERROR
    except (ConfigError, datainfo.DataError, specs.SpecError, StoreError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # one clear line, never a traceback
        from nnkit import diskerrors

        # a full disk or an unwritable folder in words, not as the library's own error
        message = diskerrors.describe(e, paths.home()) or f"{type(e).__name__}: {e}"
        print(f"error: {message}", file=sys.stderr)
        return EXIT_ERROR
