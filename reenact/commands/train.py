"""Train the pix2pix generator on a prepared data set (checkpoints, exact resume, TensorBoard)."""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import fields
from pathlib import Path

from models.errors import UserError
from models.generator_recipe import UPSAMPLE_MODES
from training.checkpoints import CHECKPOINTS
from training.config import PRECISIONS, TrainConfig
from training.dataset import read_manifest
from training.train import make_strategy, train

# CLI options: TrainConfig field -> help; the default shown is the dataclass's. Every option
# parses to None when absent: "the config's default" for a new run, "unchanged" for --resume.
OPTION_HELP = {
    "size": "crop size in pixels (default: the data set's)",
    "width": "generator base width",
    "depth": "U-Net levels (default: down to a 1 x 1 bottleneck)",
    "upsample": "generator upsampling: resize-then-convolve, transposed convolution, "
                "low-resolution (convolve then resize: about 0.8x the time) or separable "
                "(resize then depthwise-separable convolution: about 0.6x the time)",
    "dropout": "decoder dropout rate while training",
    "appearance": "give the generator a second input, a real photo of the target from the same clip "
                 "as each frame (live: one photo stored in the exported file); it then takes hair, clothes "
                 "and light from that photo and only expression and pose from the sketch",
    "discriminator_width": "PatchGAN base width (pix2pix uses 64)",
    "batch": "global batch size",
    "steps": "train until this step",
    "save_every": "checkpoint every K steps",
    "validate_every": "validation metrics and image grid every K steps",
    "log_every": "loss summaries and a log line every K steps",
    "learning_rate": "Adam learning rate",
    "beta1": "Adam beta1",
    "l1_weight": "weight of the L1 term against the GAN term",
    "mouth_weight": "weight of the lip region's own L1 term, relative to the whole image's",
    "mouth_from": "the lip term counts only after this step (a fine-tuning phase)",
    "flip": "mirror sketch and photo together at random",
    "precision": "compute precision",
    "seed": "seed of weights and data order",
}
CHOICES = {"upsample": UPSAMPLE_MODES, "precision": PRECISIONS}
PARSERS = {"int": int, "int | None": int, "float": float, "str": str}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="DATA", help="prepared data set (from `reenact prepare`)")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to create or resume")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in RUN at its latest checkpoint (same data order and optimiser state)")
    config_fields = {field.name: field for field in fields(TrainConfig)}
    for name, help_text in OPTION_HELP.items():
        field = config_fields[name]
        flag = "--" + name.replace("_", "-")
        if "(default" not in help_text:
            help_text += f" (default {field.default})"
        if field.type == "bool":
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        else:
            parser.add_argument(flag, type=PARSERS[field.type], choices=CHOICES.get(name), default=None,
                                help=help_text)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: new from the flags, or the saved one with --resume."""
    given = {name: getattr(args, name) for name in OPTION_HELP if getattr(args, name) is not None}
    data = str(Path(args.data).resolve())
    if args.resume:
        if not (Path(args.out) / "config.json").is_file():
            raise UserError(f"run {args.out}: no config.json, nothing to resume; start it without --resume")
        saved = TrainConfig.read(Path(args.out) / "config.json")
        return saved.resumed_with(data=data, **given)
    if (Path(args.out) / CHECKPOINTS).is_dir():
        raise UserError(f"run {args.out} already holds checkpoints: pass --resume to continue it, "
                        "or choose another --out")
    manifest = read_manifest(Path(data))
    given.setdefault("size", int(manifest["size"]))
    return TrainConfig(data=data, **given)


def run(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    strategy = make_strategy()  # first TensorFlow call: multi-worker needs it that way
    result = train(config, Path(args.out), resume=args.resume, strategy=strategy)
    if result.stopped_by is not None:
        name = signal.Signals(result.stopped_by).name
        print(f"stopped by {name} at step {result.step}; checkpoint saved; "
              f"continue with: reenact train {config.data} --out {args.out} --resume", file=sys.stderr)
        return 128 + result.stopped_by
    return 0


