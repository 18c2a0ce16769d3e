"""Train the face-swap autoencoder: one shared encoder, a decoder for A (you) and one for B (the target)."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.errors import UserError
from reenact.config_flags import add_config_options, finish_training, resolve_run_config
from training.config import SwapConfig
from training.dataset import read_manifest

# CLI options: SwapConfig field -> help (reenact.config_flags makes the flags).
OPTION_HELP = {
    "size": "face size in pixels",
    "width": "network base width",
    "code": "width of the shared bottleneck",
    "decoder_width": "the decoders' own base width (default: --width)",
    "batch": "faces of each identity per step",
    "steps": "train until this step",
    "save_every": "checkpoint every K steps",
    "validate_every": "validation figures and preview.jpg every K steps",
    "log_every": "loss summaries and a log line every K steps",
    "learning_rate": "Adam learning rate",
    "ssim_weight": "weight of the SSIM term beside L1",
    "feature_weight": "extra loss weight on eyes, brows and lips",
    "rotation": "augmentation: largest rotation in degrees",
    "scale": "augmentation: largest scale change (share)",
    "shift": "augmentation: largest shift (share of the crop)",
    "flip": "augmentation: mirror faces at random",
    "warp": "augmentation: random warp of the input (share of the crop)",
    "mouth_balance": "draw faces evenly over mouth openings (1) rather than uniformly (0), or between",
    "jaw_drop": "augmentation: most extra mouth opening given to open mouths (inter-ocular distances)",
    "colour": "augmentation: largest change of the input's white balance and exposure (share)",
    "face_only": "show the encoder the face alone, on grey (live does the same)",
    "seed": "seed of weights and batches",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data_a", type=Path, metavar="DATA_A",
                        help="prepared faces of A, the driver side: you (`reenact record`, then `reenact prepare`)")
    parser.add_argument("data_b", type=Path, metavar="DATA_B", help="prepared faces of B, the target drawn live")
    parser.add_argument("--out", type=Path, required=True, metavar="RUN", help="run folder to create or resume")
    parser.add_argument("--resume", action="store_true", help="continue the run in RUN at its latest checkpoint")
    add_config_options(parser, SwapConfig, OPTION_HELP)


def resolve_config(args: argparse.Namespace) -> SwapConfig:
    """The run's configuration: new from the flags, or the saved one with --resume."""
    data_a, data_b = str(Path(args.data_a).resolve()), str(Path(args.data_b).resolve())
    manifests = [read_manifest(Path(data)) for data in (data_a, data_b)]  # clear errors for bad data first
    if manifests[0]["margin"] != manifests[1]["margin"] or \
            manifests[0]["sketch_version"] != manifests[1]["sketch_version"]:
        raise UserError(f"data {args.data_a} and {args.data_b} were aligned differently (margins "
                        f"{manifests[0]['margin']} and {manifests[1]['margin']}); prepare both with the same --margin")
    return resolve_run_config(args, SwapConfig, OPTION_HELP, {"data_a": data_a, "data_b": data_b},
                              lambda given: SwapConfig(data_a=data_a, data_b=data_b, **given))


def run(args: argparse.Namespace) -> int:
    from training.swap_train import train_swap

    config = resolve_config(args)
    result = train_swap(config, Path(args.out), resume=args.resume)
    return finish_training(result, f"reenact train-swap {config.data_a} {config.data_b} --out {args.out}",
                           "swap.tflite", args.out)
