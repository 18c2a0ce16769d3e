"""Run the face front-end over a source and write a frame | aligned crop | sketch video."""

from __future__ import annotations

import argparse
from pathlib import Path

from evaluation.front_end import LandmarksConfig, run_landmarks
from models.alignment import DEFAULT_MARGIN, DEFAULT_SIZE


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", default="sample",
                        help="camera index, video file, folder/glob of images, or 'sample' (default)")
    parser.add_argument("--out", type=Path, required=True, help="side-by-side mp4 to write")
    parser.add_argument("--stats", type=Path, help="JSON file for frame counts and landmark timing")
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE,
                        help="aligned crop size in pixels (default %(default)s)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="border around the face box, as a fraction of the crop (default %(default)s)")
    parser.add_argument("--smooth", action="store_true", help="apply the live loop's One-Euro smoothing")


def run(args: argparse.Namespace) -> int:
    config = LandmarksConfig(source=args.source, out=args.out, stats=args.stats,
                             size=args.size, margin=args.margin, smooth=args.smooth)
    stats = run_landmarks(config)
    print(f"{stats['frames']} frames, {stats['frames_with_face']} with a face, "
          f"landmarks p50 {stats['landmark_ms']['p50']:.1f} ms, p95 {stats['landmark_ms']['p95']:.1f} ms "
          f"-> {config.out}")
    return 0
