"""Where a driver's expression is lost: MediaPipe's blendshapes read at every stage of the loop.

Run: ``.venv/bin/python -m benchmarks.motion_stages [--driver CLIP] [--model M.tflite] [--json OUT]``.

The loop runs over the clip as it does live (re-enactment, enhancer on, calibrating on the
driver's first frames as it goes, where ``reenact eval --driver`` calibrates on them before
it starts, so its output figures differ a little from this ``output``). For each frame,
MediaPipe's blendshape network (:class:`models.tracking_landmarker.BlendshapeNetwork`)
scores the points of each stage:

- ``landmarks``: the driver's points as the loop's landmark stage found them;
- ``asked``: the driver's expression on the target's face, before the shape-space clamp;
- ``drawn``: the clamped face the generator is asked to draw (the sketch's points);
- ``aim``: where the warp sends the drawn face's points;
- ``output``: the points the Tasks API finds in the final output frame.

Each is compared with the Tasks API's reading of the driver's frame, as ``reenact eval
--driver`` compares the output (:func:`evaluation.motion.compare_motion`, the same floor and
neutral), so a blendshape whose gain falls between two stages was lost between them: in
the landmark stage, in retargeting, in the clamp, in the warp's aim or in the picture.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from benchmarks.drivers import SHARED_DRIVERS
from evaluation.motion import BLENDSHAPES, POSE, compare_motion, motion_sample
from models.errors import UserError
from models.files import write_json

STAGES = ("landmarks", "asked", "drawn", "aim", "output")


def stage_motion(clip: str, model: Path | None = None) -> dict:
    """{stage: compare_motion's per-measure report against the driver} for one clip."""
    from media.sources import open_source
    from models.default_model import enhancer_path, generator_path
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from models.tracking_landmarker import BlendshapeNetwork, live_landmarker
    from realtime.enhancer_runner import EnhancerRunner
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner
    from realtime.pipeline import build_stages
    from realtime.stages import Packet, PipelineOptions
    from realtime.stats import RunStats

    runner = GeneratorRunner.from_file(GeneratorOptions(generator_path(model)))
    network = BlendshapeNetwork()
    nothing = {name: math.nan for name in POSE}

    def sample(points) -> dict | None:
        return None if points is None else {**nothing, **network.scores(points)}

    driver, stages = [], {stage: [] for stage in STAGES}
    with open_source(clip) as source, live_landmarker() as landmarker, \
            FaceLandmarker(LandmarkerOptions(video_mode=False)) as checker:
        front, back = build_stages(runner, landmarker, RunStats(), PipelineOptions(),
                                   enhancer=EnhancerRunner.from_file(Path(enhancer_path(True))))
        for frame in source:
            packet = back(front(Packet(frame)))
            driver.append(motion_sample(checker.detect(frame.image)))
            found = checker.detect(packet.output) if packet.output is not None else None
            warp = packet.face_warp
            for stage, points in (("landmarks", packet.points), ("asked", packet.asked),
                                  ("drawn", packet.target_aligned), ("aim", warp.moved if warp is not None else None),
                                  ("output", found.points if found is not None else None)):
                stages[stage].append(sample(points))
    return {stage: compare_motion(driver, samples)["measures"] for stage, samples in stages.items()}


def table(report: dict) -> str:
    """Gain (r) of each blendshape the driver moves on, one column a stage."""
    lines = ["blendshape".ljust(18) + "".join(stage.rjust(14) for stage in STAGES)]
    for name in BLENDSHAPES:
        if not report["output"][name]["moves"]:
            continue
        cells = [f"{report[stage][name]['gain']:.2f} ({report[stage][name]['corr']:.2f})".rjust(14)
                 if report[stage][name].get("gain") is not None else "-".rjust(14) for stage in STAGES]
        lines.append(name.ljust(18) + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.motion_stages",
                                     description="MediaPipe's blendshapes of a driver's expression at every stage "
                                                 "of the loop: where a motion is lost.")
    parser.add_argument("--driver", default=str(SHARED_DRIVERS / "expressions_7s.mp4"),
                        help="driver clip, or 'sample' (default: the shared expressions_7s)")
    parser.add_argument("--model", type=Path, help="generator .tflite (default: the shipped one)")
    parser.add_argument("--json", type=Path, help="write every stage's report here")
    args = parser.parse_args(argv)
    try:
        report = stage_motion(args.driver, args.model)
        print(table(report))
        if args.json is not None:
            write_json(args.json, {"driver": args.driver, "stages": report})
    except UserError as error:
        print(f"benchmarks.motion_stages: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
