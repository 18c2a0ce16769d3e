"""Export a trained generator to TFLite, with its metadata inside, and check it against Keras."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.generator_recipe import QUANTIZATIONS
from training.export import export_generator
from training.tflite import PARITY_WARNING_DB, ExportOptions


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # dest is not "run": the CLI keeps each verb's run function under that name.
    parser.add_argument("run_dir", type=Path, metavar="RUN",
                        help="training run folder (from `reenact train` or `reenact train-swap`)")
    parser.add_argument("--out", type=Path, required=True, metavar="MODEL.tflite", help="file to write")
    parser.add_argument("--quant", choices=QUANTIZATIONS, default="fp32",
                        help="fp32, fp16 (float16 weights) or int8 (full integer, int8 in and out)")
    parser.add_argument("--data", type=Path, metavar="DATA",
                        help="prepared data set (default: the one the run was trained on; a swap run "
                             "always uses its own)")


def run(args: argparse.Namespace) -> int:
    report = export_generator(args.run_dir, args.out, args.data, ExportOptions(quantization=args.quant))
    print(report.summary())
    if report.parity_psnr < PARITY_WARNING_DB:
        print("warning: the TFLite model departs from the Keras model; compare them with `reenact eval`")
    return 0
