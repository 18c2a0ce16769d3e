"""Turn target videos into aligned crops, landmarks and sketches, with a train/validation split."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.alignment import DEFAULT_MARGIN, DEFAULT_SIZE
from training.prepare import PrepareOptions, prepare_data


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="VIDEO_OR_FOLDER",
                        help="target videos, image folders, or folders of videos")
    parser.add_argument("--out", required=True, type=Path, metavar="DATA", help="data set folder to write")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE, help="aligned crop size in pixels")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN, help="alignment margin (share of the crop)")
    parser.add_argument("--every", type=int, default=1, metavar="K", help="keep every k-th frame")
    parser.add_argument("--credit", default="", help="attribution of the footage, carried into exported models")
    parser.add_argument("--gap", type=int, default=PrepareOptions.gap_frames, metavar="FRAMES",
                        help="source frames left out between training frames and the validation block")
    parser.add_argument("--holdout-clips", type=float, default=0.0, metavar="SHARE",
                        help="hold out this share of whole clips for validation (spread over the clips), "
                             "instead of the last frames of each; 0 (default) splits every clip")


def run(args: argparse.Namespace) -> int:
    options = PrepareOptions(size=args.size, margin=args.margin, every=args.every, credit=args.credit,
                             gap_frames=args.gap, holdout_clips=args.holdout_clips)
    report = prepare_data(args.inputs, args.out, options)
    print(report.summary())
    return 0
