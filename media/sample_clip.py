"""The embedded default driver clip, "sample": 10 s of a real face, made at run time.

The face is the public-domain NASA astronaut portrait that ships inside scikit-image, so
no footage is stored in the repository. It is animated by warps driven by the portrait's
MediaPipe landmarks (found once, then cached), applied in this order:

1. a vertical warp of each image column, with knots on the lid, lip, brow and chin
   contours: the lower lip and chin drop (or rise, to close the smiling portrait's
   mouth) and the upper lids come down. Being one-dimensional and monotonic per column,
   it has an exact inverse, however much it squeezes a lid or stretches a lip;
2. the depth parallax of small head turns and nods: each landmark moves in proportion
   to its depth, spread over the face by a Delaunay mesh that fades out around it;
3. a head roll and shift that fade out into the background, so the body stays put.

Per frame, the inverse of that chain gives one sampling position per pixel for a single
``cv2.remap``; what a warp cannot show (the dark inside of an opened mouth, the seam of
shut lips or lids) is then painted over. The clip is deterministic (no randomness) and
loops seamlessly: every motion is periodic over its 300 frames.
"""

from __future__ import annotations

import dataclasses
import operator
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.spatial import Delaunay

from models import face_topology as topology
from models.column_warp import (
    CHIN,
    CHIN_FADE_IOD,
    LEFT_CHEEK_EDGE,
    LOWER_INNER_LIP,
    RIGHT_CHEEK_EDGE,
    column_knots,
    piecewise_linear,
)
from models.files import write_atomically
from models.landmarker_asset import cache_dir

SAMPLE_FPS = 30.0
SAMPLE_FRAMES = 300
LANDMARKS_CACHE_NAME = "sample_landmarks_v1.npy"
PORTRAIT_SIZE = 512  # skimage.data.astronaut() is 512 x 512

# Inner-lip gap (landmarks 13-14) over the inter-ocular distance at mouth = 0 and 1. The
# portrait itself smiles with its teeth showing (about 0.15), so "closed" pulls the lower
# lip up over the teeth and "open" drops lower lip and chin well past what MediaPipe
# reports as open (0.2).
CLOSED_GAP_IOD = 0.02
OPEN_GAP_IOD = 0.32

# Zero-displacement anchors ring the face at this multiple of the face oval's size, so
# that the parallax of a head turn fades out in the hair and the neck.
_ANCHOR_RING_SCALE = 1.4
# Head roll and shift act fully within the first radius and fade out by the second
# (multiples of the face oval's mean radius), so the hair moves with the face while
# the body and background stay put.
_HEAD_INNER_RADIUS = 1.9
_HEAD_OUTER_RADIUS = 3.2
_PARALLAX_NEWTON_STEPS = 2
_MOUTH_INTERIOR_BGR = (30, 28, 50)
_LIP_SEAM_BGR = (55, 55, 110)
_LASH_LINE_BGR = (35, 45, 60)

# Timelines in seconds: (start, rise, hold, fall, level) for the mouth and
# (start, rise, hold, fall) for blinks. Mouth openings vary in width and length (a
# few talking-like, one long and wide); blinks include a double blink.
_MOUTH_EVENTS = (
    (0.50, 0.20, 0.50, 0.25, 1.00),
    (1.90, 0.15, 0.15, 0.15, 0.70),
    (2.50, 0.15, 0.10, 0.15, 0.85),
    (3.60, 0.30, 0.80, 0.30, 1.00),
    (5.60, 0.15, 0.25, 0.20, 0.55),
    (6.60, 0.20, 0.40, 0.20, 1.00),
    (8.00, 0.25, 0.60, 0.35, 0.90),
)
_BLINK_EVENTS = (
    (1.40, 0.07, 0.10, 0.13),
    (3.10, 0.07, 0.10, 0.13),
    (5.00, 0.07, 0.10, 0.13),
    (5.40, 0.07, 0.10, 0.13),
    (7.50, 0.07, 0.10, 0.13),
    (9.30, 0.07, 0.10, 0.13),
)
_CLIP_SECONDS = SAMPLE_FRAMES / SAMPLE_FPS


def portrait_bgr() -> np.ndarray:
    """The NASA astronaut portrait from scikit-image as 512 x 512 BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


def portrait_landmarks() -> np.ndarray:
    """The portrait's 478 MediaPipe landmarks, (478, 3) float32 in portrait pixels.

    Found once with MediaPipe and cached in the reenact cache folder; a missing or
    unreadable cache file is recomputed and replaced atomically.
    """
    path = cache_dir() / LANDMARKS_CACHE_NAME
    cached = _load_landmarks(path)
    if cached is not None:
        return cached
    points = _detect_landmarks(portrait_bgr())
    try:
        write_atomically(path, lambda file: np.save(file, points, allow_pickle=False))
    except OSError as error:
        warnings.warn(f"could not cache the sample clip's landmarks in {path}: {error}", stacklevel=2)
    return points


def _load_landmarks(path: Path) -> np.ndarray | None:
    try:
        points = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    valid = (isinstance(points, np.ndarray) and points.shape == (478, 3) and points.dtype == np.float32
             and np.isfinite(points).all()
             and (points[:, :2] >= 0).all() and (points[:, :2] <= PORTRAIT_SIZE).all())
    return points if valid else None


def _detect_landmarks(image_bgr: np.ndarray) -> np.ndarray:
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from models.native_logs import quiet_native_stderr

    with quiet_native_stderr(), FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        face = landmarker.detect(image_bgr)
    if face is None:
        raise RuntimeError("MediaPipe found no face in the astronaut portrait; "
                           "check the face_landmarker.task model in the reenact cache")
    # Rounded to 1/16 px so that last-bit differences between MediaPipe builds rarely
    # change the clip: the cached file is what makes runs bit-identical.
    return (np.round(face.points * 16.0) / 16.0).astype(np.float32)


def _pulse(time_s: float, start: float, rise: float, hold: float, fall: float) -> float:
    """0 -> 1 -> 0 with raised-cosine ramps, so motion starts and stops smoothly."""
    if time_s <= start or time_s >= start + rise + hold + fall:
        return 0.0
    if time_s < start + rise:
        return 0.5 - 0.5 * np.cos(np.pi * (time_s - start) / rise)
    if time_s <= start + rise + hold:
        return 1.0
    return 0.5 + 0.5 * np.cos(np.pi * (time_s - start - rise - hold) / fall)


def _parallax_basis(points: np.ndarray, direction: int) -> np.ndarray:
    """Per-landmark displacement of a head turn (direction 0, x) or nod (1, y) per unit sine.

    Points move in proportion to their depth in front of the cheek edges (the turning
    axis): the nose tip most, the face outline hardly, as in a real turn.
    """
    axis_depth = (points[RIGHT_CHEEK_EDGE, 2] + points[LEFT_CHEEK_EDGE, 2]) / 2.0
    basis = np.zeros((len(points), 2))
    basis[:, direction] = axis_depth - points[:, 2]  # MediaPipe z is negative towards the camera
    return basis


def _mesh_fields(vertices: np.ndarray, vertex_bases: np.ndarray,
                 box: tuple[int, int, int, int]) -> np.ndarray:
    """Spread per-vertex displacements over the pixels of ``box`` (top, bottom, left, right).

    Piecewise-linear on the Delaunay triangulation: exact at every vertex, and zero
    wherever the surrounding vertices are anchors.
    """
    top, bottom, left, right = box
    mesh = Delaunay(vertices)
    ys, xs = np.mgrid[top:bottom, left:right]
    pixels = np.stack([xs.ravel(), ys.ravel()], axis=1).astype(np.float64)
    simplex = mesh.find_simplex(pixels)
    inside = simplex >= 0
    transform = mesh.transform[simplex[inside]]
    partial = np.einsum("nij,nj->ni", transform[:, :2], pixels[inside] - transform[:, 2])
    weights = np.concatenate([partial, 1.0 - partial.sum(axis=1, keepdims=True)], axis=1)
    corners = mesh.simplices[simplex[inside]]
    fields = np.zeros((len(vertex_bases), len(pixels), 2))
    fields[:, inside] = np.einsum("nj,knjc->knc", weights, vertex_bases[:, corners])
    return fields.reshape(len(vertex_bases), bottom - top, right - left, 2).astype(np.float32)


def _invert_smooth_field(forward: np.ndarray, grid: np.ndarray, steps: int) -> np.ndarray:
    """Offsets e with (q + e) + forward(q + e) = q at each grid pixel q, by Newton's method.

    For the parallax field, whose gradient stays far from -1, two steps are exact to a
    few hundredths of a pixel.
    """
    d_dy, d_dx = np.gradient(forward, axis=(0, 1))
    jacobian = np.ascontiguousarray(np.stack([d_dx[..., 0], d_dy[..., 0], d_dx[..., 1], d_dy[..., 1]], -1))
    source = grid - forward
    for _ in range(steps):
        moved = cv2.remap(forward, source, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        slope = cv2.remap(jacobian, source, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        residual = source + moved - grid
        a, b, c, d = 1.0 + slope[..., 0], slope[..., 1], slope[..., 2], 1.0 + slope[..., 3]
        determinant = a * d - b * c
        source[..., 0] -= (d * residual[..., 0] - b * residual[..., 1]) / determinant
        source[..., 1] -= (a * residual[..., 1] - c * residual[..., 0]) / determinant
    return source - grid


def _sample(field: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (h, w, channels) field at (N, 2) pixel positions."""
    at = np.ascontiguousarray(xy, dtype=np.float32).reshape(-1, 1, 2)
    samples = cv2.remap(field, at, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return samples.reshape(len(xy), -1)


@dataclass(frozen=True)
class _Warp:
    """One frame's warp parameters."""

    lip_drop: float  # px added to the inner-lip gap; negative closes the mouth
    blink: float  # 0 open to 1 shut
    parallax: np.ndarray  # (h, w, 2) forward displacement of the head turn over the expression region
    head: np.ndarray  # (2, 3) head roll and shift, see SampleClip._head_motion


class SampleClip:
    """Deterministic synthetic driver clip: 300 frames at 30 fps of the NASA portrait.

    ``frame(i)`` renders frame ``i`` as a fresh (size, size, 3) uint8 BGR array;
    ``expression(i)`` gives the animation parameters used for it: ``mouth`` (0 closed to
    1 wide open), ``blink`` (0 open to 1 closed), ``yaw_deg`` (positive turns the nose to
    the image's right), ``pitch_deg`` (positive tips the nose down), ``roll_deg``
    (positive turns the head clockwise on screen) and ``shift_x_px``/``shift_y_px``.
    """

    fps: float = SAMPLE_FPS

    def __init__(self, size: int = 384):
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 128:
            raise ValueError(f"got size {size!r}, expected an integer of at least 128 pixels "
                             "(the face spans only about a fifth of the frame)")
        self.size = int(size)
        self._image = cv2.resize(portrait_bgr(), (self.size, self.size), interpolation=cv2.INTER_AREA)
        points = portrait_landmarks().astype(np.float64) * (self.size / PORTRAIT_SIZE)
        self._points = points
        self._inter_ocular = topology.inter_ocular(points)
        self._base_gap_px = topology.mouth_opening(points) * self._inter_ocular
        self._build_expression_region(points)
        self._build_head_region(points)

    def __len__(self) -> int:
        return SAMPLE_FRAMES

    def expression(self, index: int) -> dict[str, float]:
        """The animation parameters of frame ``index`` (see the class docstring)."""
        time_s = self._check_index(index) / SAMPLE_FPS
        phase = 2.0 * np.pi * time_s / _CLIP_SECONDS  # whole turns per clip: a seamless loop
        mouth = max(level * _pulse(time_s, *timing) for *timing, level in _MOUTH_EVENTS)
        blink = max(_pulse(time_s, *timing) for timing in _BLINK_EVENTS)
        return {
            "mouth": float(mouth),
            "blink": float(blink),
            "yaw_deg": float(5.0 * np.sin(2.0 * phase)),
            "pitch_deg": float(3.0 * np.sin(3.0 * phase + 0.5)),
            "roll_deg": float(4.0 * np.sin(phase)),
            "shift_x_px": float(0.008 * self.size * np.sin(phase + 1.3)),
            "shift_y_px": float(0.005 * self.size * np.sin(2.0 * phase + 0.4)),
        }

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` as a new (size, size, 3) uint8 BGR array."""
        warp = self._warp(self.expression(index))
        # Output pixel -> before the head motion -> before the expression: one sampling
        # position per pixel, then one remap of the portrait.
        top, bottom, left, right = self._head_box
        head_displacement = cv2.transform(self._weighted_head_coordinates, warp.head)
        inverse = self._inverse_expression(warp)
        in_region = cv2.remap(inverse, self._head_grid_in_region - head_displacement, None, cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        source = self._head_grid - head_displacement + in_region
        image = self._image.copy()
        image[top:bottom, left:right] = cv2.remap(self._image, source, None, cv2.INTER_LINEAR,
                                                  borderMode=cv2.BORDER_REFLECT_101)
        self._paint_mouth_and_lids(image, warp)
        return image

    def _warp(self, parameters: dict[str, float]) -> _Warp:
        gap_iod = CLOSED_GAP_IOD + parameters["mouth"] * (OPEN_GAP_IOD - CLOSED_GAP_IOD)
        turn = np.sin(np.radians([parameters["yaw_deg"], parameters["pitch_deg"]])).astype(np.float32)
        return _Warp(lip_drop=gap_iod * self._inter_ocular - self._base_gap_px,
                     blink=parameters["blink"],
                     parallax=np.tensordot(turn, self._parallax_fields, axes=1),
                     head=self._head_motion(parameters))

    def _check_index(self, index) -> int:
        try:
            value = operator.index(index)
        except TypeError:
            raise ValueError(f"got frame index {index!r}, expected an integer") from None
        if not 0 <= value < SAMPLE_FRAMES:
            raise ValueError(f"got frame index {value}, expected 0 <= index < {SAMPLE_FRAMES} "
                             f"(the sample clip has {SAMPLE_FRAMES} frames at {SAMPLE_FPS:g} fps)")
        return value

    def _build_expression_region(self, points: np.ndarray) -> None:
        """Precompute the vertical warp's knots and the parallax fields around the face."""
        oval = points[list(topology.FACE_OVAL), :2]
        center = oval.mean(axis=0)
        ring = center + _ANCHOR_RING_SCALE * (oval - center)
        neck = points[CHIN, 1] + CHIN_FADE_IOD * self._inter_ocular
        left, top = (int(value) for value in np.maximum(np.floor(ring.min(axis=0)), 0))
        right = min(int(np.ceil(ring[:, 0].max())) + 1, self.size)
        bottom = min(int(np.ceil(max(ring[:, 1].max(), neck))) + 2, self.size)
        self._region_origin = np.float32((left, top))
        ys, xs = np.mgrid[top:bottom, left:right].astype(np.float32)
        self._region_grid = np.stack([xs - left, ys - top], axis=-1)
        self._region_rows = ys

        columns = np.arange(left, right, dtype=np.float64)
        self._region_knots = [part.astype(np.float32)
                              for part in column_knots(points, columns, self._inter_ocular)]
        self._landmark_knots = column_knots(points, points[:, 0], self._inter_ocular)

        corners = np.array([(left, top), (right - 1, top), (left, bottom - 1), (right - 1, bottom - 1)],
                           dtype=np.float64)
        vertices = np.concatenate([points[:, :2], ring, corners])
        bases = np.stack([_parallax_basis(points, 0), _parallax_basis(points, 1)])
        anchors = np.zeros((len(bases), len(vertices) - len(points), 2))  # never move
        self._parallax_fields = _mesh_fields(vertices, np.concatenate([bases, anchors], axis=1),
                                             (top, bottom, left, right))

    def _inverse_expression(self, warp: _Warp) -> np.ndarray:
        """Offsets, over the expression region, from each pixel back to its portrait source.

        The expression is the vertical warp (mouth, blink) followed by the parallax of the
        head turn; its inverse undoes the parallax by Newton's method, then each column's
        vertical warp exactly.
        """
        knots, mouth, lids = self._region_knots
        drop = np.float32(warp.lip_drop) * mouth + np.float32(warp.blink) * lids
        moved_knots = np.maximum.accumulate(knots + drop, axis=0)  # a column never folds
        vertical = piecewise_linear(self._region_rows, moved_knots, -drop)
        inverse = _invert_smooth_field(warp.parallax, self._region_grid, _PARALLAX_NEWTON_STEPS)
        inverse[..., 1] += cv2.remap(vertical, self._region_grid + inverse, None, cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT)
        return inverse

    def _head_motion(self, parameters: dict[str, float]) -> np.ndarray:
        """The head's rigid displacement, a 2x3 matrix acting on (x, y, 1) about the face centre."""
        angle = np.radians(parameters["roll_deg"])
        cos, sin = np.cos(angle), np.sin(angle)
        return np.array([[cos - 1.0, -sin, parameters["shift_x_px"]],
                         [sin, cos - 1.0, parameters["shift_y_px"]]], dtype=np.float32)

    def _build_head_region(self, points: np.ndarray) -> None:
        oval = points[list(topology.FACE_OVAL), :2]
        center = oval.mean(axis=0)
        radius = np.linalg.norm(oval - center, axis=1).mean()
        self._head_center = center
        self._head_radii = (_HEAD_INNER_RADIUS * radius, _HEAD_OUTER_RADIUS * radius)
        outer = self._head_radii[1]
        left, top = np.maximum(np.floor(center - outer), 0).astype(int)
        right, bottom = np.minimum(np.ceil(center + outer) + 1, self.size).astype(int)
        ys, xs = np.mgrid[top:bottom, left:right]
        self._head_box = (top, bottom, left, right)
        self._head_grid = np.stack([xs, ys], axis=-1).astype(np.float32)
        self._head_grid_in_region = self._head_grid - self._region_origin
        # (w x, w y, w) about the face centre: the head motion matrix maps it straight to
        # the faded displacement w * (A (x, y) + t), one cv2.transform per frame.
        weight = self._head_weight(self._head_grid)[..., None]
        self._weighted_head_coordinates = np.concatenate(
            [weight * (self._head_grid - center), weight], axis=-1).astype(np.float32)

    def _head_weight(self, xy: np.ndarray) -> np.ndarray:
        inner, outer = self._head_radii
        distance = np.hypot(xy[..., 0] - self._head_center[0], xy[..., 1] - self._head_center[1])
        fade = np.clip((distance - inner) / (outer - inner), 0.0, 1.0)
        return 1.0 - fade * fade * (3.0 - 2.0 * fade)  # smoothstep: no crease at either radius

    def _forward_points(self, indices: tuple[int, ...], warp: _Warp) -> np.ndarray:
        """Where landmarks land in the frame: vertical warp, parallax, then head motion."""
        chosen = list(indices)
        knots, mouth, lids = (part[:, chosen] for part in self._landmark_knots)
        moved = self._points[chosen, :2].copy()
        moved[:, 1] += piecewise_linear(moved[:, 1], knots, warp.lip_drop * mouth + warp.blink * lids)
        moved += _sample(warp.parallax, moved - self._region_origin)
        start = moved - self._head_center
        landed = start
        for _ in range(3):  # the head warp is defined backwards; its gradient is small
            displacement = landed @ warp.head[:, :2].T + warp.head[:, 2]
            landed = start + self._head_weight(landed + self._head_center)[:, None] * displacement
        return landed + self._head_center

    def _paint_mouth_and_lids(self, image: np.ndarray, warp: _Warp) -> None:
        """Paint what a warp cannot show: the mouth's dark inside, the seams of shut lips and lids.

        Squeezing the portrait's visible teeth and eyes into a sliver leaves a bright thread
        that reads as "slightly open"; a dark seam over it reads as shut.
        """
        if warp.lip_drop > 0:
            where_it_was = self._forward_points(LOWER_INNER_LIP, dataclasses.replace(warp, lip_drop=0.0))
            where_it_is = self._forward_points(LOWER_INNER_LIP, warp)
            band = np.concatenate([where_it_was, where_it_is[::-1]])
            self._paint(image, [band], [], _MOUTH_INTERIOR_BGR, 1.0)
        elif warp.lip_drop < 0:
            closing = -warp.lip_drop / (self._base_gap_px - CLOSED_GAP_IOD * self._inter_ocular)
            lips = self._forward_points(topology.LIPS_INNER, warp)
            self._paint(image, [lips], [lips], _LIP_SEAM_BGR, 0.8 * min(closing, 1.0) ** 2)
        shut = np.clip((warp.blink - 0.5) / 0.5, 0.0, 1.0)
        if shut > 0:
            eyes = [self._forward_points(eye, warp) for eye in (topology.RIGHT_EYE, topology.LEFT_EYE)]
            lids = [eye[8:] for eye in eyes]  # the upper lid, corner to corner
            self._paint(image, eyes, lids, _LASH_LINE_BGR, 0.7 * shut * shut * (3.0 - 2.0 * shut))

    def _paint(self, image: np.ndarray, areas: list[np.ndarray], lines: list[np.ndarray],
               colour: tuple[int, int, int], opacity: float) -> None:
        """Blend ``colour`` over anti-aliased polygon ``areas`` and one-pixel ``lines``."""
        everything = np.concatenate(areas + lines)
        left, top = np.maximum(np.floor(everything.min(axis=0)).astype(int) - 2, 0)
        right, bottom = np.minimum(np.ceil(everything.max(axis=0)).astype(int) + 3, self.size)
        mask = np.zeros((bottom - top, right - left), np.uint8)
        fixed_point = [np.round((shape - (left, top)) * 16).astype(np.int32) for shape in areas + lines]
        if areas:
            cv2.fillPoly(mask, fixed_point[:len(areas)], 255, cv2.LINE_AA, shift=4)
        if lines:
            cv2.polylines(mask, fixed_point[len(areas):], False, 255, 1, cv2.LINE_AA, shift=4)
        alpha = mask[..., None].astype(np.float32) * np.float32(opacity / 255.0)
        region = image[top:bottom, left:right].astype(np.float32)
        blended = region + alpha * (np.float32(colour) - region)
        image[top:bottom, left:right] = np.round(blended).astype(np.uint8)
