"""Measure an exported TFLite generator on a prepared data set's validation split.

Image fidelity (PSNR, SSIM, L1 against the real crop, 0-255 scale) says little about
whether the face does what the sketch asked: a blurry average face scores well. So the
generated faces also go through MediaPipe's face landmarker (IMAGE mode), and their
landmarks and mouth opening are compared with the real frame's. ``landmark_nme_real``
is the same landmarker on the real crops: the floor that the generated faces' error
should be read against. No TensorFlow here: the generator runs on LiteRT.

A model poor everywhere can still score tolerable PSNR (a waxy face is a fine average), so
two measures read the face itself: ``sharpness_ratio``, the detail inside the face oval of
the generated face over the real one's (1.0: as sharp), and, where dlib's recognizer is
installed (the ``eval`` extra), ``recognizer_distance_p50``: how far the generated faces are
from the nearest of the target's real training faces (under 0.6 is one person to dlib; its
floor, ``recognizer_distance_real_p50``, is the real held-out faces' own distance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from evaluation.identity import NearestIdentity, recognizer
from evaluation.sharpness import face_sharpness
from models import face_topology as topology
from models import metrics
from models.errors import UserError
from models.files import write_json
from models.sampling import spread
from training.dataset import read_frame, read_manifest

GRID_ROWS = 6
RECOGNIZED_FRAMES = 40  # frames the face recognizer reads (0.13 s a face on two cores)


@dataclass(frozen=True)
class FrameExample:
    """One prepared frame: aligned crop, its sketch and its landmarks."""

    id: str
    crop: np.ndarray
    sketch: np.ndarray
    landmarks: np.ndarray
    clip: str = ""  # the source video it came from


def load_examples(data_dir, manifest: dict, split: str, limit: int | None = None) -> list[FrameExample]:
    """The frames of one split ("all": every frame) with their landmarks, evenly thinned to at most ``limit``."""
    data_dir = Path(data_dir)
    entries = [frame for frame in manifest["frames"] if split == "all" or frame["split"] == split]
    if limit is not None:
        entries = [entries[i] for i in spread(len(entries), limit)]
    examples = []
    for entry in entries:
        data = read_frame(data_dir, entry["id"], ("crop", "sketch", "landmarks"))
        examples.append(FrameExample(entry["id"], data["crop"], data["sketch"], data["landmarks"],
                                     str(entry.get("source", ""))))
    return examples


def _mean(values) -> float:
    values = [value for value in values if not math.isnan(value)]
    return float(np.mean(values)) if values else math.nan


def _median(values) -> float:
    values = [value for value in values if not math.isnan(value)]
    return float(np.median(values)) if values else math.nan


def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else math.nan


def _number(value: float | None) -> float:
    return math.nan if value is None else value


def _json_safe(value):
    """NaN and infinity are not JSON: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_safe(item) for item in value]
    return value


def first_frame_pairs(examples: list[FrameExample]) -> list[tuple[FrameExample, FrameExample]]:
    """(frame to score, its appearance photo) pairs: each clip's first frame is the photo
    of the clip's other frames and is not scored itself. Where every clip has one frame,
    each frame is its own photo (only copying is measured then)."""
    first: dict[str, FrameExample] = {}
    for example in examples:
        first.setdefault(example.clip, example)
    pairs = [(example, first[example.clip]) for example in examples if first[example.clip] is not example]
    return pairs or [(example, example) for example in examples]


def image_grid(rows: list[tuple[np.ndarray, ...]]) -> np.ndarray:
    """Stack rows of equally sized images into one picture."""
    return np.vstack([np.hstack(row) for row in rows])


def evaluate_data(model_path, data_dir, json_out, grid_out=None, split: str = "val") -> dict:
    """Run the generator over the validation split (or, ``split="all"``, every frame) and write its measures.

    Returns the written dictionary: ``frames``, ``psnr``, ``ssim``, ``l1`` (means over
    the split, generated against real crop), ``landmark_nme`` (mean landmark distance
    over inter-ocular distance, over generated faces the landmarker found),
    ``landmark_nme_real`` (the same for the real crops: the floor),
    ``landmark_detect_rate``, ``mouth_open_mae`` and ``mouth_open_corr`` (inner-lip
    gap over inter-ocular distance, generated against real; ``mouth_open_mae_real`` is
    the floor, the real crop re-detected), and ``per_frame`` values.
    An appearance generator (trained with ``--appearance``) is measured as re-enactment
    papers measure self-reenactment: each clip's first frame is the appearance photo and is
    not scored itself, the rest of the clip is drawn from its sketches. Beside that,
    ``psnr_stored_appearance`` and ``ssim_stored_appearance`` give the same frames drawn with
    the photo stored in the model, the one the live loop uses.
    ``grid_out``, when given, gets a PNG of sketch | generated | real rows. Values that
    are undefined (no face found, a constant series, the infinite PSNR of identical
    images) are written as null.
    """
    from tqdm import tqdm

    from models.generator_contract import load_generator_file, require_mode
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from realtime.generator_runner import GeneratorRunner

    model_bytes, metadata = load_generator_file(model_path)
    require_mode(metadata, "reenact", model_path)
    manifest = read_manifest(Path(data_dir))
    if manifest.get("size") != metadata.input_size:
        raise UserError(f"model {model_path} takes {metadata.input_size}-pixel sketches but data {data_dir} "
                        f"holds {manifest.get('size')}-pixel frames; prepare it with --size {metadata.input_size}")
    if split not in ("val", "all"):
        raise UserError(f"got split {split!r}, expected val or all")
    examples = load_examples(data_dir, manifest, split)
    if not examples:
        raise UserError(f"data {data_dir}: no validation frames (each source needs at least two faces)")
    # The live loop's own runner, so eval measures exactly the conversions that ship.
    generator = GeneratorRunner(model_bytes, metadata, name=f"model {model_path}")

    stored_appearance = metadata.appearance()
    if stored_appearance is not None:
        examples, appearances = zip(*first_frame_pairs(examples))
    per_frame, grid_rows = [], []
    grid_positions = set(spread(len(examples), GRID_ROWS))
    recognize = recognizer()
    nearest = NearestIdentity.of_data_set(recognize, Path(data_dir)) if recognize is not None else None
    recognized_positions = set(spread(len(examples), RECOGNIZED_FRAMES)) if nearest is not None else set()
    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        for position, example in enumerate(tqdm(examples, desc="evaluating", unit="frame", leave=False)):
            stored = {}
            if stored_appearance is not None:
                generator.set_appearance(stored_appearance)
                with_stored = generator.generate(example.sketch)
                stored = {"psnr_stored_appearance": metrics.psnr(with_stored, example.crop),
                          "ssim_stored_appearance": metrics.ssim(with_stored, example.crop)}
                generator.set_appearance(appearances[position].crop)
            generated = generator.generate(example.sketch)
            found = landmarker.detect(generated)
            found_real = landmarker.detect(example.crop)
            per_frame.append({
                "id": example.id,
                "psnr": metrics.psnr(generated, example.crop),
                "ssim": metrics.ssim(generated, example.crop),
                "l1": metrics.l1(generated, example.crop),
                "face_found": found is not None,
                "landmark_nme": metrics.landmark_nme(found.points, example.landmarks) if found else math.nan,
                "landmark_nme_real": (metrics.landmark_nme(found_real.points, example.landmarks)
                                      if found_real else math.nan),
                "mouth_open_real": topology.mouth_opening(example.landmarks),
                "mouth_open_real_redetected": topology.mouth_opening(found_real.points) if found_real else math.nan,
                "mouth_open_generated": topology.mouth_opening(found.points) if found else math.nan,
                "sharpness_ratio": _ratio(face_sharpness(generated, example.landmarks[:, :2]),
                                          face_sharpness(example.crop, example.landmarks[:, :2])),
                **stored,
            })
            if position in recognized_positions:
                per_frame[-1]["recognizer_distance"] = _number(nearest.distance(generated))
                per_frame[-1]["recognizer_distance_real"] = _number(nearest.distance(example.crop))
            if position in grid_positions:
                grid_rows.append((example.sketch, generated, example.crop))

    found_frames = [frame for frame in per_frame if frame["face_found"]]
    generated_mouth = [frame["mouth_open_generated"] for frame in found_frames]
    real_mouth = [frame["mouth_open_real"] for frame in found_frames]
    result = {
        "model": str(model_path), "data": str(data_dir), "split": split, "quantization": metadata.quantization,
        "frames": len(per_frame),
        "psnr": _mean(frame["psnr"] for frame in per_frame),
        "ssim": _mean(frame["ssim"] for frame in per_frame),
        "l1": _mean(frame["l1"] for frame in per_frame),
        "landmark_nme": _mean(frame["landmark_nme"] for frame in per_frame),
        "landmark_nme_real": _mean(frame["landmark_nme_real"] for frame in per_frame),
        "landmark_detect_rate": len(found_frames) / len(per_frame),
        "mouth_open_mae": (float(np.mean(np.abs(np.subtract(generated_mouth, real_mouth))))
                           if found_frames else math.nan),
        "mouth_open_corr": metrics.pearson_correlation(generated_mouth, real_mouth) if found_frames else math.nan,
        "mouth_open_mae_real": _mean(abs(frame["mouth_open_real_redetected"] - frame["mouth_open_real"])
                                     for frame in per_frame),
        "mouth_open_real_mean": _mean(frame["mouth_open_real"] for frame in per_frame),
        "mouth_open_generated_mean": _mean(generated_mouth),
        "sharpness_ratio": _median(frame["sharpness_ratio"] for frame in per_frame),
        "recognizer_distance_p50": _median(frame.get("recognizer_distance", math.nan) for frame in per_frame),
        "recognizer_distance_real_p50": _median(frame.get("recognizer_distance_real", math.nan)
                                                for frame in per_frame),
        "per_frame": per_frame,
    }
    if stored_appearance is not None:
        result["appearance_photo"] = "each clip's first frame (not scored)"
        result["psnr_stored_appearance"] = _mean(frame["psnr_stored_appearance"] for frame in per_frame)
        result["ssim_stored_appearance"] = _mean(frame["ssim_stored_appearance"] for frame in per_frame)
    result = _json_safe(result)
    write_json(Path(json_out), result)
    if grid_out is not None:
        grid_out = Path(grid_out)
        grid_out.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(grid_out), image_grid(grid_rows)):
            raise UserError(f"could not write the image grid {grid_out} (expected a .png path)")
    return result
