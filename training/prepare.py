"""``reenact prepare``: turn target videos into aligned crops, landmarks and sketches.

Output, in the data folder::

    frames/<id>.npz       crop (S,S,3) uint8 BGR aligned photo, sketch (S,S,3) uint8 BGR,
                          landmarks (478,3) float32 aligned-crop pixels, pose (4,4) float32
                          MediaPipe facial transformation matrix
    manifest.json         settings, per-source counts, and every frame with its split
    target_profile.json   the target's neutral landmarks and expression ranges

Each source's last ``validation_fraction`` of faces is the validation split, one
contiguous block; training frames within ``gap_frames`` source frames before it are put
in split ``"gap"`` and used by neither side, so no validation frame has a training
neighbour. Frame files already present and valid are reused, so a rerun only redoes
what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from media.formats import IMAGE_SUFFIXES, VIDEO_SUFFIXES
from models import face_topology as topology
from models.alignment import DEFAULT_MARGIN, DEFAULT_SIZE
from models.errors import UserError
from models.files import write_atomically, write_json
from models.options import require
from models.shape_space import ShapeSpace
from models.sketch import SKETCH_VERSION
from training.coverage import Coverage, expression_ranges, face_detail, outside_share

NEUTRAL_FRACTION = 0.2  # the share of training frames, smallest mouth opening first, that make the neutral face
SPLITS = ("train", "val", "gap")


@dataclass(frozen=True)
class PrepareOptions:
    """How ``prepare`` samples, aligns and splits."""

    size: int = DEFAULT_SIZE
    margin: float = DEFAULT_MARGIN
    every: int = 1  # keep every k-th decoded frame
    credit: str = ""
    validation_fraction: float = 0.2
    gap_frames: int = 5  # source frames dropped between the training frames and the validation block
    # Hold out this share of whole sources (clips) for validation instead of each source's
    # last frames: no validation sentence is then seen in training. 0: split every source.
    holdout_clips: float = 0.0

    def __post_init__(self):
        require(self.size >= 16, f"--size {self.size}", "at least 16 pixels")
        require(0.0 <= self.margin < 0.5, f"--margin {self.margin}", "0 <= margin < 0.5")
        require(self.every >= 1, f"--every {self.every}", "1 or more")
        require(0.0 < self.validation_fraction < 1.0, f"validation fraction {self.validation_fraction}",
                "between 0 and 1")
        require(self.gap_frames >= 0, f"--gap {self.gap_frames}", "0 or more")
        require(0.0 <= self.holdout_clips < 1.0, f"--holdout-clips {self.holdout_clips}", "0 <= share < 1")


@dataclass
class SourceReport:
    """What one input contributed."""

    path: str
    frames_total: int = 0  # frames examined (every k-th decoded frame)
    frames_with_face: int = 0
    frames_skipped: int = 0  # examined frames in which no face was found
    frames_reused: int = 0  # frames whose file from an earlier run was still valid


@dataclass
class PrepareReport:
    """The outcome of :func:`prepare_data`."""

    out_dir: Path
    sources: list[SourceReport] = field(default_factory=list)
    split_counts: dict[str, int] = field(default_factory=dict)
    coverage: Coverage | None = None  # what the training frames show (training.coverage)

    def summary(self) -> str:
        lines = ["sources:"]
        for source in self.sources:
            reused = f", {source.frames_reused} reused" if source.frames_reused else ""
            lines.append(f"  {source.path}: {source.frames_total} frames, {source.frames_with_face} with a face, "
                         f"{source.frames_skipped} skipped (no face){reused}")
        total = sum(source.frames_total for source in self.sources)
        faces = sum(source.frames_with_face for source in self.sources)
        splits = ", ".join(f"{self.split_counts.get(name, 0)} {name}" for name in SPLITS)
        lines.append(f"prepared {faces} of {total} frames ({total - faces} skipped without a face): {splits}")
        if self.coverage is not None:
            lines.append(self.coverage.summary())
        lines.append(f"written to {self.out_dir}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _FrameRecord:
    id: str
    frame_index: int
    landmarks: np.ndarray
    pose: np.ndarray
    detail: float  # face detail of the crop (training.coverage.face_detail)
    outside: float  # share of the crop outside the picture; NaN for frames of older runs


def expand_inputs(paths) -> list[str]:
    """Source specs for the given files and folders, in order.

    A folder stands for every video in it (by suffix, sorted by name), or, when it holds
    no video, for its images as one sequence. ``sample`` is the built-in driver clip (a
    free-to-use face, e.g. the source side of the shipped swap model).
    """

    specs = []
    for raw in paths:
        if str(raw) == "sample":
            specs.append("sample")
            continue
        path = Path(raw)
        if not path.exists():
            raise UserError(f"input {raw}: no such file or folder")
        if not path.is_dir():
            specs.append(str(path))
            continue
        videos = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        has_images = any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir())
        if videos:
            specs.extend(str(video) for video in videos)
        elif has_images:
            specs.append(str(path))
        else:
            raise UserError(f"input {raw}: the folder holds no video ({', '.join(sorted(VIDEO_SUFFIXES))}) "
                            "and no images")
    if not specs:
        raise UserError("no inputs given: name at least one video or folder")
    return specs


def assign_splits(frame_indices, validation_fraction: float = 0.2, gap_frames: int = 5) -> list[str]:
    """Split one source's frames (sorted indices) into "train", "val" and "gap".

    The last ``validation_fraction`` of the frames (rounded, at least one when there are
    two or more) form the validation block; the frames just before it, those with an
    index of at least the block's first index minus ``gap_frames``, become "gap", so at
    least ``gap_frames`` source frames separate training from validation.
    """
    indices = list(frame_indices)
    if indices != sorted(indices):
        raise ValueError("got unsorted frame indices, expected ascending order")
    count = len(indices)
    validation_count = int(count * validation_fraction + 0.5)
    if count >= 2:
        validation_count = min(max(validation_count, 1), count - 1)
    if validation_count == 0:
        return ["train"] * count
    first_validation = indices[count - validation_count]
    splits = []
    for position, index in enumerate(indices):
        if position >= count - validation_count:
            splits.append("val")
        elif index >= first_validation - gap_frames:
            splits.append("gap")
        else:
            splits.append("train")
    return splits


def held_out_sources(count: int, share: float) -> set[int]:
    """The sources (by position) held out whole: ``share`` of ``count``, at least one, spread evenly.

    Spread rather than the last ones, so that held-out clips come from every part of a
    recording session (light and posture drift over a session).
    """
    if share <= 0.0:
        return set()
    if count < 2:
        raise UserError(f"--holdout-clips needs at least two sources to hold one out; got {count}")
    held = min(max(1, int(count * share + 0.5)), count - 1)
    step = count / held
    return {int(step * (i + 0.5)) for i in range(held)}


def build_target_profile(landmarks: list[np.ndarray], poses: list[np.ndarray]) -> dict:
    """The target's neutral face and expression ranges from its training frames.

    Neutral: the per-point median over the :data:`NEUTRAL_FRACTION` of frames with the
    smallest mouth opening. Ranges: 2nd to 98th percentile of each measure in
    :data:`models.expression.EXPRESSION_MEASURES`. Shape space: the principal components
    of the aligned landmarks, which the live loop clamps each frame's request to
    (:mod:`models.shape_space`); absent for fewer than two frames.
    """
    if not landmarks:
        raise UserError("no training frames to build the target profile from; give a longer video")
    mouth = np.array([topology.mouth_opening(points) for points in landmarks])
    neutral_count = max(1, int(np.ceil(len(landmarks) * NEUTRAL_FRACTION)))
    closest = np.argsort(mouth, kind="stable")[:neutral_count]
    neutral = np.median(np.stack([landmarks[i] for i in closest]), axis=0).astype(np.float32)
    profile = {"neutral_landmarks": neutral.tolist(), "expression_ranges": expression_ranges(landmarks, poses),
               "frames": len(landmarks), "neutral_frames": int(neutral_count)}
    if len(landmarks) >= 2:
        profile["shape_space"] = ShapeSpace.fit(np.stack(landmarks)).to_dict()
    return profile


def _load_valid_frame(path: Path, size: int) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """(landmarks, pose, detail, outside) of a frame file from an earlier run, or None if it is missing or bad."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            shapes_ok = (data["crop"].shape == (size, size, 3) and data["crop"].dtype == np.uint8
                         and data["sketch"].shape == (size, size, 3) and data["sketch"].dtype == np.uint8
                         and data["landmarks"].shape == (478, 3) and data["pose"].shape == (4, 4))
            if not shapes_ok:
                return None
            landmarks = data["landmarks"].astype(np.float32)
            outside = float(data["outside"]) if "outside" in data.files else float("nan")
            return (landmarks, data["pose"].astype(np.float32), face_detail(data["crop"], landmarks), outside)
    except Exception:  # noqa: BLE001 - a truncated or foreign file is simply redone
        return None


def _check_settings(out_dir: Path, options: PrepareOptions) -> None:
    """Refuse to mix frames made with other settings into one data set."""
    manifest_path = out_dir / "manifest.json"
    if not manifest_path.is_file():
        return
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return  # unreadable: it is rewritten at the end
    earlier = (manifest.get("sketch_version"), manifest.get("size"), manifest.get("margin"))
    wanted = (SKETCH_VERSION, options.size, options.margin)
    if earlier != wanted:
        raise UserError(
            f"{out_dir} holds a data set made with sketch {earlier[0]}, size {earlier[1]}, margin {earlier[2]}; "
            f"got sketch {wanted[0]}, size {wanted[1]}, margin {wanted[2]}. Use another --out or delete it")


def _source_names(specs: list[str]) -> list[str]:
    """A short, unique, file-name-safe name per source for frame ids."""
    stems = [Path(spec).stem or "source" for spec in specs]
    stems = ["".join(char if char.isalnum() or char in "-_" else "-" for char in stem) for stem in stems]
    names = []
    for position, stem in enumerate(stems):
        names.append(stem if stems.count(stem) == 1 else f"{stem}-{position}")
    return names


def _process_source(spec: str, name: str, frames_dir: Path, options: PrepareOptions,
                    report: SourceReport) -> list[_FrameRecord]:
    """Detect, align, draw and save every kept frame of one source."""
    from media.sources import open_source
    from models.alignment import Alignment
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from models.sketch import render_sketch

    records = []
    # One landmarker per source: VIDEO-mode tracking must not carry a face over from the
    # previous clip, and each clip's timestamps start again at zero.
    with open_source(spec) as source, FaceLandmarker(LandmarkerOptions(video_mode=True)) as landmarker:
        total = -(-source.frame_count // options.every) if source.frame_count else None
        progress = tqdm(total=total, desc=Path(spec).name, unit="frame", leave=False)
        for frame in source:
            if frame.index % options.every:
                continue
            progress.update(1)
            report.frames_total += 1
            frame_id = f"{name}_{frame.index:06d}"
            path = frames_dir / f"{frame_id}.npz"
            reused = _load_valid_frame(path, options.size)
            if reused is not None:
                report.frames_reused += 1
                landmarks, pose, detail, outside = reused
            else:
                face = landmarker.detect(frame.image, int(round(frame.timestamp_ms)))
                if face is None:
                    report.frames_skipped += 1
                    continue
                alignment = Alignment.from_landmarks(face.points, options.size, options.margin)
                landmarks = alignment.apply(face.points).astype(np.float32)
                pose = face.pose.astype(np.float32)
                # The part of the crop beyond the picture mirrored in, not its edge pixels
                # stretched into streaks that the generator would learn to draw.
                crop = alignment.warp(frame.image, cv2.BORDER_REFLECT_101)
                outside = outside_share(alignment.matrix, frame.image.shape, options.size)
                detail = face_detail(crop, landmarks)
                arrays = {"crop": crop, "sketch": render_sketch(landmarks, options.size),
                          "landmarks": landmarks, "pose": pose, "outside": np.float32(outside)}
                # Compressed: the black sketch shrinks about tenfold, so a 24,600-frame set
                # fits a laptop's disk.
                write_atomically(path, lambda file: np.savez_compressed(file, **arrays))
            report.frames_with_face += 1
            records.append(_FrameRecord(frame_id, frame.index, landmarks, pose, detail, outside))
        progress.close()
    if report.frames_total == 0:
        raise UserError(f"input {spec}: no frames could be decoded")
    return records


def prepare_data(inputs, out_dir, options: PrepareOptions = PrepareOptions()) -> PrepareReport:
    """Prepare a data set in ``out_dir`` from videos, image folders or folders of videos."""
    out_dir = Path(out_dir)
    specs = expand_inputs(inputs)
    _check_settings(out_dir, options)
    frames_dir = out_dir / "frames"
    frames_dir.mkdir(parents=True, exist_ok=True)
    report = PrepareReport(out_dir)
    frame_entries, train_records = [], []
    held_out = held_out_sources(len(specs), options.holdout_clips)
    clips = tqdm(total=len(specs), desc="prepare", unit="clip", disable=len(specs) < 2)
    for position, (spec, name) in enumerate(zip(specs, _source_names(specs))):
        source_report = SourceReport(path=spec if spec == "sample" else str(Path(spec).resolve()))
        report.sources.append(source_report)
        records = _process_source(spec, name, frames_dir, options, source_report)
        clips.update(1)
        if options.holdout_clips > 0.0:
            splits = ["val" if position in held_out else "train"] * len(records)
        else:
            splits = assign_splits([r.frame_index for r in records], options.validation_fraction, options.gap_frames)
        for record, split in zip(records, splits):
            frame_entries.append({"id": record.id, "source": source_report.path,
                                  "frame_index": record.frame_index, "split": split})
            report.split_counts[split] = report.split_counts.get(split, 0) + 1
            if split == "train":
                train_records.append(record)
    clips.close()
    if not frame_entries:
        names = ", ".join(Path(spec).name for spec in specs)
        raise UserError(f"no face found in any of {sum(s.frames_total for s in report.sources)} frames "
                        f"of {names}; the target must show one face, frontal and well lit")
    profile = build_target_profile([r.landmarks for r in train_records], [r.pose for r in train_records])
    report.coverage = Coverage.measure(profile["expression_ranges"], [r.detail for r in train_records],
                                       [r.outside for r in train_records])
    profile["coverage"] = report.coverage.to_dict()
    manifest = {
        "sketch_version": SKETCH_VERSION, "size": options.size, "margin": options.margin,
        "credit": options.credit, "every": options.every,
        "validation_fraction": options.validation_fraction, "gap_frames": options.gap_frames,
        "holdout_clips": options.holdout_clips,
        "sources": [{"path": s.path, "frames_total": s.frames_total, "frames_with_face": s.frames_with_face,
                     "frames_skipped": s.frames_skipped} for s in report.sources],
        "frames": frame_entries,
    }
    write_json(out_dir / "target_profile.json", profile)
    write_json(out_dir / "manifest.json", manifest)
    return report
