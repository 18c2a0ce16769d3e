"""The target's shape space: the landmark configurations its training footage showed, and a clamp onto them.

A person-specific generator draws good faces only for sketches like the ones it was
trained on. A driver who turns their head, or opens their mouth wider than the target
ever did, would ask it for a sketch outside that set, and it answers with a broken face.
So the live loop keeps its request inside the set: the retargeted landmarks (x and y, in
aligned-crop pixels) are projected onto the first principal components of the target's
aligned training landmarks, each coefficient is clamped to the range the training frames
covered (a low and a high percentile), and the face is rebuilt from the clamped
coefficients. Depth (z) is left as it is: the sketch does not draw it.

Pure numpy and small (24 components of 956 numbers), so it travels in the exported
model's metadata and costs one matrix product a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.options import require

LANDMARK_COUNT = 478
DEFAULT_COMPONENTS = 24
DEFAULT_PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class ShapeSpace:
    """Mean shape (956,), components (k, 956, orthonormal rows) and each coefficient's [low, high]."""

    mean: np.ndarray
    components: np.ndarray
    low: np.ndarray
    high: np.ndarray
    explained: float = float("nan")  # share of the training variance the components hold

    def __post_init__(self):
        k = len(self.components)
        require(self.mean.shape == (2 * LANDMARK_COUNT,), f"a mean shape of {self.mean.shape}",
                f"({2 * LANDMARK_COUNT},)")
        require(self.components.shape == (k, 2 * LANDMARK_COUNT) and k >= 1,
                f"components of shape {self.components.shape}", f"(k >= 1, {2 * LANDMARK_COUNT})")
        require(self.low.shape == (k,) and self.high.shape == (k,) and bool(np.all(self.low <= self.high)),
                "coefficient bounds that do not match the components", f"{k} ordered [low, high] pairs")

    @classmethod
    def fit(cls, landmarks, components: int = DEFAULT_COMPONENTS,
            percentiles: tuple[float, float] = DEFAULT_PERCENTILES) -> "ShapeSpace":
        """Fit to aligned training landmarks, (N, 478, 2 or 3); the bounds are percentiles of the N frames."""
        shapes = np.asarray(landmarks, np.float64)[:, :, :2].reshape(len(landmarks), -1)
        require(len(shapes) >= 2, f"{len(shapes)} training frames", "at least 2 to fit a shape space")
        mean = shapes.mean(axis=0)
        centred = shapes - mean
        _, singular, vt = np.linalg.svd(centred, full_matrices=False)
        k = int(min(components, len(vt)))
        basis = vt[:k]
        coefficients = centred @ basis.T
        low, high = np.percentile(coefficients, percentiles, axis=0)
        variance = singular ** 2
        explained = float(variance[:k].sum() / variance.sum()) if variance.sum() > 0 else 1.0
        return cls(mean.astype(np.float32), basis.astype(np.float32), low.astype(np.float32),
                   high.astype(np.float32), explained)

    def coefficients(self, points: np.ndarray) -> np.ndarray:
        """The (k,) coefficients of one face, (478, 2 or 3)."""
        flat = np.asarray(points, np.float32)[:, :2].reshape(-1)
        return self.components @ (flat - self.mean)

    def clamp(self, points: np.ndarray) -> np.ndarray:
        """``points`` (478, 3) rebuilt from its clamped coefficients: the nearest shape the target showed."""
        points = np.asarray(points, np.float32)
        require(points.shape == (LANDMARK_COUNT, 3), f"landmarks of shape {points.shape}", f"({LANDMARK_COUNT}, 3)")
        clamped = np.clip(self.coefficients(points), self.low, self.high)
        out = points.copy()
        out[:, :2] = (self.mean + clamped @ self.components).reshape(LANDMARK_COUNT, 2)
        return out

    def to_dict(self) -> dict:
        """JSON-ready (the exported model's metadata)."""
        return {"mean": np.round(self.mean, 3).tolist(), "components": np.round(self.components, 5).tolist(),
                "low": np.round(self.low, 3).tolist(), "high": np.round(self.high, 3).tolist(),
                "explained": round(self.explained, 5)}

    @classmethod
    def from_dict(cls, data: dict) -> "ShapeSpace":
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["components"], np.float32),
                   np.asarray(data["low"], np.float32), np.asarray(data["high"], np.float32),
                   float(data.get("explained", float("nan"))))
