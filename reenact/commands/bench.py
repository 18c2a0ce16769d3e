"""Measure the live loop's frame rate, latency and memory, generator variants and Numba kernels."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.bench import BenchConfig, run_bench
from benchmarks.generators import SCALES, bench_cache_dir
from benchmarks.live_run import LiveBenchOptions
from benchmarks.soak import SAMPLE_INTERVAL_S, SoakOptions, run_soak
from media.camera_feed import DEFAULT_CAMERA_FPS
from models.default_model import DEFAULT_GENERATOR, DEFAULT_SWAP, generator_path
from models.generator_contract import MODES
from models.tracking_landmarker import LANDMARKERS
from realtime.capture import CaptureOptions
from realtime.generator_runner import DEFAULT_THREADS
from realtime.stages import PipelineOptions
from reenact.commands.live import (
    add_enhancer_options,
    add_follow_mouth_option,
    add_motion_options,
    enhancer_choice,
    motion_options,
)


def _fraction_or_none(text: str) -> float | None:
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected a number >= 0 or 'none'") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"got {text!r}, expected a number >= 0 or 'none'")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", required=True,
                        help="video file, folder/glob of images, 'sample' (replayed as a camera), or a camera index")
    parser.add_argument("--frames", type=int, default=600, metavar="N", help="measured frames (default %(default)s)")
    parser.add_argument("--minutes", type=float, metavar="M",
                        help="instead, a soak: run the loop M minutes (the clip looped), sample memory and fps "
                             "every 10 s, report rss_growth_mb and the fps of the first and last tenth")
    parser.add_argument("--sample-every", type=float, default=SAMPLE_INTERVAL_S, metavar="S",
                        help="with --minutes: seconds between samples (default %(default)g)")
    parser.add_argument("--warmup", type=int, default=30, metavar="W",
                        help="frames run before measuring (default %(default)s)")
    parser.add_argument("--mode", choices=MODES, default="reenact",
                        help="the loop to time, as reenact live --mode (default %(default)s)")
    parser.add_argument("--model", type=Path,
                        help=f"model .tflite (default: the shipped {DEFAULT_GENERATOR.name}, which with --mode swap "
                             f"swaps by re-enactment; 'autoencoder': {DEFAULT_SWAP.name}; 'fast': the shipped "
                             "narrower generator)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the report here")
    parser.add_argument("--plot", type=Path, metavar="OUT.png", help="draw latency, stages and variants here")
    parser.add_argument("--camera-fps", type=float, default=DEFAULT_CAMERA_FPS, metavar="FPS",
                        help="rate of the simulated camera that replays a file; 0: as fast as frames decode "
                             "(default %(default)g)")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help="LiteRT threads for the generator, in the loop and the variants (default %(default)s)")
    parser.add_argument("--stale-after", type=_fraction_or_none, default=CaptureOptions.stale_after,
                        metavar="FRACTION",
                        help="a camera frame older than this fraction of a camera period is passed over for the "
                             "next one; 'none' always takes the newest (default %(default)s)")
    parser.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=PipelineOptions.overlap,
                        help="overlap the landmarks of the next frame with the generator of this one "
                             "(default: off, as reenact live)")
    add_follow_mouth_option(parser)
    add_motion_options(parser)
    add_enhancer_options(parser)
    parser.add_argument("--landmarker", choices=LANDMARKERS, default=PipelineOptions.landmarker,
                        help="the loop's landmark stage, as reenact live (default %(default)s); with a file "
                             "source, both are also timed side by side on its frames")
    parser.add_argument("--variants", choices=(*SCALES, "none"), default="full",
                        help="generator variants to time: full size, small stand-ins (a quick check), "
                             "or none (default %(default)s)")
    parser.add_argument("--variant-dir", type=Path, metavar="DIR",
                        help=f"where built variants are kept (default {bench_cache_dir()})")
    parser.add_argument("--invokes", type=int, default=50, metavar="N",
                        help="timed invokes of each variant (default %(default)s)")
    parser.add_argument("--kernel-repeats", type=int, default=300, metavar="N",
                        help="timed calls of each Numba kernel and its twin; 0 skips them (default %(default)s)")


def run(args: argparse.Namespace) -> int:
    model_path = generator_path(args.model, args.mode)
    if args.minutes is not None:
        options = SoakOptions(source=args.source, model_path=model_path, minutes=args.minutes,
                              camera_fps=args.camera_fps, num_threads=args.threads, interval_s=args.sample_every,
                              landmarker=args.landmarker, overlap=args.overlap, mode=args.mode,
                              enhancer_path=enhancer_choice(args))
        run_soak(options, args.json, args.plot)
        return 0
    live = LiveBenchOptions(source=args.source, model_path=model_path, frames=args.frames,
                            warmup=args.warmup, camera_fps=args.camera_fps, num_threads=args.threads,
                            stale_after=args.stale_after, overlap=args.overlap, landmarker=args.landmarker,
                            mode=args.mode, follow_mouth=args.follow_mouth, motion=motion_options(args),
                            enhancer_path=enhancer_choice(args))
    run_bench(BenchConfig(live, variants=args.variants, variant_dir=args.variant_dir, invokes=args.invokes,
                          kernel_repeats=args.kernel_repeats, json_path=args.json, plot_path=args.plot))
    return 0
