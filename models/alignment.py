"""Similarity alignment of a face to the canonical square crop, and back.

The canonical crop puts the eye line and nose ridge at fixed places, scaled so that the
face box (forehead landmark 10 to chin landmark 152) fills ``1 - 2 * margin`` of the
crop's height: the default margin keeps hairline and chin in frame. Only stable points
(eye corners, nose ridge) drive the fit, so expressions do not move the crop.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.face_topology import STABLE_POINTS

# Stable points of a frontal face, in inter-ocular units, origin between the eye centres
# (the symmetrised mean of 120 frontal MediaPipe meshes from four different people).
_TEMPLATE_IOD = np.array([
    (-0.72, -0.015), (-0.28, 0.015), (0.28, 0.015), (0.72, -0.015),  # eye corners
    (0.0, -0.034), (0.0, 0.092), (0.0, 0.203), (0.0, 0.299), (0.0, 0.400),  # nose ridge
], dtype=np.float64)
_FOREHEAD_TO_CHIN_IOD = 2.85  # landmark 10 to 152 in inter-ocular units
_FACE_BOX_CENTER_IOD = 0.555  # centre of that span, below the eye line

DEFAULT_SIZE = 256
DEFAULT_MARGIN = 0.15


def canonical_points(size: int = DEFAULT_SIZE, margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """Where the stable points land in an aligned crop of ``size`` pixels."""
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"got margin {margin}, expected 0 <= margin < 0.5")
    if size < 16:
        raise ValueError(f"got crop size {size}, expected at least 16 pixels")
    iod = size * (1.0 - 2.0 * margin) / _FOREHEAD_TO_CHIN_IOD
    center = np.array([size / 2.0, size / 2.0 - _FACE_BOX_CENTER_IOD * iod])
    return center + _TEMPLATE_IOD * iod


def umeyama_similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + translation (no reflection), as 2x3."""
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_c, target_c = source - source_mean, target - target_mean
    covariance = target_c.T @ source_c / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / source_c.var(0).sum()
    translation = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, translation[:, None]])


@dataclass(frozen=True)
class Alignment:
    """A similarity transform from frame pixels to aligned-crop pixels."""

    matrix: np.ndarray  # (2, 3) float64, frame -> crop
    size: int

    @classmethod
    def from_landmarks(cls, points: np.ndarray, size: int = DEFAULT_SIZE,
                       margin: float = DEFAULT_MARGIN) -> "Alignment":
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[0] < max(STABLE_POINTS) + 1:
            raise ValueError(f"got landmarks of shape {points.shape}, expected (478, 2 or 3)")
        source = points[list(STABLE_POINTS), :2]
        return cls(umeyama_similarity(source, canonical_points(size, margin)), size)

    @property
    def scale(self) -> float:
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    def inverse(self) -> "Alignment":
        """The transform from crop pixels back to frame pixels."""
        return Alignment(cv2.invertAffineTransform(self.matrix), self.size)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (N, 2) or (N, 3) points; a z column is scaled with the similarity."""
        points = np.asarray(points, dtype=np.float64)
        mapped = points[:, :2] @ self.matrix[:, :2].T + self.matrix[:, 2]
        if points.shape[1] == 3:
            return np.column_stack([mapped, points[:, 2] * self.scale]).astype(np.float32)
        return mapped.astype(np.float32)

    def warp(self, image: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
        """The aligned ``size`` x ``size`` crop of a frame; beyond the frame, ``border`` (OpenCV's)."""
        return cv2.warpAffine(image, self.matrix, (self.size, self.size), flags=cv2.INTER_LINEAR, borderMode=border)

    def unwarp(self, crop: np.ndarray, frame_shape: tuple[int, int]) -> np.ndarray:
        """A crop mapped back into a frame of ``(height, width)``."""
        height, width = frame_shape[:2]
        return cv2.warpAffine(crop, self.inverse().matrix, (width, height), flags=cv2.INTER_LINEAR)
