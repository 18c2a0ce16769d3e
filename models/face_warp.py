"""A smooth, landmark-driven warp of a face image: thin-plate splines evaluated on a coarse grid.

The image is moved so that each control point ``source[i]`` lands on ``destination[i]``,
and the picture between the points follows as smoothly as a thin plate bends. Unlike a
piecewise-affine warp over a triangle mesh, the field has no seams between triangles to
tear along, and as long as the points themselves do not cross it does not fold: the
live loop bounds how far they may move (:mod:`realtime.motion_transfer`).

The spline maps destination pixels back to source pixels (what ``cv2.remap`` needs), so it
is fitted from ``destination`` to ``source``. It is evaluated on a grid every ``step``
pixels and enlarged to a dense map: about a millisecond for a 256-pixel face with 80 points.
A frame-level affine (the driver's in-plane head motion) can be folded into the same map,
so the face is resampled once.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

DEFAULT_STEP = 4  # pixels between the grid points where the spline is evaluated
_REGULARISATION = 1e-6  # of the kernel's diagonal, in the unit square: a touch of smoothing for noisy points


def _kernel(squared_distance: np.ndarray) -> np.ndarray:
    """The thin-plate kernel U(r) = r^2 log r^2 (the factor 1/2 folds into the weights), in place; U(0) = 0."""
    np.maximum(squared_distance, 1e-20, out=squared_distance)
    squared_distance *= np.log(squared_distance)
    return squared_distance


class ThinPlateSpline:
    """A 2-D thin-plate spline through (N, 2) ``anchors`` taking the (N, 2) ``values`` there."""

    def __init__(self, anchors: np.ndarray, values: np.ndarray, scale: float):
        anchors = np.asarray(anchors, np.float64) / scale  # the unit square keeps the system well conditioned
        values = np.asarray(values, np.float64) / scale
        if anchors.ndim != 2 or anchors.shape[1] != 2 or anchors.shape != values.shape or len(anchors) < 3:
            raise ValueError(f"got anchors {anchors.shape} and values {values.shape}, expected equal (N >= 3, 2)")
        count = len(anchors)
        kernel = _kernel(((anchors[:, None, :] - anchors[None, :, :]) ** 2).sum(-1))
        kernel += _REGULARISATION * np.eye(count)
        affine = np.hstack([np.ones((count, 1)), anchors])  # (N, 3)
        system = np.zeros((count + 3, count + 3))
        system[:count, :count] = kernel
        system[:count, count:] = affine
        system[count:, :count] = affine.T
        right = np.zeros((count + 3, 2))
        right[:count] = values
        solution = np.linalg.solve(system, right)
        # Evaluated in float32: the many logarithms then take half the time, far below a pixel's error.
        self._anchors = anchors.astype(np.float32)
        self._weights = solution[:count].astype(np.float32)
        self._affine, self._scale = solution[count:], scale

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """The spline at (M, 2) ``points``."""
        unit = (np.asarray(points, np.float64) / self._scale).astype(np.float32)
        squared = (unit ** 2).sum(1)[:, None] + (self._anchors ** 2).sum(1)[None, :] - 2.0 * unit @ self._anchors.T
        mapped = _kernel(squared) @ self._weights + self._affine[0] + unit @ self._affine[1:]
        return mapped * self._scale


def coarse_map(source: np.ndarray, destination: np.ndarray, size: tuple[int, int], after: np.ndarray | None = None,
               step: int = DEFAULT_STEP) -> np.ndarray:
    """The backward map on a grid every ``step`` pixels, (rows, columns, 2): where each grid point comes from.

    ``size`` is (height, width); ``after``, a (2, 3) affine applied to the warped image as well.
    """
    height, width = size
    spline = ThinPlateSpline(destination, source, float(max(height, width)))
    grid_y = np.arange(0, height + step, step, dtype=np.float64)
    grid_x = np.arange(0, width + step, step, dtype=np.float64)
    xs, ys = np.meshgrid(grid_x, grid_y)
    grid = np.column_stack([xs.ravel(), ys.ravel()])
    if after is not None:  # output pixel -> where it was before the affine
        inverse = cv2.invertAffineTransform(np.asarray(after, np.float64))
        grid = grid @ inverse[:, :2].T + inverse[:, 2]
    return spline(grid).reshape(len(grid_y), len(grid_x), 2).astype(np.float32)


def area_change(coarse: np.ndarray, step: int = DEFAULT_STEP) -> np.ndarray:
    """Each grid cell's area in the source over its area in the output (the backward map's Jacobian).

    About 1 where the picture keeps its size, below 1 where it is stretched, above where it is
    squeezed, and at or below 0 where the warp folds the picture over itself.
    """
    along_x = (coarse[:-1, 1:] - coarse[:-1, :-1]) / step
    along_y = (coarse[1:, :-1] - coarse[:-1, :-1]) / step
    return along_x[..., 0] * along_y[..., 1] - along_x[..., 1] * along_y[..., 0]


def dense_maps(coarse: np.ndarray, size: tuple[int, int], step: int = DEFAULT_STEP) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (float32, ``size`` = (height, width)) from a :func:`coarse_map`, bilinear between."""
    dense = cv2.remap(coarse, *_grid_lookup(*size, step), cv2.INTER_LINEAR)
    return np.ascontiguousarray(dense[..., 0]), np.ascontiguousarray(dense[..., 1])


def warp_maps(source: np.ndarray, destination: np.ndarray, size: tuple[int, int],
              after: np.ndarray | None = None, step: int = DEFAULT_STEP) -> tuple[np.ndarray, np.ndarray]:
    """``cv2.remap`` maps (float32, ``size`` = (height, width)) that move ``source`` points onto ``destination``.

    ``after``: a (2, 3) affine applied to the warped image as well (folded into the maps).
    """
    return dense_maps(coarse_map(source, destination, size, after, step), size, step)


@functools.lru_cache(maxsize=8)
def _grid_lookup(height: int, width: int, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each pixel lies on the coarse grid (pixel / step): bilinear between its grid points."""
    x = np.broadcast_to(np.arange(width, dtype=np.float32) / step, (height, width))
    y = np.broadcast_to(np.arange(height, dtype=np.float32)[:, None] / step, (height, width))
    return np.ascontiguousarray(x), np.ascontiguousarray(y)
