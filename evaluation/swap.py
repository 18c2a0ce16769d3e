"""A face-swap model on a driver clip: does the output keep the driver's frame, show B, and move as A does?

The clip runs through the live loop's swap stages (landmarks, smoothing, alignment, swap
model, colour transfer, paste), offline and without threads. Figures:

- ``outside_psnr``: over every frame, the output against the input outside the face mask
  dilated by the feather width (in dB; 100 stands for identical): the rest of the frame
  must be the driver's own;
- ``identity_share``: the share of frames whose swapped face (the swap model's output,
  inside the face mask) is nearer to B's real faces (the nearest of up to 3,000 from B's
  data set) than to A's own face in that frame, by the mean absolute difference (0-255)
  of 64 x 64 thumbnails inside the mask; ``identity_share_pasted`` the same for the face
  as pasted (the output frame aligned back), with every thumbnail's colour levelled first
  (each channel's mean and spread inside its face mask made the same): the transfer gives
  the pasted face A's tone on purpose, and by raw colour it is always nearer A;
- ``mouth_open_corr`` / ``eye_open_corr``: Pearson's r between the driver's measure and
  the output's, MediaPipe looking again (IMAGE mode) at every output frame;
- ``detect_rate``: the share of output frames in which MediaPipe finds a face;
- ``broken_share``: the share of frames whose swapped face is broken: farther from B's
  nearest real face (the ``identity_share`` distance) than BROKEN_FACTOR times the median
  distance of the model's swaps of the source side's own faces (A's data set, which it was
  trained to swap: its in-distribution level, the rule :mod:`evaluation.broken_frames`
  applies to a generator). Not B's own held-out faces: B's decoder redraws those almost
  exactly (about a third of a driver's distance), and every driver's face, in its own pose
  and shape, would count as broken;
- with dlib's recognizer installed (:mod:`evaluation.identity`) and a reference, on up to
  RECOGNIZED_FRAMES frames spread over the clip: ``recognizer_distance_to_b_p50``, the
  descriptor distance of the output's face (a square around it) to B's nearest real face,
  and ``recognizer_nearer_b_share``, the share of frames where it is nearer to that than to
  the driver's own face in the same frame (below 0.6 dlib calls two faces one person);
- ``sharpness_p50``: per frame, the variance of the Laplacian inside the face oval of the
  output's face over the driver's own face in the same frame, each cut square and resized
  to 256 px (1.0: as sharp as the face around which it is pasted);
- ``motion`` (:mod:`evaluation.motion`): the output's head pose and blendshapes against the
  driver's, which a swap must keep;
- ``seam_p50`` / ``seam_p95``: per frame, the strong edges (95th percentile of the Sobel
  magnitude of the grey image) of the output in the paste's feather band, over the driver's
  own frame's there: near 1.0 the paste added no edge along its border, a seam shows as more,
  and a paste softer than the frame around it as less.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from evaluation.broken_frames import (
    BROKEN_FACTOR,
    LEVEL_LIMIT,
    REFERENCE_LIMIT,
    SHEET_TILE,
    THUMBNAIL,
    contact_sheet,
    write_sheet,
)
from evaluation.driver import EXPRESSION_MEASURES, RECOGNIZED_FRAMES, json_number
from evaluation.identity import NearestIdentity, recognizer
from evaluation.motion import compare_motion, motion_sample
from media.sources import open_source
from models.alignment import Alignment
from models.default_model import generator_path
from models.errors import UserError
from models.files import write_json
from models.generator_contract import require_mode
from models.landmarker import FaceLandmarker, LandmarkerOptions
from models.metrics import pearson_correlation, sharpness
from models.swap_mask import face_mask, feather_dilated
from models.tracking_landmarker import live_landmarker
from realtime.enhancer_runner import EnhancerRunner
from realtime.generator_runner import DEFAULT_THREADS, GeneratorOptions, GeneratorRunner
from realtime.pipeline import build_stages
from realtime.stages import Packet, PipelineOptions
from realtime.stats import RunStats

if TYPE_CHECKING:
    from training.swap_data import Faces

IDENTICAL_DB = 100.0  # outside_psnr when the outside is unchanged
SHARPNESS_SIDE = 256  # the square around each face is resized to this before its detail is measured


LEVEL_MEAN, LEVEL_SPREAD = 128.0, 32.0  # each channel of a levelled thumbnail, inside its mask


def _thumbnail(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA).astype(np.float32)


def _thumbnail_mask(mask: np.ndarray) -> np.ndarray:
    return cv2.resize(mask.astype(np.float32), (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA) > 0.5


def _level(thumbnail: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """``thumbnail`` with each channel's mean and spread inside ``inside`` made LEVEL_MEAN and LEVEL_SPREAD."""
    pixels = thumbnail[inside]
    return (thumbnail - pixels.mean(0)) * (LEVEL_SPREAD / np.maximum(pixels.std(0), 1.0)) + LEVEL_MEAN


class IdentityMeasure:
    """Distances of a swapped face to B's real faces and to A's own, inside the face mask."""

    def __init__(self, b_faces: Faces):
        size = b_faces.crops.shape[1]
        self.references = np.stack([_thumbnail(crop) for crop in b_faces.crops])  # (R, T, T, 3)
        self.levelled = np.stack([_level(thumbnail, _thumbnail_mask(face_mask(points, size)))
                                  for thumbnail, points in zip(self.references, b_faces.points)])

    def distances(self, swapped: np.ndarray, driver: np.ndarray, mask: np.ndarray,
                  levelled: bool = False) -> tuple[float, float]:
        """(to B, to A): mean absolute differences (0-255) inside ``mask`` (S, S) of 0/1; with
        ``levelled``, between thumbnails whose colours are levelled (:func:`_level`)."""
        inside = _thumbnail_mask(mask)
        probe, own = _thumbnail(swapped), _thumbnail(driver)
        references = self.references
        if levelled:
            probe, own, references = _level(probe, inside), _level(own, inside), self.levelled
        probe = probe[inside]
        to_b = min(float(np.abs(references[start:start + 512][:, inside] - probe).mean(axis=(1, 2)).min())
                   for start in range(0, len(references), 512))
        to_a = float(np.abs(own[inside] - probe).mean())
        return to_b, to_a

    def in_distribution(self, source_side: Faces, draw) -> np.ndarray:
        """(L,) distances to B of ``draw(crop, mask)`` (the model under test) on A's faces."""
        size = source_side.crops.shape[1]
        masks = [face_mask(points, size) for points in source_side.points]
        return np.array([self.distances(draw(crop, mask), crop, mask)[0]
                         for crop, mask in zip(source_side.crops, masks)], np.float32)


def sharpness_over_driver(output: np.ndarray, driver: np.ndarray, points: np.ndarray) -> float:
    """The output's detail inside the driver's face oval over the driver's own, each face cut square at 256 px."""
    box = face_box(points, driver.shape)
    scale = SHARPNESS_SIDE / (box[0].stop - box[0].start)
    inside = (points[:, :2] - (box[1].start, box[0].start)) * scale
    mask = face_mask(inside, SHARPNESS_SIDE)
    cut = [cv2.resize(image[box], (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
           for image in (output, driver)]
    return sharpness(cut[0], mask) / max(sharpness(cut[1], mask), 1e-6)


def _edges(image: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def seam_ratio(output: np.ndarray, frame: np.ndarray, packet: Packet) -> float:
    """The strong edges of ``output`` over ``frame``'s in the paste's feather band (where the mask fades)."""
    mask = packet.drawn_mask
    band = ((mask > 0.05) & (mask < 0.95)).astype(np.uint8)
    scale = mask.shape[0] / packet.alignment.size
    inverse = Alignment(packet.alignment.matrix * scale, mask.shape[0]).inverse().matrix
    inside = cv2.warpAffine(band, inverse, frame.shape[1::-1], flags=cv2.INTER_NEAREST) > 0
    if not inside.any():
        return math.nan
    # The 95th percentile, not the mean: a seam is a thin line along the band, lost in a mean.
    strong = [float(np.percentile(_edges(image)[inside], 95)) for image in (output, frame)]
    return strong[0] / max(strong[1], 1.0)


def face_box(points: np.ndarray, shape: tuple) -> tuple[slice, slice]:
    """A square around the face (1.8 times its landmarks' extent), inside a frame of ``shape``."""
    low, high = points[:, :2].min(0), points[:, :2].max(0)
    side = min(int(1.8 * (high - low).max()), *shape[:2])
    centre = (low + high) / 2
    left = int(np.clip(centre[0] - side / 2, 0, shape[1] - side))
    top = int(np.clip(centre[1] - side / 2, 0, shape[0] - side))
    return slice(top, top + side), slice(left, left + side)


def evaluate_swap(clip: str | Path, model_path: str | Path | None = None, json_out: str | Path | None = None,
                  reference: str | Path | None = None, sheet: str | Path | None = None,
                  max_frames: int | None = None, num_threads: int = DEFAULT_THREADS,
                  source_side: str | Path | None = None, follow_mouth: bool = True,
                  enhancer: str | Path | None = None) -> dict:
    """Run ``clip`` through the live swap path with ``model_path``; write and return the figures.

    ``model_path`` None is the shipped swap model. ``reference``, B's prepared data set,
    enables the identity figures; with ``source_side``, A's, the broken-frame share too.
    ``sheet`` gets 16 frames with a face, the driver's above the output, each a square
    around the face, broken ones framed red. ``follow_mouth`` False measures the model
    without the live loop's mouth follow (``PipelineOptions.follow_mouth``); ``enhancer``
    the face enhancer the loop runs (None: none).
    """
    clip = str(clip)
    model_path = generator_path(model_path, "swap")
    runner = GeneratorRunner.from_file(GeneratorOptions(Path(model_path), num_threads))
    require_mode(runner.metadata, "swap", model_path)
    size = runner.metadata.input_size
    if source_side is not None and reference is None:
        raise UserError("the broken-frame share of a swap (--source-side) is measured against B: pass --reference too")
    from training.swap_data import load_faces

    identity = level = a_faces = nearest_b = None
    if reference is not None:
        identity = IdentityMeasure(load_faces(reference, size, ("train",), limit=REFERENCE_LIMIT))
        recognize = recognizer()
        nearest_b = NearestIdentity.of_data_set(recognize, Path(reference)) if recognize is not None else None
    if source_side is not None:
        a_faces = load_faces(source_side, size, ("train", "val"), limit=LEVEL_LIMIT)
    squared_error, outside_pixels = 0.0, 0
    distances, driver_tiles, output_tiles = [], [], []
    driver_series = {name: [] for name in EXPRESSION_MEASURES}
    output_series = {name: [] for name in EXPRESSION_MEASURES}
    frames = with_face = detected = 0
    driver_motion, output_motion, recognized, sharpness_ratios, seams = [], [], [], [], []
    stats = RunStats()
    with open_source(clip) as source, live_landmarker() as landmarker, \
            FaceLandmarker(LandmarkerOptions(video_mode=False)) as checker:
        every = max(1, (source.frame_count or 0) // RECOGNIZED_FRAMES)
        front, back = build_stages(runner, landmarker, stats, PipelineOptions(follow_mouth=follow_mouth),
                                   enhancer=EnhancerRunner.from_file(Path(enhancer)) if enhancer else None,
                                   mode="swap")
        if a_faces is not None:
            level = identity.in_distribution(a_faces, lambda crop, mask: runner.generate(back.shown(crop, mask)))
        for frame in source:
            if max_frames is not None and frames >= max_frames:
                break
            frames += 1
            packet = back.generate(front(Packet(frame)))
            driver_motion.append(motion_sample(checker.detect(frame.image)))
            if packet.generated is None:
                output_motion.append(None)
                continue
            output = back.composite(packet)
            sharpness_ratios.append(sharpness_over_driver(output, frame.image, packet.points))
            seams.append(seam_ratio(output, frame.image, packet))
            if nearest_b is not None and frames % every == 0:
                box = face_box(packet.points, frame.image.shape)
                own = nearest_b.recognize(frame.image[box])
                swapped = nearest_b.recognize(output[box])
                if own is not None and swapped is not None:
                    recognized.append((nearest_b.nearest(swapped), float(np.linalg.norm(own - swapped))))
            if sheet is not None:
                box = face_box(packet.points, frame.image.shape)
                for tiles, image in ((driver_tiles, frame.image), (output_tiles, output)):
                    tiles.append(cv2.resize(image[box], (SHEET_TILE, SHEET_TILE), interpolation=cv2.INTER_AREA))
            with_face += 1
            face = packet.face_mask
            changed = cv2.warpAffine(feather_dilated(face), packet.alignment.inverse().matrix,
                                     frame.image.shape[1::-1], flags=cv2.INTER_NEAREST) > 0
            outside = ~cv2.dilate(changed.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
            difference = output[outside].astype(np.float64) - frame.image[outside]
            squared_error += float(np.sum(difference ** 2))
            outside_pixels += difference.size
            if identity is not None:
                distances.append(identity.distances(packet.generated, packet.aligned_face, face)
                                 + identity.distances(packet.alignment.warp(output), packet.aligned_face, face,
                                                      levelled=True))
            found = checker.detect(output)
            output_motion.append(motion_sample(found) if driver_motion[-1] else None)
            if found is None:
                continue
            detected += 1
            aligned = Alignment.from_landmarks(found.points, size, runner.metadata.margin).apply(found.points)
            for name, measure in EXPRESSION_MEASURES.items():
                driver_series[name].append(measure(packet.driver_aligned))
                output_series[name].append(measure(aligned))
    if frames == 0:
        raise UserError(f"driver {clip}: no frames could be read")
    if outside_pixels and squared_error:
        outside_psnr = min(IDENTICAL_DB, 10.0 * math.log10(255.0 ** 2 * outside_pixels / squared_error))
    else:
        outside_psnr = IDENTICAL_DB if outside_pixels else math.nan
    report = {
        "clip": clip, "model": str(model_path), "mode": "swap", "frames": frames, "frames_with_face": with_face,
        "outside_psnr": json_number(outside_psnr),
        "detect_rate": json_number(detected / with_face if with_face else 0.0),
        "generator_ms_p50": json_number(stats.summary()["stages_ms"].get("generator", {}).get("p50", math.nan)),
        "enhancer": str(enhancer) if enhancer else None,
        "sharpness_p50": json_number(np.median(sharpness_ratios) if sharpness_ratios else math.nan),
        "seam_p50": json_number(np.nanmedian(seams) if seams else math.nan),
        "seam_p95": json_number(np.nanpercentile(seams, 95) if seams else math.nan),
        "motion": compare_motion(driver_motion, output_motion),
    }
    if recognized:
        pairs = np.asarray(recognized)
        report.update({"recognizer_distance_to_b_p50": json_number(np.median(pairs[:, 0])),
                       "recognizer_distance_to_driver_p50": json_number(np.median(pairs[:, 1])),
                       "recognizer_nearer_b_share": json_number(np.mean(pairs[:, 0] < pairs[:, 1])),
                       "recognizer_frames": len(pairs)})
    for name in EXPRESSION_MEASURES:
        report[f"{name}_corr"] = json_number(pearson_correlation(driver_series[name], output_series[name]))
        # (driver, output) of every frame where the output's face was found: where the figure is lost
        report[f"per_frame_{name}"] = [[round(float(driver), 4), round(float(output), 4)]
                                       for driver, output in zip(driver_series[name], output_series[name])]
    if identity is not None and distances:
        pairs = np.asarray(distances)
        report.update({
            "identity_share": json_number(np.mean(pairs[:, 0] < pairs[:, 1])),
            "distance_to_b_p50": json_number(np.median(pairs[:, 0])),
            "distance_to_a_p50": json_number(np.median(pairs[:, 1])),
            "identity_share_pasted": json_number(np.mean(pairs[:, 2] < pairs[:, 3])),
            "pasted_distance_to_b_p50": json_number(np.median(pairs[:, 2])),
            "pasted_distance_to_a_p50": json_number(np.median(pairs[:, 3])),
            "reference_frames": len(identity.references),
            "per_frame_distance": [[round(float(value), 2) for value in pair] for pair in pairs],
        })
    broken = None
    if level is not None and distances:
        threshold = BROKEN_FACTOR * float(np.median(level))
        broken = [bool(pair[0] > threshold) for pair in distances]
        report.update({"broken_share": json_number(np.mean(broken)), "broken_threshold": json_number(threshold),
                       "in_distribution_p50": json_number(np.median(level)), "level_frames": len(level)})
    if sheet is not None and output_tiles:
        write_sheet(Path(sheet), contact_sheet(driver_tiles, output_tiles, broken))
    if json_out is not None:
        write_json(Path(json_out), report)
    return report
