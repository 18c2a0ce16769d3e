"""The face enhancer at full size: the loop's output without it and with it, side by side.

Run: ``.venv/bin/python -m benchmarks.enhancer_figure --out docs/enhancer_before_after.jpg
[--frame CLIP:INDEX ...] [--model M.tflite] [--enhancer E.tflite]``.

Each ``--frame`` is one row: the middle of the 512-px output face (eyes to chin), not
scaled, from the live loop's own stages over the clip from its start, without the enhancer
(the generator's 256-px face enlarged, as before) and with it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from benchmarks.motion_figure import SHARED_DRIVERS, frame_spec, output_frames
from models.errors import UserError

DEFAULT_FRAMES = (f"{SHARED_DRIVERS / 'expressive_34s.mp4'}:300", f"{SHARED_DRIVERS / 'expressions_7s.mp4'}:150")
CROP = (slice(110, 400), slice(96, 416))  # rows, columns of the 512-px face: brows to chin
CAPTIONS = ("without the enhancer (enlarged)", "with the enhancer")


def main(argv: list[str] | None = None) -> int:
    from models.default_model import DEFAULT_ENHANCER
    from realtime.motion_transfer import MotionOptions

    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.enhancer_figure",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the figure (.jpg or .png)")
    parser.add_argument("--frame", action="append", metavar="CLIP:INDEX",
                        help="a row: a driver clip and a frame index (repeat)")
    parser.add_argument("--model", type=Path, help="generator .tflite (default: the shipped one)")
    parser.add_argument("--enhancer", type=Path, default=DEFAULT_ENHANCER, help="enhancer (default: the shipped one)")
    args = parser.parse_args(argv)
    try:
        rows = []
        for spec in args.frame or DEFAULT_FRAMES:
            clip, index = frame_spec(spec)
            pair = [output_frames(clip, {index}, args.model, MotionOptions(), enhancer)[index][1][CROP]
                    for enhancer in (None, args.enhancer)]
            rows.append(np.hstack([pair[0], np.full((pair[0].shape[0], 4, 3), 255, np.uint8), pair[1]]))
        width = rows[0].shape[1]
        caption = np.full((28, width, 3), 255, np.uint8)
        for column, text in enumerate(CAPTIONS):
            cv2.putText(caption, text, (column * (width // 2) + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1,
                        cv2.LINE_AA)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(args.out), np.vstack([caption, *rows]))
        print(f"wrote {args.out}")
    except UserError as error:
        print(f"benchmarks.enhancer_figure: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
