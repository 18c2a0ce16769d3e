"""The generator's input: a colour-coded line sketch of aligned face landmarks.

This is the one implementation shared by training (``reenact prepare``) and the live
loop. Any change to what it draws must bump ``SKETCH_VERSION``: the version is written
into every exported model and the live loop refuses a model drawn for another one.

Design choices that the generator depends on:
- each part has its own colour, so left/right and upper/lower cannot be confused;
- the inner mouth and the eyes are *filled*, so an open mouth or an open eye is an
  area, not two lines a pixel apart: the generator cannot reproduce a state that its
  input leaves ambiguous;
- irises are drawn only inside the eye opening, so a closed eye shows no iris;
- lines are anti-aliased at sub-pixel precision, so slow motion moves the sketch
  smoothly instead of in one-pixel jumps.
"""

from __future__ import annotations

import cv2
import numpy as np

from models import face_topology as T

SKETCH_VERSION = "landmark-sketch/1"

# BGR colours, one per part.
COLOURS = {
    "oval": (200, 200, 200),
    "brows": (0, 140, 255),
    "eye_fill": (0, 90, 0),
    "eye_line": (0, 255, 0),
    "iris": (255, 255, 0),
    "nose": (0, 220, 220),
    "lips": (60, 60, 230),
    "mouth": (255, 200, 255),
}
_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


def _fixed(points: np.ndarray, indices) -> np.ndarray:
    """Points as OpenCV fixed-point int32 (N, 1, 2) for the given indices."""
    return np.round(points[list(indices), :2] * _ONE).astype(np.int32).reshape(-1, 1, 2)


def line_thickness(size: int) -> int:
    return max(1, round(size / 128))


def render_sketch(points: np.ndarray, size: int, out: np.ndarray | None = None) -> np.ndarray:
    """Draw aligned landmarks (478, 2 or 3) as a ``size`` x ``size`` BGR uint8 sketch.

    ``out``, when given, is a preallocated (size, size, 3) uint8 array drawn into.
    """
    points = np.asarray(points, dtype=np.float32)
    if points.ndim != 2 or points.shape[0] < 478 or points.shape[1] < 2:
        raise ValueError(f"got landmarks of shape {points.shape}, expected (478, 2 or 3)")
    if out is None:
        out = np.zeros((size, size, 3), np.uint8)
    elif out.shape != (size, size, 3) or out.dtype != np.uint8:
        raise ValueError(f"got out {out.shape} {out.dtype}, expected ({size}, {size}, 3) uint8")
    else:
        out[:] = 0
    width = line_thickness(size)
    aa = cv2.LINE_AA

    def poly(indices, colour, closed):
        cv2.polylines(out, [_fixed(points, indices)], closed, colour, width, aa, _SHIFT)

    def fill(indices, colour):
        cv2.fillPoly(out, [_fixed(points, indices)], colour, aa, _SHIFT)

    poly(T.FACE_OVAL, COLOURS["oval"], True)
    fill(T.RIGHT_BROW, COLOURS["brows"])
    fill(T.LEFT_BROW, COLOURS["brows"])
    poly(T.NOSE_BRIDGE, COLOURS["nose"], False)
    poly(T.NOSE_BASE, COLOURS["nose"], False)
    poly(T.NOSE_WINGS, COLOURS["nose"], False)

    # Eyes: filled opening, iris clipped to it, then the lid outline on top. The clipping
    # works on each eye's bounding box only: full-frame masks cost more than all the rest.
    for eye, center, ring in ((T.RIGHT_EYE, T.RIGHT_IRIS_CENTER, T.RIGHT_IRIS),
                              (T.LEFT_EYE, T.LEFT_IRIS_CENTER, T.LEFT_IRIS)):
        fill(eye, COLOURS["eye_fill"])
        _draw_clipped_iris(out, points, eye, center, ring)
    poly(T.RIGHT_EYE, COLOURS["eye_line"], True)
    poly(T.LEFT_EYE, COLOURS["eye_line"], True)

    # Mouth: lips filled, then the inner opening filled over them in its own colour.
    fill(T.LIPS_OUTER, COLOURS["lips"])
    fill(T.LIPS_INNER, COLOURS["mouth"])
    return out


def _draw_clipped_iris(out: np.ndarray, points: np.ndarray, eye, center: int, ring) -> None:
    """Draw the iris disc, but only where it lies inside the eye opening."""
    size = out.shape[0]
    outline = _fixed(points, eye)
    left, top = np.maximum(outline.reshape(-1, 2).min(0) // _ONE - 1, 0)
    right, bottom = np.minimum(outline.reshape(-1, 2).max(0) // _ONE + 2, size)
    if right <= left or bottom <= top:
        return
    offset = np.array([left, top]) * _ONE
    height, width = bottom - top, right - left
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [outline - offset], 255, cv2.LINE_8, _SHIFT)
    disc = np.zeros((height, width, 3), np.uint8)
    c = points[center, :2]
    radius = float(np.mean(np.linalg.norm(points[list(ring), :2] - c, axis=1)))
    cv2.circle(disc, tuple(np.round(c * _ONE).astype(int) - offset), max(1, round(radius * _ONE)),
               COLOURS["iris"], -1, cv2.LINE_AA, _SHIFT)
    region = out[top:bottom, left:right]
    np.maximum(region, disc, out=region, where=mask[:, :, None] > 0)


# Landmark index permutation that mirrors a face left-right (for flip augmentation):
# built from the paired contours above, so a flipped sketch equals the sketch of
# flipped landmarks.
def mirror_permutation() -> np.ndarray:
    """Index map ``m`` with ``mirrored_points = flipped_points[m]`` for the sketched parts."""
    permutation = np.arange(478)
    pairs = [
        (T.RIGHT_EYE, T.LEFT_EYE),
        (T.RIGHT_BROW, T.LEFT_BROW),
        (T.RIGHT_IRIS, T.LEFT_IRIS[2:] + T.LEFT_IRIS[:2]),
        ((T.RIGHT_IRIS_CENTER,), (T.LEFT_IRIS_CENTER,)),
    ]
    for right, left in pairs:
        for a, b in zip(right, left):
            permutation[a], permutation[b] = b, a
    return permutation
