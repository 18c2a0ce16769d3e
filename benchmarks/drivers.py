"""Every shared driver through one generator: broken-frame share, expression transfer, a contact sheet each.

Run: ``.venv/bin/python -m benchmarks.drivers --model M.tflite --reference DATA --out DIR
[--drivers ../shared/data/drivers] [--label NAME] [--mode swap --source-side DATA_A]``.

What a person sees is the measure: for each driver clip (every video in ``--drivers``,
plus the built-in ``sample``) this runs ``reenact eval --driver`` with the target's data
set as the broken-frame reference, writes ``DIR/<driver>.json``, the contact sheet
``DIR/<driver>.jpg`` (driver above the final output, 16 frames, broken ones framed red)
and the motion plot ``DIR/<driver>_motion.png`` (yaw, pitch and smile of driver and
output), and prints one table row per driver, the motion figures (:mod:`evaluation.motion`)
among them. ``DIR/drivers.json`` holds the rows. ``--mode swap`` measures a face-swap
model instead (``reenact eval --mode swap``: the frame outside the face kept, identity,
expression, broken frames; the sheet shows driver above swapped).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from media.formats import VIDEO_SUFFIXES
from models.default_model import enhancer_path
from models.errors import UserError
from models.files import write_json

SHARED_DRIVERS = Path(__file__).resolve().parents[2] / "shared" / "data" / "drivers"
COLUMNS = ("broken_share", "broken_share_local", "calibration_broken_frames", "distance_p50", "distance_p90",
           "detect_rate", "mouth_open_corr", "eye_open_corr", "sharpness", "recognizer_distance_to_target_p50")
# evaluation.motion's summary: how much of the driver's head turn and expression the output shows.
MOTION_COLUMNS = ("yaw_gain", "yaw_corr", "pitch_gain", "pitch_corr", "roll_gain", "roll_corr", "jawOpen_gain",
                  "mouthSmile_gain", "browInnerUp_gain", "browDown_gain", "eyeBlink_gain", "eyeWide_gain",
                  "blendshape_gain_p50", "warp_fallback_share")
SWAP_COLUMNS = ("broken_share", "outside_psnr", "identity_share", "identity_share_pasted", "distance_to_b_p50",
                "distance_to_a_p50", "detect_rate", "mouth_open_corr", "eye_open_corr", "recognizer_distance_to_b_p50",
                "recognizer_nearer_b_share", "sharpness_p50", "jawOpen_gain", "mouthSmile_gain", "eyeBlink_gain",
                "yaw_mae", "pitch_mae", "seam_p50", "seam_p95")


def driver_clips(folder: Path) -> list[str]:
    """Every video in ``folder`` by name, then ``sample``."""
    clips = sorted(str(path) for path in Path(folder).glob("*") if path.suffix.lower() in VIDEO_SUFFIXES)
    return clips + ["sample"]


def columns_of(mode: str) -> tuple[str, ...]:
    """The table's figures for a model of ``mode``."""
    return SWAP_COLUMNS if mode == "swap" else COLUMNS + MOTION_COLUMNS


def measure_drivers(model: Path, reference: Path, out: Path, clips: list[str], label: str,
                    mode: str = "reenact", source_side: Path | None = None,
                    enhancer: Path | None = None) -> list[dict]:
    from evaluation.driver import evaluate_driver
    from evaluation.swap import evaluate_swap

    columns = columns_of(mode)
    rows = []
    for clip in clips:
        name = Path(clip).stem
        evaluate = (partial(evaluate_swap, source_side=source_side, enhancer=enhancer) if mode == "swap"
                    else partial(evaluate_driver, motion_plot=out / f"{name}_motion.png", enhancer=enhancer))
        report = evaluate(clip, model, out / f"{name}.json", reference=reference, sheet=out / f"{name}.jpg")
        figures = {**report, **report.get("motion", {}).get("summary", {})}
        row = {"model": label, "driver": name, **{column: figures.get(column) for column in columns}}
        rows.append(row)
        print("  ".join(f"{row[key]}" for key in ("model", "driver", *columns)), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.drivers",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="generator .tflite")
    parser.add_argument("--reference", type=Path, required=True, metavar="DATA",
                        help="the target's prepared data set (real faces and held-out sketches)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for reports and sheets")
    parser.add_argument("--drivers", type=Path, default=SHARED_DRIVERS, metavar="FOLDER",
                        help=f"driver clips (default {SHARED_DRIVERS})")
    parser.add_argument("--label", help="the model's name in the table (default: its file name)")
    parser.add_argument("--mode", choices=("reenact", "swap"), default="reenact",
                        help="a generator, or a face-swap model with B's data set as --reference")
    parser.add_argument("--source-side", type=Path, metavar="DATA_A",
                        help="with --mode swap: A's prepared faces, for the broken-frame share")
    parser.add_argument("--enhance", action=argparse.BooleanOptionalAction, default=True,
                        help="run the face enhancer in the loop, as reenact live (default: on)")
    parser.add_argument("--enhancer", type=Path, metavar="ENHANCER.tflite",
                        help="the enhancer (default: the shipped one)")
    args = parser.parse_args(argv)
    try:
        if not args.drivers.is_dir():
            raise UserError(f"drivers {args.drivers}: no such folder")
        print("  ".join(("model", "driver", *columns_of(args.mode))))
        rows = measure_drivers(args.model, args.reference, args.out, driver_clips(args.drivers),
                               args.label or args.model.name, args.mode, args.source_side,
                               enhancer_path(args.enhance, args.enhancer))
        write_json(args.out / "drivers.json", rows)
    except UserError as error:
        print(f"benchmarks.drivers: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
