"""Expression fidelity of a generator on a driver clip: does the face do what the driver does?

The clip runs through the live loop's own stage code (landmarks, smoothing, retargeting,
sketch, generator), offline and without threads, calibrated on the clip's first frames.
MediaPipe then looks again, in IMAGE mode, at every generated face. PSNR cannot see a
mouth drawn open when it should be shut; these figures can:

- ``mouth_open_corr`` / ``eye_open_corr``: Pearson's r over the clip between the driver's
  measure and the generated face's;
- ``shape_drift``: how far the generated face's rigid shape (oval, nose, brows; aligned,
  in inter-ocular units) lies from the target's neutral shape, divided by how far the
  driver's lies from it: below 1 the target kept its own face;
- ``detect_rate``: the share of generated faces MediaPipe finds at all;
- with the target's data set as reference, ``broken_share`` (and ``broken_share_local``):
  the share of generated faces unlike any real face of the target
  (:mod:`evaluation.broken_frames`), and ``calibration_broken_frames``: how many of the
  faces drawn while the loop calibrates, as a live viewer sees them, are broken.

The same correlations between the driver and the retargeted landmarks (``retarget_*``)
tell a retargeting fault from a generator fault.

``motion`` (:mod:`evaluation.motion`): the head pose and blendshapes of the loop's final
output frames (after every stage) against the driver's, per measure the driver moves on;
``motion_plot`` draws yaw, pitch and smile over time.

``output_sharpness`` (:mod:`evaluation.sharpness`): the detail inside the face oval of the
final output faces; with a reference, ``sharpness`` is it over the target's real faces'
at the same size (1.0: as sharp as his footage, enlarged).

``recognizer_distance_to_target_p50`` (with a reference, where dlib's recognizer is
installed; :mod:`evaluation.identity`): on up to 40 frames spread over the clip, the
descriptor distance of the output face to the target's nearest real face (below 0.6 dlib
calls two faces one person).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from evaluation.broken_frames import SHEET_TILE, BrokenFrameMeasure, contact_sheet, write_sheet
from evaluation.identity import NearestIdentity, recognizer
from evaluation.motion import compare_motion, motion_sample, plot_motion
from evaluation.sharpness import face_sharpness, reference_sharpness
from media.sources import open_source
from models import face_topology as topology
from models.alignment import Alignment
from models.default_model import generator_path
from models.errors import UserError
from models.files import write_json
from models.generator_contract import require_mode
from models.landmarker import FaceLandmarker, LandmarkerOptions
from models.metrics import pearson_correlation
from models.tracking_landmarker import live_landmarker
from realtime.enhancer_runner import EnhancerRunner
from realtime.generator_runner import DEFAULT_THREADS, GeneratorOptions, GeneratorRunner
from realtime.pipeline import build_stages
from realtime.retarget import Retargeter, RetargetOptions
from realtime.stages import Packet, PipelineOptions
from realtime.stats import RunStats
from training.dataset import read_manifest

RECOGNIZED_FRAMES = 40  # frames the face recognizer reads (0.13 s a face on two cores)
EXPRESSION_MEASURES = {"mouth_open": topology.mouth_opening, "eye_open": topology.eye_opening}


def rigid_distance(points: np.ndarray, reference: np.ndarray) -> float:
    """Mean distance of the RIGID_SHAPE points from ``reference``'s, in its inter-ocular units."""
    rigid = list(topology.RIGID_SHAPE)
    distances = np.linalg.norm(np.asarray(points)[rigid, :2] - np.asarray(reference)[rigid, :2], axis=1)
    return float(distances.mean() / topology.inter_ocular(reference))


def _calibrate(clip: str, runner: GeneratorRunner, retargeter: Retargeter, frames: int,
               pipeline: PipelineOptions, measure: BrokenFrameMeasure | None = None) -> list[tuple[float, float]]:
    """Feed the clip's first ``frames`` faces to the retargeter through the stages, as live.

    With ``measure``, the faces drawn meanwhile (what a live viewer sees while the loop
    calibrates) are generated and measured; their distances are returned.
    """
    distances = []
    with open_source(clip) as source, live_landmarker() as landmarker:
        front, back = build_stages(runner, landmarker, RunStats(), pipeline, retargeter=retargeter)
        for frame in source:
            packet = front(Packet(frame))
            if measure is not None and packet.sketch is not None:
                distances.append(measure.distances(back.generate(packet).generated))
            if retargeter.calibrated:
                return distances
    raise UserError(f"driver {clip}: fewer than {frames} frames with a face to calibrate on; "
                    "pass a smaller calibrate_frames")


def json_number(value: float) -> float | None:
    """A figure for a JSON report: rounded to 4 places, None for a missing or NaN one."""
    return None if value is None or math.isnan(value) else round(float(value), 4)


def _broken_measure(reference: Path, runner: GeneratorRunner) -> BrokenFrameMeasure:
    """The broken-frame measure against the target's prepared data set ``reference``."""
    manifest = read_manifest(Path(reference))
    size = runner.metadata.input_size
    if manifest.get("size") != size:
        raise UserError(f"reference {reference} holds {manifest.get('size')}-pixel frames, but the model draws "
                        f"{size}-pixel faces; prepare it with --size {size}")
    return BrokenFrameMeasure.from_data(Path(reference), runner.generate, manifest)


def _as_drawn(face: np.ndarray, enhancer: EnhancerRunner | None) -> np.ndarray:
    """The generated face as the viewer gets it, before the warp: enhanced, back at its own size."""
    if enhancer is None:
        return face
    return cv2.resize(enhancer.enhance(face), face.shape[1::-1], interpolation=cv2.INTER_AREA)


def evaluate_driver(clip: str | Path, model_path: str | Path | None = None, json_out: str | Path | None = None,
                    calibrate_frames: int = 30, max_frames: int | None = None,
                    num_threads: int = DEFAULT_THREADS, reference: str | Path | None = None,
                    sheet: str | Path | None = None, motion_plot: str | Path | None = None,
                    pipeline: PipelineOptions = PipelineOptions(), enhancer: str | Path | None = None) -> dict:
    """Run ``clip`` through the live path with ``model_path``; write and return the figures.

    ``model_path`` None means the shipped generator; ``max_frames`` limits the clip (None:
    all of it). With ``reference``, the target's prepared data set, every generated face
    is also measured for breakage (:mod:`evaluation.broken_frames`), the faces drawn during
    a live calibration too; ``sheet`` gets the contact sheet (driver above the final output, 16
    frames, broken ones framed red). ``motion_plot`` gets the driver's and the output's yaw,
    pitch and smile over time; ``pipeline`` the loop's options (the motion gains among them);
    ``enhancer`` the face enhancer the loop runs (None: none). Raises UserError for a bad model or clip.
    """
    clip = str(clip)
    model_path = generator_path(model_path)
    runner = GeneratorRunner.from_file(GeneratorOptions(Path(model_path), num_threads))
    require_mode(runner.metadata, "reenact", model_path)
    enhancing = EnhancerRunner.from_file(Path(enhancer), num_threads) if enhancer is not None else None
    metadata = runner.metadata
    size, margin, target = metadata.input_size, metadata.margin, metadata.neutral
    breakage = _broken_measure(Path(reference), runner) if reference is not None else None
    retargeter = Retargeter.for_model(metadata, RetargetOptions(calibrate_frames=calibrate_frames))
    calibration = (_calibrate(clip, runner, retargeter, calibrate_frames, pipeline, breakage)
                   if calibrate_frames > 0 else [])
    distances, driver_tiles, face_tiles = [], [], []

    driver_series = {name: [] for name in EXPRESSION_MEASURES}  # every frame with a face
    retarget_series = {name: [] for name in EXPRESSION_MEASURES}
    paired_driver = {name: [] for name in EXPRESSION_MEASURES}  # frames whose generated face was found
    generated_series = {name: [] for name in EXPRESSION_MEASURES}
    generated_drift, driver_drift = [], []
    driver_motion, output_motion = [], []  # per frame, the driver's and the final output's pose and blendshapes
    output_sharpness, recognized = [], []
    recognize = recognizer() if reference is not None else None
    nearest = NearestIdentity.of_data_set(recognize, Path(reference)) if recognize is not None else None
    frames = with_face = 0
    stats = RunStats()
    with open_source(clip) as source, live_landmarker() as landmarker, \
            FaceLandmarker(LandmarkerOptions(video_mode=False)) as checker:
        front, back = build_stages(runner, landmarker, stats, pipeline, retargeter=retargeter, enhancer=enhancing)
        every = max(1, (source.frame_count or 0) // RECOGNIZED_FRAMES)
        for frame in source:
            if max_frames is not None and frames >= max_frames:
                break
            frames += 1
            packet = back(front(Packet(frame)))  # every stage: packet.output is what a viewer sees
            driver_motion.append(motion_sample(checker.detect(frame.image)))
            seen = checker.detect(packet.output) if driver_motion[-1] else None
            output_motion.append(motion_sample(seen))
            if seen is not None and packet.generated is not None:
                output_sharpness.append(face_sharpness(packet.output, seen.points[:, :2]))
            if nearest is not None and packet.generated is not None and frames % every == 0:
                recognized.append(nearest.distance(packet.output))
            if packet.generated is None:
                continue
            with_face += 1
            if breakage is not None:  # the face as drawn, through the enhancer where the loop has one
                distances.append(breakage.distances(_as_drawn(packet.generated, enhancing)))
            if sheet is not None:
                driver_crop = Alignment.from_landmarks(packet.points, size, margin).warp(frame.image)
                driver_tiles.append(cv2.resize(driver_crop, (SHEET_TILE, SHEET_TILE), interpolation=cv2.INTER_AREA))
                # What a viewer sees: the final frame, the face moved with the driver's head.
                face_tiles.append(cv2.resize(packet.output, (SHEET_TILE, SHEET_TILE), interpolation=cv2.INTER_AREA))
            for name, measure in EXPRESSION_MEASURES.items():
                driver_series[name].append(measure(packet.driver_aligned))
                retarget_series[name].append(measure(packet.target_aligned))
            found = checker.detect(packet.generated)
            if found is None:
                continue
            generated = Alignment.from_landmarks(found.points, size, margin).apply(found.points)
            for name, measure in EXPRESSION_MEASURES.items():
                paired_driver[name].append(driver_series[name][-1])
                generated_series[name].append(measure(generated))
            generated_drift.append(rigid_distance(generated, target))
            driver_drift.append(rigid_distance(packet.driver_aligned, target))
    if frames == 0:
        raise UserError(f"driver {clip}: no frames could be read")

    detected = len(generated_drift)
    sharpness = float(np.median(output_sharpness)) if output_sharpness else math.nan
    generator_ms = stats.summary()["stages_ms"].get("generator", {}).get("p50", math.nan)
    report = {
        "clip": clip, "model": str(model_path), "frames": frames, "frames_with_face": with_face,
        "detect_rate": json_number(detected / with_face if with_face else 0.0),
        "shape_drift": json_number(np.mean(generated_drift) / np.mean(driver_drift) if detected else math.nan),
        "calibrate_frames": calibrate_frames,
        "generator_ms_p50": json_number(generator_ms),
        "enhancer": str(enhancer) if enhancer is not None else None,
        "output_sharpness": json_number(sharpness),
    }
    if reference is not None:
        real = reference_sharpness(Path(reference), pipeline.output_size)
        report["reference_sharpness"] = json_number(real)
        report["sharpness"] = json_number(sharpness / real)
    found = [distance for distance in recognized if distance is not None]
    if found:
        report["recognizer_distance_to_target_p50"] = json_number(np.median(found))
        report["recognizer_frames"] = len(found)
    for name in EXPRESSION_MEASURES:
        report[f"{name}_corr"] = json_number(pearson_correlation(paired_driver[name], generated_series[name]))
        report[f"retarget_{name}_corr"] = json_number(
            pearson_correlation(driver_series[name], retarget_series[name]))
    report["motion"] = compare_motion(driver_motion, output_motion, calibrate_frames)
    # The share of warps whose carried expression was cut so as not to fold the face.
    report["motion"]["summary"]["warp_fallback_share"] = json_number(front.motion.fallbacks / front.motion.frames
                                                                     if front.motion.frames else 0.0)
    if motion_plot is not None:
        plot_motion(Path(motion_plot), driver_motion, output_motion, source.fps, calibrate_frames,
                    f"{Path(clip).stem}: driver and output, change from the clip's neutral")
    if breakage is not None:
        report.update(breakage.report(distances))
        report["calibration_frames_measured"] = len(calibration)
        report["calibration_broken_frames"] = sum(breakage.broken(pair) for pair in calibration)
        report["per_frame_distance"] = [[round(float(value), 2) for value in pair] for pair in distances]
    if sheet is not None and face_tiles:
        broken = [breakage.broken(pair) for pair in distances] if breakage is not None else None
        write_sheet(Path(sheet), contact_sheet(driver_tiles, face_tiles, broken))
    if json_out is not None:
        write_json(Path(json_out), report)
    return report
