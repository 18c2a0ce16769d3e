"""Measure a generator on a data set's validation split, or on a driver clip.

``--data DATA`` compares generated faces with the real validation frames (PSNR, SSIM,
landmark fidelity, mouth opening); ``--driver CLIP`` runs a driver clip through the live
path and measures whether the generated face follows its expressions. ``--mode swap``
measures a face-swap model on a driver clip (:mod:`evaluation.swap`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.default_model import DEFAULT_ENHANCER, enhancer_path, generator_path
from models.errors import UserError
from models.generator_contract import MODES
from realtime.motion_transfer import MotionOptions
from realtime.stages import PipelineOptions
from reenact.commands.live import add_motion_options, motion_options


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mode", choices=MODES, default="reenact",
                        help="reenact: a generator; swap: a face-swap model, on a --driver clip "
                             "(default %(default)s)")
    parser.add_argument("--model", type=Path,
                        help="exported model (.tflite); default: the shipped one of --mode ('fast': the "
                             "narrower generator)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--data", type=Path, help="prepared data set: evaluate on its validation split; with "
                                                "--enhancer, a folder of sharp face images")
    what.add_argument("--driver", help="driver clip: evaluate expression transfer through the live path")
    parser.add_argument("--json", type=Path, required=True, help="where to write the figures")
    parser.add_argument("--grid", type=Path, help="image grid to write (with --data; default: next to --json)")
    parser.add_argument("--split", choices=("val", "all"), default="val",
                        help="with --data: its validation split, or every frame (a folder of clips never "
                             "trained on; default %(default)s)")
    parser.add_argument("--calibrate", type=int, default=30,
                        help="frames of the driver used as its neutral face (with --driver; default %(default)s)")
    parser.add_argument("--reference", type=Path, metavar="DATA",
                        help="with --driver: the target's prepared data set; measures broken frames (with "
                             "--mode swap: identity) against its real faces")
    parser.add_argument("--source-side", type=Path, metavar="DATA_A",
                        help="with --mode swap and --reference: the prepared faces the model was trained to "
                             "swap from (A); measures broken frames against how far its swaps of them are from B")
    parser.add_argument("--sheet", type=Path, metavar="PNG",
                        help="with --driver: contact sheet of 16 frames, driver above output")
    parser.add_argument("--motion-plot", type=Path, metavar="PNG",
                        help="with --driver: the driver's and the output's yaw, pitch and smile over time")
    add_motion_options(parser)
    parser.add_argument("--enhance", action=argparse.BooleanOptionalAction, default=True,
                        help="with --driver: run the face enhancer in the loop, as reenact live (default: on)")
    parser.add_argument("--enhancer", type=Path, nargs="?", const=DEFAULT_ENHANCER, metavar="ENHANCER.tflite",
                        help="with --data FOLDER: measure this enhancer (alone: the shipped one) on its sharp faces "
                             "degraded the stated way, beside bicubic enlargement; with --driver: the enhancer "
                             "the loop runs")


def run(args: argparse.Namespace) -> int:
    if args.enhancer is not None and args.data is not None:
        from evaluation.enhancer import evaluate_enhancer

        grid = args.grid or args.json.with_suffix(".jpg")
        figures = evaluate_enhancer(args.enhancer, args.data, args.json, grid)
        print(f"all figures: {args.json}; sheet (degraded | bicubic | restored | sharp): {grid}")
        return 0
    args.model = generator_path(args.model, args.mode)
    if not args.model.is_file():
        raise UserError(f"model {args.model}: no such file (train and export one, or pass --model)")
    if args.source_side is not None and args.mode != "swap":
        raise UserError("--source-side is the face-swap source side: it needs --mode swap")
    if args.mode == "swap" or args.data is not None:
        if motion_options(args) != MotionOptions():
            raise UserError("--pose-gain and --expression-gain move a re-enacted face: they need --driver "
                            "without --mode swap")
    if args.mode == "swap":
        if args.driver is None:
            raise UserError("--mode swap measures a model on a driver clip: pass --driver CLIP, not --data")
        from evaluation.swap import evaluate_swap

        figures = evaluate_swap(args.driver, args.model, args.json, reference=args.reference, sheet=args.sheet,
                                source_side=args.source_side, enhancer=enhancer_path(args.enhance, args.enhancer))
    elif args.data is not None:
        from evaluation.data import evaluate_data

        grid = args.grid or args.json.with_suffix(".png")
        figures = evaluate_data(args.model, args.data, args.json, grid, split=args.split)
    else:
        from evaluation.driver import evaluate_driver

        figures = evaluate_driver(args.driver, args.model, args.json, calibrate_frames=args.calibrate,
                                  reference=args.reference, sheet=args.sheet, motion_plot=args.motion_plot,
                                  pipeline=PipelineOptions(motion=motion_options(args)),
                                  enhancer=enhancer_path(args.enhance, args.enhancer))
    summary = {key: value for key, value in figures.items() if not isinstance(value, (list, dict))}
    print(json.dumps(summary, indent=2))
    print(f"all figures, per frame too: {args.json}")
    return 0
