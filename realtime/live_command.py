"""``reenact live``: the live loop from the command line.

Defaults aim at the person at a webcam: the shipped model, the first real camera (else
the built-in ``sample`` driver), and a window where a display exists (else a file,
``out/live.mp4``). Several ``--output``s run at once; every frame they get is labelled
SYNTHETIC.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
from pathlib import Path

from models.default_model import DEFAULT_GENERATOR as DEFAULT_MODEL
from models.errors import UserError
from realtime.capture import CaptureOptions
from realtime.generator_runner import DEFAULT_THREADS
from realtime.pipeline import LiveConfig, PipelineOptions, run_live
from realtime.postprocess import DEFAULT_OUTPUT_SIZE, LAYOUTS
from realtime.retarget import RetargetOptions
from realtime.sinks import display_available

DEFAULT_FILE_OUTPUT = Path("out/live.mp4")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi")
# Names that virtual cameras give their device nodes: never mistaken for a webcam.
_VIRTUAL_CAMERA_NAMES = ("reenact", "dummy video device", "v4l2loopback", "obs virtual")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", help="camera index, video file, folder/glob of images, or 'sample' "
                                         "(default: the first webcam, else 'sample')")
    parser.add_argument("--model", type=Path, help=f"generator .tflite (default: the shipped {DEFAULT_MODEL.name})")
    parser.add_argument("--output", action="append", metavar="window|virtualcam|FILE.mp4",
                        help="where frames go; repeat for several (default: a window where a display "
                             f"exists, else {DEFAULT_FILE_OUTPUT})")
    parser.add_argument("--layout", choices=LAYOUTS, default="target",
                        help="target alone, driver and target side by side, or target with the driver "
                             "in a corner (default %(default)s; the window's l key cycles)")
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
    parser.add_argument("--size", type=int, default=DEFAULT_OUTPUT_SIZE, metavar="PIXELS",
                        help="side of the face in output frames (default %(default)s)")


def default_camera(devices: Path = Path("/sys/class/video4linux")) -> str | None:
    """The index of the first real webcam as a source spec, or None where there is none.

    On Linux the device list is read from sysfs without opening anything, skipping virtual
    cameras (a v4l2loopback device must not become our own input). Elsewhere camera 0 is
    assumed.
    """
    if platform.system() != "Linux":
        return "0"
    nodes = [node for node in devices.glob("video*") if node.name[len("video"):].isdigit()]
    for node in sorted(nodes, key=lambda node: int(node.name[len("video"):])):
        try:
            name = (node / "name").read_text().strip().lower()
        except OSError:
            continue
        if not any(virtual in name for virtual in _VIRTUAL_CAMERA_NAMES):
            return node.name[len("video"):]
    return None


def _source(args: argparse.Namespace) -> str:
    if args.source:
        return args.source
    camera = default_camera()
    if camera is not None:
        return camera
    if importlib.util.find_spec("realtime.sample_clip") is None:
        raise UserError("no webcam found and the built-in sample driver is not installed; "
                        "pass --source VIDEO_FILE")
    return "sample"


def _outputs(args: argparse.Namespace) -> tuple[str, ...]:
    outputs = args.output or (["window"] if display_available() else [str(DEFAULT_FILE_OUTPUT)])
    for output in outputs:
        if output not in ("window", "virtualcam") and Path(output).suffix.lower() not in VIDEO_SUFFIXES:
            raise UserError(f"got --output {output}, expected window, virtualcam or a video file "
                            f"ending in {', '.join(VIDEO_SUFFIXES)}")
    return tuple(outputs)


def build_config(args: argparse.Namespace) -> LiveConfig:
    """The run's configuration from parsed arguments; bad values raise UserError."""
    if args.threads < 1:
        raise UserError(f"got --threads {args.threads}, expected 1 or more")
    if args.calibrate < 0:
        raise UserError(f"got --calibrate {args.calibrate}, expected 0 (off) or more frames")
    if not 64 <= args.size <= 2048:
        raise UserError(f"got --size {args.size}, expected 64 to 2048 pixels")
    model = args.model
    if model is None:
        if not DEFAULT_MODEL.is_file():
            raise UserError(f"the shipped model {DEFAULT_MODEL} is missing; reinstall reenact or pass "
                            "--model MODEL.tflite (made by `reenact export`)")
        model = DEFAULT_MODEL
    return LiveConfig(
        source=_source(args), model_path=model, outputs=_outputs(args), stats_path=args.stats,
        num_threads=args.threads, capture=CaptureOptions(pace=not args.no_pace),
        pipeline=PipelineOptions(layout=args.layout, output_size=args.size, overlap=args.overlap,
                                 retarget=RetargetOptions(calibrate_frames=args.calibrate)))


def run(args: argparse.Namespace) -> int:
    config = build_config(args)
    summary = run_live(config)
    latency = summary["latency_ms"]
    print(f"{summary['frames_in']} frames in, {summary['frames_out']} out, {summary['frames_dropped']} dropped, "
          f"{summary['fps']:.1f} fps, latency p50 {latency['p50']:.0f} ms p95 {latency['p95']:.0f} ms "
          f"({summary['stopped_by']}) -> {', '.join(config.outputs)}")
    return 0
