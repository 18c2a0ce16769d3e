"""Vertical warps of a face's image columns: the jaw's drop (the mouth opening) and the lids' blink.

Each image column moves as a one-dimensional piecewise-linear map between knots on the
lid, lip, brow and chin contours of its MediaPipe landmarks, so every warp has an exact
inverse, however much it squeezes a lid or stretches a lip. The ``sample`` driver clip
animates its portrait with these warps; the live swap loop opens or closes the drawn
face's mouth to the driver's with :func:`drop_jaw`, and the swap trainer can drop the jaws
of open mouths with it (``--jaw-drop``), so that both decoders see mouths wider than their
footage shows.
"""

from __future__ import annotations

import cv2
import numpy as np

from models import face_topology as topology

BLINK_CLOSURE = 0.9  # fraction of the lid gap the upper lid travels in a full blink

# Below the mouth corners the jaw's drop ramps in over at least this height, and below
# the chin it fades out over the second (both in inter-ocular units).
MIN_LIP_RAMP_IOD = 0.12
CHIN_FADE_IOD = 0.5
UPPER_INNER_LIP = topology.LIPS_INNER[10:] + topology.LIPS_INNER[:1]  # 308 ... 13 ... 78
LOWER_INNER_LIP = topology.LIPS_INNER[:11]  # 78 ... 14 ... 308
RIGHT_CHEEK_EDGE, LEFT_CHEEK_EDGE, CHIN, NOSE_BRIDGE = 234, 454, 152, 168


def _curve(points: np.ndarray, chain: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A contour as (x, y) samples sorted by x, for ``np.interp``."""
    xy = points[list(chain), :2].astype(np.float64)
    order = np.argsort(xy[:, 0], kind="stable")
    return xy[order, 0], xy[order, 1]


def column_knots(points: np.ndarray, x: np.ndarray, inter_ocular: float):
    """The vertical (mouth and blink) warp of the image columns at ``x``.

    Returns knot heights (7, N), increasing down each column, and the downward
    displacement at each knot per pixel of extra lip gap and per full blink (7, N each).
    Between knots a column moves linearly, above the first and below the last not at all,
    so every column is a one-dimensional piecewise-linear map with an exact inverse.

    Mouth: from the upper inner lip down to the lower inner lip (but over at least a
    minimum height, so the skin beside the mouth stretches instead of tearing) the
    displacement ramps in; lip and chin then drop together, and below the chin the neck
    takes it up again. It is largest under the lip centre and fades out towards the jaw's
    sides. Blink: the upper lid travels most of the way to the lower one; the skin above
    it, up to the brow, stretches as the lid unfolds, and the eye between the lids is
    squeezed against the lower lid, which stays.
    """
    x = np.asarray(x, dtype=np.float64)
    right_side = x < points[NOSE_BRIDGE, 0]

    def across(chain: tuple[int, ...]) -> np.ndarray:
        return np.interp(x, *_curve(points, chain))

    def per_eye(right_chain: tuple[int, ...], left_chain: tuple[int, ...]) -> np.ndarray:
        return np.where(right_side, across(right_chain), across(left_chain))

    brow = per_eye(topology.RIGHT_BROW[:5], topology.LEFT_BROW[:5])  # the brows' lower edges
    right_eye, left_eye = topology.RIGHT_EYE, topology.LEFT_EYE  # lower lid first, corner to corner
    upper_lid = per_eye(right_eye[8:] + right_eye[:1], left_eye[8:] + left_eye[:1])
    lower_lid = per_eye(right_eye[:9], left_eye[:9])
    upper_lip = across(UPPER_INNER_LIP)
    jaw_top = upper_lip + np.maximum(across(LOWER_INNER_LIP) - upper_lip, MIN_LIP_RAMP_IOD * inter_ocular)
    chin = np.full_like(x, points[CHIN, 1])
    neck = chin + CHIN_FADE_IOD * inter_ocular
    knots = np.stack([brow, upper_lid, lower_lid, upper_lip, jaw_top, chin, neck])
    knots = np.maximum.accumulate(knots, axis=0)

    half_width = (points[LEFT_CHEEK_EDGE, 0] - points[RIGHT_CHEEK_EDGE, 0]) / 2.0
    offset = np.clip(np.abs(x - points[topology.INNER_LIP_LOWER, 0]) / half_width, 0.0, 1.0)
    jaw = np.cos(np.pi / 2.0 * offset) ** 2
    lid_drop = BLINK_CLOSURE * np.maximum(lower_lid - upper_lid, 0.0)
    zero = np.zeros_like(x)
    mouth = np.stack([zero, zero, zero, zero, jaw, jaw, zero])
    blink = np.stack([zero, lid_drop, zero, zero, zero, zero, zero])
    return knots, mouth, blink


def piecewise_linear(y: np.ndarray, knots: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Interpolate ``values`` at heights ``y``, column by column, between ``knots``."""
    result = np.zeros(np.broadcast_shapes(np.shape(y), knots[0].shape), dtype=knots.dtype)
    for j in range(len(knots) - 1):
        span = np.maximum(knots[j + 1] - knots[j], 1e-6)
        result += np.clip((y - knots[j]) / span, 0.0, 1.0) * (values[j + 1] - values[j])
    return result + values[0]


def drop_jaw(image: np.ndarray, points: np.ndarray, lip_drop: float) -> tuple[np.ndarray, np.ndarray]:
    """``image`` and its (N, 2+) ``points`` with the lower lip and chin dropped by ``lip_drop`` pixels.

    The inside of the mouth, from the upper inner lip to the lower one, stretches (so the
    mouth should already be open: a shut one would only grow taller lips), the jaw drops
    with it, fading out towards the jaw's sides, and the neck below the chin takes it up.
    A negative ``lip_drop`` raises them: the mouth closes by that much.
    """
    size_y, size_x = image.shape[:2]
    inter_ocular = topology.inter_ocular(points)
    columns = np.arange(size_x, dtype=np.float64)
    knots, mouth, _ = column_knots(points, columns, inter_ocular)
    drop = lip_drop * mouth
    moved_knots = np.maximum.accumulate(knots + drop, axis=0)  # a column never folds
    rows = np.arange(size_y, dtype=np.float64)[:, None]
    map_y = (rows + piecewise_linear(rows, moved_knots, -drop)).astype(np.float32)
    map_x = np.broadcast_to(columns.astype(np.float32), (size_y, size_x))
    warped = cv2.remap(image, np.ascontiguousarray(map_x), map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    point_knots, point_mouth, _ = column_knots(points, points[:, 0], inter_ocular)
    moved = points.astype(np.float64, copy=True)
    moved[:, 1] += piecewise_linear(moved[:, 1], point_knots, lip_drop * point_mouth)
    return warped, moved.astype(points.dtype)
