"""Run the live loop: a source's face drives the target's, labelled SYNTHETIC, to a window, a virtual camera or files.

Defaults aim at the person at a webcam: the shipped model, the first real camera (else
the built-in ``sample`` driver), and a window where a display exists (else a file,
``out/live.mp4``). Several ``--output``s run at once; every frame they get is labelled
SYNTHETIC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from media.sources import default_camera
from models.default_model import DEFAULT_ENHANCER, DEFAULT_SWAP, enhancer_path, generator_path
from models.default_model import DEFAULT_GENERATOR as DEFAULT_MODEL
from models.generator_contract import MODES
from models.options import require
from models.tracking_landmarker import DEFAULT_LANDMARKER, LANDMARKERS
from realtime.capture import CaptureOptions
from realtime.generator_runner import DEFAULT_THREADS
from realtime.motion_transfer import MotionOptions
from realtime.pipeline import LiveConfig, run_live
from realtime.postprocess import DEFAULT_OUTPUT_SIZE, LAYOUTS
from realtime.retarget import RetargetOptions
from realtime.sinks import DEFAULT_CAMERA_SIZE, display_available
from realtime.stages import PipelineOptions

DEFAULT_FILE_OUTPUT = Path("out/live.mp4")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="camera index, video file, folder/glob of images, or 'sample' "
                                         "(default: the first webcam, else 'sample')")
    parser.add_argument("--mode", choices=MODES, default="reenact",
                        help="reenact: the target's face moves as the source's does, on its own; swap: the "
                             "source's own frame with the target's face pasted on (default %(default)s)")
    parser.add_argument("--model", type=Path,
                        help=f"model .tflite (default: the shipped {DEFAULT_MODEL.name}; with --mode swap it swaps "
                             f"by re-enactment; 'autoencoder': the shipped face-swap autoencoder {DEFAULT_SWAP.name}; "
                             "'fast': the shipped narrower generator, for a 60 fps camera)")
    parser.add_argument("--output", action="append", metavar="window|virtualcam|FILE.mp4",
                        help="where frames go; repeat for several (default: a window where a display "
                             f"exists, else {DEFAULT_FILE_OUTPUT})")
    parser.add_argument("--layout", choices=LAYOUTS, default="target",
                        help="target alone, driver and target side by side, or target with the driver "
                             "in a corner (default %(default)s; the window's l key cycles; "
                             "--mode swap keeps the driver's frame)")
    parser.add_argument("--calibrate", type=int, default=RetargetOptions().calibrate_frames, metavar="N",
                        help="frames of the driver's neutral face to calibrate on; 0 turns retargeting "
                             "off (default %(default)s; the window's c key recalibrates)")
    parser.add_argument("--stats", type=Path, metavar="STATS.json", help="write frame counts, fps, "
                                                                         "latency and stage timings here")
    parser.add_argument("--no-pace", action="store_true",
                        help="read a file as fast as possible instead of at its frame rate")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, metavar="N",
                        help="LiteRT threads for the generator (default %(default)s)")
    parser.add_argument("--overlap", action=argparse.BooleanOptionalAction, default=PipelineOptions.overlap,
                        help="overlap the landmarks of the next frame with the generator of this one: more "
                             "frames per second from a fast camera, more latency (default: off; the landmarks "
                             "of the next frame overlap only this one's post-processing and outputs)")
    add_follow_mouth_option(parser)
    add_motion_options(parser)
    add_enhancer_options(parser)
    parser.add_argument("--size", type=int, default=DEFAULT_OUTPUT_SIZE, metavar="PIXELS",
                        help="side of the face in output frames (default %(default)s)")
    parser.add_argument("--camera-size", default="%dx%d" % DEFAULT_CAMERA_SIZE, metavar="WxH",
                        help="frame size the virtual camera sends, the output fitted in the middle "
                             "(default %(default)s, what video-call apps expect)")
    parser.add_argument("--landmarker", choices=LANDMARKERS, default=DEFAULT_LANDMARKER,
                        help="the landmark stage: the face landmarker's networks on LiteRT, tracking the face "
                             "(default), or MediaPipe's Tasks API, which runs its whole graph every frame")
    parser.add_argument("--loop", action="store_true",
                        help="replay a file source without end (kiosk demos, soak runs); q or Ctrl-C stops")


def add_follow_mouth_option(parser: argparse.ArgumentParser) -> None:
    """``--follow-mouth`` / ``--no-follow-mouth``, for ``live`` and ``bench``."""
    parser.add_argument("--follow-mouth", action=argparse.BooleanOptionalAction, default=PipelineOptions.follow_mouth,
                        help="--mode swap: open or close the drawn mouth to the driver's, where the target's "
                             "decoder draws it narrower or wider (default: on)")


def add_motion_options(parser: argparse.ArgumentParser) -> None:
    """``--pose-gain`` and ``--expression-gain``, for ``live``, ``bench`` and ``eval``."""
    defaults = MotionOptions()
    parser.add_argument("--pose-gain", type=float, default=defaults.pose_gain, metavar="G",
                        help="how far the target's head turns and nods with yours: 1 as much, 0 kept frontal "
                             f"(default %(default)s; held at {defaults.max_yaw:.0f} degrees of yaw and "
                             f"{defaults.max_pitch:.0f} of pitch)")
    parser.add_argument("--expression-gain", type=float, default=defaults.expression_gain, metavar="G",
                        help="how much of the expression beyond what the target showed in training (a grin, a "
                             "wide mouth) is carried by warping his face: 0 none (default %(default)s)")


def add_enhancer_options(parser: argparse.ArgumentParser) -> None:
    """``--enhance`` / ``--no-enhance`` and ``--enhancer``, for ``live``, ``bench`` and ``eval``."""
    parser.add_argument("--enhance", action=argparse.BooleanOptionalAction, default=True,
                        help="redraw the face at twice the generator's size with skin, lash and lip detail, "
                             "about 4 ms a frame (default: on; the window's d key switches it)")
    parser.add_argument("--enhancer", type=Path, metavar="ENHANCER.tflite",
                        help=f"the face enhancer (default: the shipped {DEFAULT_ENHANCER.name}; "
                             "made by `reenact train-enhancer` and `reenact export`)")


def enhancer_choice(args: argparse.Namespace) -> Path | None:
    """The enhancer file ``add_enhancer_options``' arguments ask for, or None."""
    return enhancer_path(args.enhance, args.enhancer)


def motion_options(args: argparse.Namespace) -> MotionOptions:
    """The motion transfer's options from ``add_motion_options``' arguments."""
    return MotionOptions(pose_gain=args.pose_gain, expression_gain=args.expression_gain)


def camera_size(text: str) -> tuple[int, int]:
    """"1280x720" -> (1280, 720); UserError for anything else."""
    width, separator, height = text.lower().partition("x")
    require(bool(separator and width.isdigit() and height.isdigit()), f"--camera-size {text!r}",
            "WIDTHxHEIGHT, e.g. 1280x720")
    return int(width), int(height)


def _source(args: argparse.Namespace) -> str:
    if args.source:
        return args.source
    camera = default_camera()
    if camera is not None:
        return camera
    return "sample"


def build_config(args: argparse.Namespace) -> LiveConfig:
    """The run's configuration from parsed arguments; bad values raise UserError."""
    outputs = args.output or (["window"] if display_available() else [str(DEFAULT_FILE_OUTPUT)])
    # The options check themselves, each in its own __post_init__; the source is opened last.
    pipeline = PipelineOptions(layout=args.layout, output_size=args.size, overlap=args.overlap,
                               retarget=RetargetOptions(calibrate_frames=args.calibrate), landmarker=args.landmarker,
                               follow_mouth=args.follow_mouth, motion=motion_options(args))
    return LiveConfig(
        source=_source(args), model_path=generator_path(args.model, args.mode), mode=args.mode,
        outputs=tuple(outputs), stats_path=args.stats,
        num_threads=args.threads, capture=CaptureOptions(pace=not args.no_pace), pipeline=pipeline,
        loop=args.loop, camera_size=camera_size(args.camera_size), enhancer_path=enhancer_choice(args))


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    summary = run_live(config)
    latency = summary["latency_ms"]
    print(f"{summary['frames_in']} frames in, {summary['frames_out']} out, {summary['frames_dropped']} dropped, "
          f"{summary['fps']:.1f} fps, latency p50 {latency['p50']:.0f} ms p95 {latency['p95']:.0f} ms "
          f"({summary['stopped_by']}) -> {', '.join(summary['outputs']) or 'no output'}"
          + "".join(f"; {name} failed" for name in summary["outputs_failed"]))
    # A script that records must be able to tell: an output that failed is a failed run.
    return 1 if summary["outputs_failed"] else 0
