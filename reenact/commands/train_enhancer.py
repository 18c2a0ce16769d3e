"""Train the face enhancer: sharp portraits, degraded like the live faces, restored at twice the size."""

from __future__ import annotations

import argparse
from pathlib import Path

from reenact.config_flags import add_config_options, finish_training, resolve_run_config
from training.config import EnhanceConfig

# CLI options: EnhanceConfig field -> help (reenact.config_flags makes the flags).
OPTION_HELP = {
    "width": "channels of the enhancer's convolutions",
    "blocks": "residual blocks of the enhancer",
    "critic_width": "base width of the PatchGAN critic (training only)",
    "patch": "input patch side in pixels (the sharp side is twice that)",
    "batch": "patches per step",
    "steps": "train until this step",
    "save_every": "checkpoint every K steps",
    "validate_every": "validation figures and preview.jpg every K steps",
    "log_every": "loss summaries and a log line every K steps",
    "learning_rate": "Adam learning rate",
    "l1_weight": "weight of the L1 term (keeps the face)",
    "adversarial_weight": "weight of the critic's term (asks for detail)",
    "holdout": "share of the people held out, whole, for validation",
    "seed": "seed of weights, batches and the held-out people",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", type=Path, metavar="FACES",
                        help="folder of sharp portraits, one face each (e.g. ../shared/data/hd_faces)")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to create or resume")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN at its latest checkpoint")
    add_config_options(parser, EnhanceConfig, OPTION_HELP)


def run(args: argparse.Namespace) -> int:
    from training.enhance_train import train_enhancer
    from training.sharp_faces import image_paths

    data = str(Path(args.data).resolve())
    image_paths(data)  # a clear error for a folder without images, before anything loads
    config = resolve_run_config(args, EnhanceConfig, OPTION_HELP, {"data": data},
                                lambda given: EnhanceConfig(data=data, **given))
    result = train_enhancer(config, Path(args.out), resume=args.resume)
    return finish_training(result, f"reenact train-enhancer {config.data} --out {args.out}", "enhancer.tflite",
                           args.out)
