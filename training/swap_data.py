"""Faces for the swap autoencoder: aligned crops and landmarks of one identity, and augmented batches.

A batch is a pure function of (seed, identity, step), drawn with replacement, so a resumed
run sees exactly the batches an uninterrupted one would have. Each face is augmented twice
over: for the face and its target alike, sometimes a dropped jaw (:func:`widen_mouth`) and
one similarity transform (rotation, scale, shift, mirror); then, for the input alone, a
random change of colour and exposure, the face cut out on mid-grey
(:func:`models.swap_mask.face_only`) and a random smooth warp, all of which the decoder
must undo.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np

from models.column_warp import drop_jaw
from models.errors import UserError
from models.face_topology import inter_ocular, mouth_opening
from models.sampling import spread
from models.swap_mask import face_mask, face_only, feature_mask
from training.config import SwapConfig
from training.dataset import LANDMARK_COUNT, read_frame, read_manifest

WARP_GRID = 5  # control points per side of the random warp
MOUTH_BIN = 0.05  # width of the mouth-opening bins that mouth_balance evens out
JAW_DROP_FROM = 0.06  # the least mouth opening (inner-lip gap / inter-ocular) whose jaw jaw_drop drops


@dataclass(frozen=True)
class Faces:
    """One identity's aligned faces: (N, S, S, 3) uint8 BGR crops and (N, 478, 2) landmarks at S."""

    crops: np.ndarray
    points: np.ndarray
    ids: tuple

    def __len__(self) -> int:
        return len(self.ids)

    @cached_property
    def mouth_openings(self) -> np.ndarray:
        """(N,) float: each face's mouth opening (models.face_topology.mouth_opening)."""
        return np.array([mouth_opening(points) for points in self.points])

    def draw_weights(self, balance: float) -> np.ndarray | None:
        """(N,) probabilities of drawing each face: a face in a mouth-opening bin of k faces gets
        k ** -balance; None (uniform) for balance 0."""
        if balance <= 0:
            return None
        bins = np.floor(self.mouth_openings / MOUTH_BIN).astype(int)
        counts = np.bincount(bins)[bins].astype(np.float64)
        weights = counts ** -balance
        return weights / weights.sum()


def load_faces(data_dir, size: int, splits: tuple[str, ...] = ("train",), limit: int | None = None,
               progress: bool = True) -> Faces:
    """The frames of ``splits`` of a prepared data set, resized to ``size``, evenly thinned to ``limit``."""
    from tqdm import tqdm

    data_dir = Path(data_dir)
    manifest = read_manifest(data_dir)
    entries = [frame["id"] for frame in manifest["frames"] if frame.get("split") in splits]
    if not entries:
        raise UserError(f"data {data_dir}: no {' or '.join(splits)} frames")
    if limit is not None:
        entries = [entries[i] for i in spread(len(entries), limit)]
    scale = size / int(manifest["size"])
    crops = np.empty((len(entries), size, size, 3), np.uint8)
    points = np.empty((len(entries), LANDMARK_COUNT, 2), np.float32)
    for index, frame_id in enumerate(tqdm(entries, desc=f"loading {data_dir.name}", unit="face",
                                          disable=not progress or not sys.stderr.isatty(), leave=False)):
        frame = read_frame(data_dir, frame_id, ("crop", "landmarks"))
        crops[index] = cv2.resize(frame["crop"], (size, size), interpolation=cv2.INTER_AREA)
        points[index] = frame["landmarks"][:, :2] * scale
    return Faces(crops, points, tuple(entries))


def loss_weights(mask: np.ndarray, points: np.ndarray, feature_weight: float) -> np.ndarray:
    """(S, S, 1) float32: 1 inside the face ``mask`` of ``points``, 1 + feature_weight on eyes, brows
    and lips, 0 outside."""
    weights = mask.astype(np.float32) * (1.0 + feature_weight * feature_mask(points, mask.shape[0]))
    return weights[:, :, None]


def random_warp(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """``image`` bent by a smooth random field: control points moved by N(0, amount * size)."""
    size = image.shape[0]
    if amount <= 0:
        return image.copy()
    offsets = rng.normal(0.0, amount * size, (2, WARP_GRID, WARP_GRID)).astype(np.float32)
    field = [cv2.resize(offset, (size, size), interpolation=cv2.INTER_CUBIC) for offset in offsets]
    grid = np.arange(size, dtype=np.float32)
    map_x = grid[None, :] + field[0]
    map_y = grid[:, None] + field[1]
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def jitter_colour(image: np.ndarray, rng: np.random.Generator, amount: float) -> np.ndarray:
    """``image`` with each channel scaled by 1 + U(-amount, amount), times one exposure of the same spread."""
    if amount <= 0:
        return image.copy()
    gains = (1.0 + rng.uniform(-amount, amount, 3)) * (1.0 + rng.uniform(-amount, amount))
    return np.clip(image.astype(np.float32) * gains.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def encoder_view(crop: np.ndarray, mask: np.ndarray, config: SwapConfig) -> np.ndarray:
    """What the encoder is shown of an aligned face with face ``mask``: the face alone if ``config.face_only``."""
    return face_only(crop, mask) if config.face_only else crop


def encoder_views(faces: Faces, config: SwapConfig) -> np.ndarray:
    """(N, S, S, 3) uint8: :func:`encoder_view` of every face (previews, validation, export)."""
    size = faces.crops.shape[1]
    return np.stack([encoder_view(crop, face_mask(points, size), config)
                     for crop, points in zip(faces.crops, faces.points)])


def widen_mouth(crop: np.ndarray, points: np.ndarray, rng: np.random.Generator,
                amount: float) -> tuple[np.ndarray, np.ndarray]:
    """``crop`` and ``points`` with, half the time, the jaw dropped by U(0, ``amount``) inter-ocular
    distances, if the mouth is open at least JAW_DROP_FROM (its inside then stretches; a shut
    mouth would only grow taller lips)."""
    if amount <= 0 or mouth_opening(points) < JAW_DROP_FROM or rng.random() < 0.5:
        return crop, points
    return drop_jaw(crop, points, rng.uniform(0.0, amount) * inter_ocular(points))


def augment(crop: np.ndarray, points: np.ndarray, rng: np.random.Generator,
            config: SwapConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, weights) of one face: uint8, uint8 and float32 (see :func:`loss_weights`)."""
    size = crop.shape[0]
    crop, points = widen_mouth(crop, points, rng, config.jaw_drop)
    angle = rng.uniform(-config.rotation, config.rotation)
    scale = 1.0 + rng.uniform(-config.scale, config.scale)
    matrix = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), angle, scale)
    matrix[:, 2] += rng.uniform(-config.shift, config.shift, 2) * size
    if config.flip and rng.random() < 0.5:
        matrix = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([matrix, [0.0, 0.0, 1.0]])
    target = cv2.warpAffine(crop, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    moved = points @ matrix[:, :2].T + matrix[:, 2]
    mask = face_mask(moved, size)
    shown = encoder_view(jitter_colour(target, rng, config.colour), mask, config)
    return random_warp(shown, rng, config.warp), target, loss_weights(mask, moved, config.feature_weight)


def batch(faces: Faces, config: SwapConfig, identity: int, step: int) -> tuple[np.ndarray, ...]:
    """Training step ``step``'s batch of one identity (0: A, 1: B): inputs, targets in [-1, 1], weights."""
    rng = np.random.default_rng([config.seed, identity, step])
    weights = faces.draw_weights(config.mouth_balance)
    chosen = rng.integers(0, len(faces), config.batch) if weights is None else \
        rng.choice(len(faces), config.batch, p=weights)
    inputs, targets, weights = zip(*(augment(faces.crops[i], faces.points[i], rng, config) for i in chosen))
    as_float = lambda images: np.stack(images).astype(np.float32) / 127.5 - 1.0  # noqa: E731
    return as_float(inputs), as_float(targets), np.stack(weights)
