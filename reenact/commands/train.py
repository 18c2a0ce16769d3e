"""Train the pix2pix generator on a prepared data set (checkpoints, exact resume, TensorBoard)."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.default_model import generator_path
from models.errors import UserError
from models.generator_recipe import UPSAMPLE_MODES
from reenact.config_flags import add_config_options, finish_training, resolve_run_config
from training.config import PRECISIONS, TrainConfig
from training.dataset import read_manifest
from training.train import make_strategy, train
from training.warm_start import ARCHITECTURE_KEYS, read_start

# CLI options: TrainConfig field -> help; the default shown is the dataclass's. Every option
# parses to None when absent: "the config's default" for a new run, "unchanged" for --resume.
OPTION_HELP = {
    "init": "start from this generator's weights: a .tflite file from `reenact export`, `default` or `fast` "
            "(the shipped ones), or `none` for random weights; the file fixes the network's shape "
            "(default: default, the shipped generator: a minute of footage then only has to teach the face)",
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
# Schedules (steps, lip term from), measured on three short clips from the shipped generator
# (docs/training.md): quick already matches its PSNR; thorough's faces keep more detail.
PRESETS = {"quick": {"steps": 500, "mouth_from": 300}, "thorough": {"steps": 1500, "mouth_from": 1100}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="DATA", help="prepared data set (from `reenact prepare`)")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to create or resume")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in RUN at its latest checkpoint (same data order and optimiser state)")
    parser.add_argument("--preset", choices=tuple(PRESETS), default=None,
                        help="the schedule: thorough (1500 steps: 7-11 minutes on two cores from the shipped "
                             "generator, sharper faces) or quick (500 steps: 2.5-3.5 minutes); --steps and "
                             "--mouth-from override it (default: thorough)")
    add_config_options(parser, TrainConfig, OPTION_HELP, CHOICES)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The run's configuration: new from the flags, or the saved one with --resume."""
    data = str(Path(args.data).resolve())

    def new(given: dict) -> TrainConfig:
        size = int(read_manifest(Path(data))["size"])  # the data set's, unless --size says otherwise
        start = start_options(given, size)
        return TrainConfig(data=data, **{"size": size, **PRESETS[args.preset or "thorough"], **given, **start})

    if args.resume and args.preset is not None:
        raise UserError("--preset names a new run's schedule; with --resume, pass --steps to train longer")
    return resolve_run_config(args, TrainConfig, OPTION_HELP, {"data": data}, new)


def start_options(given: dict, data_size: int) -> dict:
    """``init`` as a file path, and the network shape its file fixes; UserError where a flag or the
    data set (of ``data_size``-pixel frames) disagrees."""
    init = given.get("init", "default")
    if init == "none":
        return {"init": None}
    path = generator_path(None if init == "default" else Path(init))
    _, metadata = read_start(path)
    shape = {key: metadata.architecture[key] for key in ARCHITECTURE_KEYS}
    clashes = [f"--{key} {given[key]} (the file's: {shape[key]})" for key in shape
               if given.get(key) is not None and given[key] != shape[key]]
    if clashes:
        raise UserError(f"--init {init} fixes the network's shape; drop {', '.join(clashes)}, or pass --init none")
    if shape["size"] != data_size:
        raise UserError(f"--init {init} draws {shape['size']}-pixel faces but the data set holds {data_size}-pixel "
                        f"frames; prepare it with --size {shape['size']}, or pass --init none")
    return {"init": str(Path(path).resolve()), **shape}


def run(args: argparse.Namespace) -> int:
    config = resolve_config(args)
    strategy = make_strategy()  # first TensorFlow call: multi-worker needs it that way
    result = train(config, Path(args.out), resume=args.resume, strategy=strategy)
    return finish_training(result, f"reenact train {config.data} --out {args.out}", None, args.out)


