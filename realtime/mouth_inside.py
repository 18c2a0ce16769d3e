"""The inside of a mouth the warp opens: the target's own, as the generator draws his widest mouth.

The generator draws only the openings the target showed (the shape-space clamp), so a grin or
a yawn is opened the rest of the way by the warp (:mod:`realtime.motion_transfer`), which
stretches the few pixels drawn between the lips. Face2Face (Thies et al., 2016) fills such a
mouth from the target's own footage; here the generator is asked once, at start-up, for the
target's widest mouth (:meth:`realtime.retarget.Retargeter.widest_mouth`), and its inside is
laid into every carried opening, hung from the moved upper lip at the drawn mouth's scale: a
narrow opening shows his upper teeth, a wide one the dark below them too.
"""

from __future__ import annotations

import cv2
import numpy as np

from models import face_topology as topology

# The inner lips' upper edge, from the right mouth corner (image left) to the left one.
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
DARK = (30, 25, 60)  # BGR: the dark red-brown of a mouth's inside, beyond what the target showed
# The drawn inside's edge, blurred this many pixels of a 256-pixel face into the dark: a thin shadow
# under the upper lip. With the teeth meeting the lip (no shadow), MediaPipe read expressions_7s'
# yawn as 1-1.5 degrees less of a nod than with it, though the head turns the same.
_EDGE = 1.5


def inner_mouth_mask(shape: tuple[int, int], inner: np.ndarray, softness: float) -> np.ndarray:
    """0-1 weights (float32, ``shape``) of the inner lips' polygon ``inner`` (in the mask's pixels,
    drawn to a quarter pixel, anti-aliased), its edge blurred by ``softness`` pixels."""
    mask = np.zeros(shape, np.float32)
    cv2.fillPoly(mask, [np.round(np.asarray(inner) * 4).astype(np.int32)], 1.0, cv2.LINE_AA, shift=2)
    return cv2.GaussianBlur(mask, (0, 0), softness)


def _mouth_frame(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, np.ndarray, np.ndarray]:
    """The mouth's own axes: right inner corner, unit axis to the left one, its normal (down), width,
    and the upper inner lip as (fraction along the axis, depth below it) samples, in that order."""
    right = points[topology.INNER_MOUTH_RIGHT, :2]
    across = points[topology.INNER_MOUTH_LEFT, :2] - right
    width = max(float(np.hypot(*across)), 1e-6)
    axis = across / width
    normal = np.array([-axis[1], axis[0]])
    offsets = points[list(UPPER_INNER_LIP), :2] - right
    along, depth = offsets @ axis / width, offsets @ normal
    order = np.argsort(along)
    return right, axis, normal, width, along[order], depth[order]


class MouthInside:
    """A mouth's inside drawn once, laid into openings of any shape.

    ``image`` is the generator's face at the widest mouth, ``points`` its landmarks (478, 2+),
    in the same crop's pixels.
    """

    def __init__(self, image: np.ndarray, points: np.ndarray):
        points = np.asarray(points, np.float64)
        size = image.shape[0]
        mask = inner_mouth_mask(image.shape[:2], points[list(topology.LIPS_INNER), :2], _EDGE * size / 256)[..., None]
        self.image = (image * mask + np.float32(DARK) * (1.0 - mask)).astype(np.uint8)
        self._frame = _mouth_frame(points)

    def fill(self, points: np.ndarray, left: int, top: int, width: int, height: int) -> np.ndarray:
        """The inside for the mouth at ``points`` (478, 2+), over the box at (``left``, ``top``), BGR uint8.

        Each pixel's place across the mouth and its depth below the upper inner lip pick the
        drawn inside's pixel at the same place and depth (at the drawn mouth's scale); deeper
        than the drawn opening, the dark.
        """
        right, axis, normal, mouth_width, along, depth = _mouth_frame(np.asarray(points, np.float64))
        d_right, d_axis, d_normal, d_width, d_along, d_depth = self._frame
        y, x = np.mgrid[top:top + height, left:left + width].astype(np.float64)
        dx, dy = x - right[0], y - right[1]
        fraction = (dx * axis[0] + dy * axis[1]) / mouth_width
        below_lip = dx * normal[0] + dy * normal[1] - np.interp(fraction, along, depth)
        drawn_depth = np.interp(fraction, d_along, d_depth) + below_lip * (d_width / mouth_width)
        drawn_along = fraction * d_width
        map_x = (d_right[0] + drawn_along * d_axis[0] + drawn_depth * d_normal[0]).astype(np.float32)
        map_y = (d_right[1] + drawn_along * d_axis[1] + drawn_depth * d_normal[1]).astype(np.float32)
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=DARK)
