"""Sharp faces for the enhancer: aligned 512-px crops of a folder of portraits, split by person.

Each image is read, its face found (MediaPipe in image mode) and aligned like every crop
of the project (``models.alignment``, the shipped margin) at 512 pixels. People, not
images, are held out: ``neutral_003_03`` and ``smiling_003_08`` are one person
(:func:`person_of`), so a validation face is never of someone seen in training.

A training batch (:func:`training_batch`) is drawn from the step number alone, so a
resumed run sees exactly the batches the uninterrupted one would have: each face is
moved, mirrored and recoloured (the sharp face and its degraded copy alike), degraded a
random way (``models.degradation``), and cut into a patch pair at the same place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from media.formats import IMAGE_SUFFIXES
from models.alignment import DEFAULT_MARGIN, Alignment
from models.degradation import LIVE_SIZE, SHARP_SIZE, degrade, random_degradation
from models.errors import UserError


def person_of(stem: str) -> str:
    """Who an image shows, from its name: the expression prefix and a trailing view number dropped."""
    return re.sub(r"_\d+$", "", re.sub(r"^(neutral|smiling)_", "", stem))


@dataclass(frozen=True)
class SharpFaces:
    """Aligned sharp faces: crops (N, 512, 512, 3) uint8 BGR, landmarks (N, 478, 3) in crop pixels."""

    crops: np.ndarray
    points: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.names)

    @property
    def people(self) -> tuple[str, ...]:
        return tuple(person_of(name) for name in self.names)

    def subset(self, keep) -> "SharpFaces":
        indices = np.flatnonzero(np.asarray(keep, bool))
        return SharpFaces(self.crops[indices], self.points[indices], tuple(self.names[i] for i in indices))

    def save(self, path: Path) -> None:
        from models.files import write_atomically

        write_atomically(path, lambda file: np.savez(file, crops=self.crops, points=self.points,
                                                     names=np.array(self.names)))

    @classmethod
    def load(cls, path: Path) -> "SharpFaces":
        with np.load(path) as data:
            return cls(data["crops"], data["points"], tuple(str(name) for name in data["names"]))


def image_paths(folder) -> list[Path]:
    """The images in ``folder``, sorted by name; UserError when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder of face images")
    paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise UserError(f"{folder}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths


def align_folder(folder, size: int = SHARP_SIZE, margin: float = DEFAULT_MARGIN) -> SharpFaces:
    """Every face of a folder of portraits, aligned; images without a face are skipped (and said)."""
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    crops, points, names, faceless = [], [], [], []
    options = LandmarkerOptions(max_faces=1, video_mode=False, pose=False, blendshapes=False)
    with FaceLandmarker(options) as landmarker:
        for path in tqdm(image_paths(folder), desc="aligning faces", unit="face", leave=False):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            face = landmarker.detect(image) if image is not None else None
            if face is None:
                faceless.append(path.name)
                continue
            alignment = Alignment.from_landmarks(face.points, size, margin)
            crops.append(alignment.warp(image))
            points.append(alignment.apply(face.points))
            names.append(path.stem)
    if faceless:
        print(f"skipped {len(faceless)} images without a face: {', '.join(faceless[:5])}"
              f"{' ...' if len(faceless) > 5 else ''}")
    if not names:
        raise UserError(f"{folder}: no face found in any image")
    return SharpFaces(np.stack(crops), np.stack(points).astype(np.float32), tuple(names))


def held_out_people(people, share: float) -> set[str]:
    """``share`` of the distinct people (at least one), spread over their sorted names."""
    distinct = sorted(set(people))
    if len(distinct) < 2:
        raise UserError(f"need faces of at least two people to hold one out, got {len(distinct)}")
    held = min(max(1, round(len(distinct) * share)), len(distinct) - 1)
    step = len(distinct) / held
    return {distinct[int(step * (i + 0.5))] for i in range(held)}


@dataclass(frozen=True)
class Augmentation:
    """Changes to a sharp face before it is degraded (its pair keeps them too)."""

    rotation: float = 8.0  # degrees
    scale: float = 0.1  # share
    shift: float = 0.04  # share of the crop
    colour: float = 0.1  # each channel's gain and the exposure, share


def _augment(face: np.ndarray, rng: np.random.Generator, how: Augmentation) -> np.ndarray:
    size = face.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), rng.uniform(-how.rotation, how.rotation),
                                     1.0 + rng.uniform(-how.scale, how.scale))
    matrix[:, 2] += rng.uniform(-how.shift, how.shift, 2) * size
    face = cv2.warpAffine(face, matrix, (size, size), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        face = face[:, ::-1]
    gains = (1.0 + rng.uniform(-how.colour, how.colour, 3)) * (1.0 + rng.uniform(-how.colour, how.colour))
    return np.clip(face * gains.astype(np.float32), 0, 255).astype(np.uint8)


def training_batch(faces: SharpFaces, batch: int, patch: int, seed: int, step: int,
                   how: Augmentation = Augmentation()) -> tuple[np.ndarray, np.ndarray]:
    """(degraded (B, P, P, 3), sharp (B, 2P, 2P, 3)) float32 in [-1, 1] for training step ``step``."""
    rng = np.random.default_rng([seed, step])
    soft = np.empty((batch, patch, patch, 3), np.float32)
    sharp = np.empty((batch, 2 * patch, 2 * patch, 3), np.float32)
    # Patches come from the face box (the crop less its margin), where the detail is.
    low, high = LIVE_SIZE // 8, LIVE_SIZE - LIVE_SIZE // 8 - patch
    for row, index in enumerate(rng.integers(0, len(faces), batch)):
        face = _augment(faces.crops[index], rng, how)
        degraded = degrade(face, random_degradation(rng), rng)
        top, left = (int(rng.integers(low, max(low, high) + 1)) for _ in range(2))
        soft[row] = degraded[top:top + patch, left:left + patch]
        sharp[row] = face[2 * top:2 * (top + patch), 2 * left:2 * (left + patch)]
    return soft / 127.5 - 1.0, sharp / 127.5 - 1.0
