"""Before and after the motion transfer, frame by frame: driver | gains 0 | the defaults.

Run: ``.venv/bin/python -m benchmarks.motion_figure --out docs/motion_before_after.jpg
[--frame CLIP:INDEX ...] [--model M.tflite]``.

Each ``--frame`` is one row: the driver's frame (its centre square), the live loop's output
with ``--pose-gain 0 --expression-gain 0`` (the target's head kept frontal and his face
within the expressions he showed, as before the motion transfer) and with the defaults.
Both runs go through the loop's own stages over the clip from its start, so calibration
and smoothing are what a live viewer gets.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from models.errors import UserError

SHARED_DRIVERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "drivers"
DEFAULT_FRAMES = (f"{SHARED_DRIVERS / 'expressive_34s.mp4'}:819", f"{SHARED_DRIVERS / 'expressive_34s.mp4'}:882",
                  f"{SHARED_DRIVERS / 'expressions_7s.mp4'}:118", f"{SHARED_DRIVERS / 'expressions_7s.mp4'}:150")
TILE = 256
CAPTIONS = ("driver", "before: gains 0", "after: the defaults")


def output_frames(clip: str, indices: set[int], model: Path | None, motion, enhancer: Path | None = None) -> dict:
    """{index: (driver frame, output frame)} for the wanted frames of ``clip``, with ``motion`` options
    (and ``enhancer``, the loop's face enhancer, or none)."""
    from media.sources import open_source
    from models.default_model import generator_path
    from models.tracking_landmarker import live_landmarker
    from realtime.enhancer_runner import EnhancerRunner
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner
    from realtime.pipeline import build_stages
    from realtime.stages import Packet, PipelineOptions
    from realtime.stats import RunStats

    runner = GeneratorRunner.from_file(GeneratorOptions(generator_path(model)))
    found = {}
    with open_source(clip) as source, live_landmarker() as landmarker:
        front, back = build_stages(runner, landmarker, RunStats(), PipelineOptions(motion=motion),
                                   enhancer=EnhancerRunner.from_file(enhancer) if enhancer is not None else None)
        for index, frame in enumerate(source):
            packet = back(front(Packet(frame)))
            if index in indices:
                found[index] = (frame.image, packet.output)
            if index >= max(indices):
                break
    missing = indices - set(found)
    if missing:
        raise UserError(f"{clip}: no frame {min(missing)} (the clip is shorter)")
    return found


def frame_spec(spec: str) -> tuple[str, int]:
    """``CLIP:INDEX`` (a ``--frame``) as (clip, index); UserError otherwise."""
    clip, _, index = spec.rpartition(":")
    if not clip or not index.isdigit():
        raise UserError(f"--frame {spec!r}: expected CLIP:INDEX, e.g. driver.mp4:120")
    return clip, int(index)


def _tile(image: np.ndarray) -> np.ndarray:
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return cv2.resize(image[top:top + side, left:left + side], (TILE, TILE), interpolation=cv2.INTER_AREA)


def _caption_row() -> np.ndarray:
    row = np.full((28, TILE * len(CAPTIONS), 3), 255, np.uint8)
    for column, text in enumerate(CAPTIONS):
        cv2.putText(row, text, (column * TILE + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return row


def main(argv: list[str] | None = None) -> int:
    from realtime.motion_transfer import MotionOptions

    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.motion_figure",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the figure (.jpg or .png)")
    parser.add_argument("--frame", action="append", metavar="CLIP:INDEX",
                        help="a row: a driver clip and a frame index (repeat; default: a head turn, a tilt, "
                             "a grin, a yawn)")
    parser.add_argument("--model", type=Path, help="generator .tflite (default: the shipped one)")
    args = parser.parse_args(argv)
    try:
        wanted: dict[str, set[int]] = {}
        rows_in_order = []
        for spec in args.frame or DEFAULT_FRAMES:
            clip, index = frame_spec(spec)
            wanted.setdefault(clip, set()).add(index)
            rows_in_order.append((clip, index))
        before, after = {}, {}
        for clip, indices in wanted.items():
            # Without the enhancer: this figure is about motion alone.
            before[clip] = output_frames(clip, indices, args.model, MotionOptions(pose_gain=0.0, expression_gain=0.0))
            after[clip] = output_frames(clip, indices, args.model, MotionOptions())
        rows = [_caption_row()]
        for clip, index in rows_in_order:
            driver, old = before[clip][index]
            rows.append(np.hstack([_tile(driver), _tile(old), _tile(after[clip][index][1])]))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 88])
        print(f"wrote {args.out}")
    except UserError as error:
        print(f"benchmarks.motion_figure: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
