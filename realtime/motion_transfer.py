"""The driver's head turn and the expression the shape space cut, put back by warping the drawn face.

The generator draws only faces the target showed: frontal, and within his expressions (the
shape-space clamp, :mod:`realtime.retarget`). This stage moves the drawn face the rest of
the way, so the clean face turns, nods and grins with the driver:

1. **Frontalise.** The driver's aligned 3-D landmarks are compared with their calibration
   neutral on rigid points (:data:`models.head_pose.RIGID_POINTS`); the landmarks turned back
   by that fitted rotation are the driver's expression alone, which retargeting then maps onto
   the target. The head's turn since calibration is MediaPipe's own reading of it, from the
   frame's points (:func:`models.head_pose.facial_pose`, see :class:`HeadPose`).
2. **Carry the expression.** Where retargeting's unclamped face (``wanted``) lies beyond the
   drawn one, the drawn face's control points move towards it, by ``expression_gain`` and
   at most ``max_carry`` inter-ocular distances; the brows' and lids' motion amplified
   first, the lids only ever opened, each brow point raised at most ``MAX_BROW_RISE`` of its
   height above the lid, the fold above each lid held under a rising brow where an even stretch
   of the skin puts it (not the lid the generator drew stretched most), the irises and eye
   corners left as drawn.
3. **Turn the head.** The moved points, with the target's depth, are turned by the driver's
   yaw and pitch (times ``pose_gain`` and ``FLAT_PICTURE_GAIN``, bounded at ``max_yaw`` /
   ``max_pitch``), projected, and
   re-scaled and re-centred on the stable points the way the driver's crop is, so the
   in-plane head motion (roll, shift, scale) applies after it unchanged.

The face is then warped from the drawn points to these (:mod:`models.face_warp`, a thin
plate through the face's points, a ring around it that follows halfway, and the crop's
border, which stays), in one resampling with the in-plane head motion; a warp that would
fold is cut back, and a mouth opened past what the generator drew gets a dark inside
(:meth:`MotionTransfer.warp`). The maps depend only on landmarks, so the front thread
computes them and the back only resamples.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models import face_topology as topology
from models.alignment import umeyama_similarity
from models.face_warp import area_change, coarse_map, dense_maps
from models.head_pose import RIGID_POINTS, angles, facial_pose, fit_rotation, rotation
from models.options import require
from models.shape_space import LANDMARK_COUNT
from realtime.mouth_inside import DARK, MouthInside, inner_mouth_mask
from realtime.retarget import Calibration

# The face's control points: every other oval point, the brows' upper edges, the eyes' corners
# and lid middles, irises, the nose and the lips (and, under a rising brow, the folds above the
# lids: :func:`_control_points`).
_OVAL = topology.FACE_OVAL[::2]
_EYES = (33, 133, 159, 145, 362, 263, 386, 374, topology.RIGHT_IRIS_CENTER, topology.LEFT_IRIS_CENTER)
CONTROL_POINTS = tuple(dict.fromkeys(
    _OVAL + topology.RIGHT_BROW_UPPER + topology.LEFT_BROW_UPPER + _EYES + (168, 6, 1, 4, 98, 327, 2)
    + (61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321, 13, 14, 78, 308)))
_IRISES = (topology.RIGHT_IRIS_CENTER, topology.LEFT_IRIS_CENTER)
_UPPER_LIDS = (topology.RIGHT_EYE_UPPER, topology.LEFT_EYE_UPPER)
_LOWER_LIDS = (topology.RIGHT_EYE_LOWER, topology.LEFT_EYE_LOWER)
_LIDS = _UPPER_LIDS + _LOWER_LIDS
_STILL = _IRISES + (33, 133, 362, 263)  # the gaze and the eye corners are the generator's
_BROWS = topology.RIGHT_BROW_UPPER + topology.LEFT_BROW_UPPER
# Above each eye, from the bottom up: the upper lid's middle, the fold over the lid and the
# brow's upper edge; and the eye's corners, which move with the head alone.
_ABOVE_EYES = ((topology.RIGHT_EYE_UPPER, list(topology.RIGHT_LID_FOLD), list(topology.RIGHT_BROW_UPPER),
                [topology.RIGHT_EYE_OUTER, topology.RIGHT_EYE_INNER]),
               (topology.LEFT_EYE_UPPER, list(topology.LEFT_LID_FOLD), list(topology.LEFT_BROW_UPPER),
                [topology.LEFT_EYE_OUTER, topology.LEFT_EYE_INNER]))
RING_SCALE = 1.35  # the ring around the face, as a multiple of the oval's distance from its centre
RING_FOLLOW = 0.5  # how much of the face's motion the ring takes (hair, neck)
_BORDER_POINTS = 4  # fixed points along each side of the crop
_RING_CLEARANCE = 16.0  # pixels a ring point keeps from the crop's edge, or it is left out
# The turn is given to the drawn face this many times over: MediaPipe reads a flat picture of s1,
# warped by a known turn, as 0.81 of its pitch and 0.83 of its yaw (the far side does not hide).
# With the turn read as MediaPipe reads the driver's, the output's pitch followed sample's at 0.72,
# expressive_34s' at 0.97; at 1.2, 0.90 and 1.17.
FLAT_PICTURE_GAIN = 1.2
MIN_AREA_CHANGE = 0.05  # a grid cell squeezed below this (or turned inside out) is a fold
MIN_LID_GAP = 0.02  # the closest a carried upper lid comes to the lower one, in inter-ocular distances
# A carried brow point rises at most this share of its drawn height above the upper lid, past the
# lid's own rise. Brows read whole and amplified twice rose 16 pixels over a lid that rose one; the
# spline overshot just above the lid and folded, and the fold guard halved the carry on 2.7% of
# expressive_34s' frames; at 0.6, 1.4%, with browInnerUp followed at 1.04 as before (one bound for
# the whole brow, from its mean height, needed 0.45 for as few folds: browInnerUp 0.92).
MAX_BROW_RISE = 0.6
MOUTH_SHUT = 0.02  # a mouth opening (inner-lip gap over eye distance) below this shows no inside
MOUTH_SHADE_STRENGTH = 0.85  # how dark a wholly carried opening's inside gets
MOUTH_SHADE_SOFTNESS = 2.0  # the shade's edge blur, in pixels of a 256-pixel face
# Drawn lips and lids that the carry opens are this far apart in the spline's source (inter-ocular
# distances), or as far as the carry opens them if less. A mouth drawn shut and carried open asked
# a spline through two points a tenth of a pixel apart to pull them ten apart: it overshot and
# folded, and the fold guard dropped the carry for a grin's first six frames on expressions_7s
# (the output kept shut lips while he grinned). At 0.03 five frames were still cut by half, at 0.08
# two, and the output's smile follows his at 0.86 (r 0.97) instead of 0.79 (r 0.93).
MIN_SOURCE_GAP = 0.08
_GAPS = ((topology.INNER_LIP_UPPER, topology.INNER_LIP_LOWER),
         (topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER), (topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER))


@dataclass(frozen=True)
class FaceWarp:
    """The drawn face's move: ``cv2.remap`` maps, and the mouth's shade (None: nothing to fill).

    The shade weighs the mouth's box alone, whose top-left corner is ``shade_at`` (x, y), towards
    ``mouth_fill`` (the target's own inside, :mod:`realtime.mouth_inside`; None: a dark colour):
    the blend then costs a few hundredths of a millisecond instead of one.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    mouth_shade: np.ndarray | None = None
    shade_at: tuple[int, int] = (0, 0)
    mouth_fill: np.ndarray | None = None
    moved: np.ndarray | None = None  # where the drawn face's points (478, 3) go, before the in-plane motion

    def apply(self, face: np.ndarray) -> np.ndarray:
        """The face moved, and the inside of a carried mouth opening filled."""
        moved = cv2.remap(face, self.map_x, self.map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.mouth_shade is not None:
            (left, top), (height, width) = self.shade_at, self.mouth_shade.shape
            box = moved[top:top + height, left:left + width]
            weight = self.mouth_shade[..., None]
            fill = np.float32(DARK) if self.mouth_fill is None else self.mouth_fill
            box[:] = (box * (1.0 - weight) + fill * weight).astype(np.uint8)
        return moved


@dataclass(frozen=True)
class MotionOptions:
    """How much of the driver's head turn and expression the drawn face is moved by."""

    pose_gain: float = 1.0  # 0 keeps the head frontal
    expression_gain: float = 1.0  # 0 draws only the expressions the target showed
    max_yaw: float = 25.0  # degrees; beyond, the head is held at the bound
    max_pitch: float = 20.0
    # The most a point moves past the drawn face, in inter-ocular distances. At 0.2 a grin's
    # corners stopped short: expressions_7s' smile followed at 0.39; at 0.4, 0.76, with no tear
    # on any shared driver's sheet and the fold guard no busier (2.1% of expressive_34s' frames).
    max_carry: float = 0.4
    # MediaPipe's mesh moves the brows far less than a frown or a raise moves the face (a frown
    # it reads as browDown 0.5 lowers the mesh's brows by 0.02 of the eye distance), so their
    # motion is amplified this much before it is carried.
    brow_gain: float = 2.0
    # The same for the lids, which are only ever opened (eyes wide) by it, never closed: the
    # generator draws blinks, and lids pushed through each other would fold the warp. 0: lids
    # not moved. Not amplified: at 2, expressive_34s' wide eyes stretched the iris under the
    # lifted lids into a tall slit, and MediaPipe read eyeWide at only 0.25 of hers (now 0.13).
    eye_gain: float = 1.0

    def __post_init__(self):
        require(0.0 <= self.pose_gain <= 2.0, f"--pose-gain {self.pose_gain}", "0 (frontal) to 2")
        require(0.0 <= self.expression_gain <= 2.0, f"--expression-gain {self.expression_gain}", "0 to 2")
        require(0.0 <= self.max_yaw <= 45.0 and 0.0 <= self.max_pitch <= 45.0,
                f"head bounds {self.max_yaw}/{self.max_pitch} degrees", "0 to 45")
        require(0.0 <= self.max_carry <= 0.5, f"max_carry {self.max_carry}", "0 to 0.5 inter-ocular distances")
        require(0.0 <= self.brow_gain <= 4.0 and 0.0 <= self.eye_gain <= 4.0,
                f"region gains brow {self.brow_gain}, eye {self.eye_gain}", "0 to 4")


class HeadPose:
    """The driver's head rotation since calibration, and their aligned landmarks with it taken out.

    The neutral is calibrated as retargeting's is (:class:`realtime.retarget.Calibration`), for
    the aligned points and for the head's rotation. The rotation is MediaPipe's own
    (:func:`models.head_pose.facial_pose`: its geometry pipeline, perspective and all, on the
    frame's points), so the target's head turns and nods as much as MediaPipe reads the
    driver's. Fitted on the aligned points instead, without the perspective, a nod read 0.90
    of MediaPipe's on ``sample`` and 1.21 on ``expressive_34s``; so, 0.97-1.00 on every
    shared driver. The expression is taken out by the turn of the rigid points, so a jaw's
    drop stays an expression and is not turned away.
    """

    def __init__(self, calibrate_frames: int = 30):
        self._calibration = Calibration(calibrate_frames)
        self._rotation = Calibration(calibrate_frames)

    @property
    def neutral(self) -> np.ndarray | None:
        return self._calibration.neutral

    def recalibrate(self) -> None:
        self._calibration.recalibrate()
        self._rotation.recalibrate()

    def __call__(self, driver_aligned: np.ndarray, frame_points: np.ndarray,
                 frame_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The rotation since calibration (3, 3), and the driver's aligned points turned back by it (478, 3).

        ``frame_points``: the same landmarks in the pixels of the frame, whose (width, height) is
        ``frame_size``.
        """
        points = np.asarray(driver_aligned, np.float64)
        now = facial_pose(frame_points, *frame_size)
        self._calibration.feed(points)
        self._rotation.feed(now)
        if self.neutral is None:
            return np.eye(3), points
        rigid = list(RIGID_POINTS)
        skull, scale = fit_rotation(self.neutral[rigid], points[rigid])
        centre, neutral_centre = points[rigid].mean(0), self.neutral[rigid].mean(0)
        frontal = (points - centre) @ skull / max(scale, 1e-6) + neutral_centre  # skull.T applied to each row
        u, _, vt = np.linalg.svd(self._rotation.neutral)  # the median of rotations, made one again
        return now @ (u @ vt).T, frontal


def _parted(drawn: np.ndarray, moved: np.ndarray) -> np.ndarray:
    """The drawn points with shut lips and lids that ``moved`` opens parted, up to :data:`MIN_SOURCE_GAP`.

    The spline then stretches a thin band around the lip line into a carried opening (which the
    mouth's inside then fills) instead of a line of no width, which folds. Lips that stay shut
    stay shut: parted in the source only, they would be squeezed to nothing.
    """
    parted = drawn.copy()
    iod = topology.inter_ocular(drawn)
    for upper, lower in _GAPS:
        gap = drawn[lower, 1] - drawn[upper, 1]
        short = min(MIN_SOURCE_GAP * iod, moved[lower, 1] - moved[upper, 1]) - gap
        if short > 0.0:
            parted[upper, 1] -= short / 2
            parted[lower, 1] += short / 2
    return parted


def _control_points(drawn: np.ndarray, moved: np.ndarray) -> list[int]:
    """:data:`CONTROL_POINTS`, and the folds above the lids of each eye whose brow rises while its lid does not close.

    Left to the spline, a raised brow stretched the lid the generator drew most (2.1 times, the
    skin above it 1.4 times, for a brow at its bound), and its shading became a dark band over
    the eye: a black eye under ``expressive_34s``' raised brows. Held where the skin's even
    stretch puts it (:meth:`MotionTransfer.destination`), the fold keeps the lid's size. Under a
    blink or a frown the spline alone did well: with a fold held there too, MediaPipe read the
    glasses driver's one blink at 0.57 of his instead of 0.62, though the frames look alike.
    Motion is counted from the eye's corners, so a nod alone brings no fold in.
    """
    control = list(CONTROL_POINTS)
    for lid, fold, brow, corners in _ABOVE_EYES:
        eye = (moved[corners, 1] - drawn[corners, 1]).mean()
        rises = (moved[brow, 1] - drawn[brow, 1]).mean() < eye
        if rises and moved[lid, 1] - drawn[lid, 1] <= eye:
            control += fold
    return control


class MotionTransfer:
    """Where the drawn face's control points go, and the warp maps that take them there."""

    def __init__(self, size: int, target_neutral: np.ndarray, options: MotionOptions = MotionOptions(),
                 calibrate_frames: int = 30, inside: MouthInside | None = None):
        self.size = size
        self.inside = inside  # what fills a carried mouth opening (None: a dark colour)
        self.target_neutral = np.asarray(target_neutral, np.float64)
        self.options = options
        self.pose = HeadPose(calibrate_frames)
        self.turn = np.eye(3)  # this frame's head rotation since calibration
        self.scales = (1.0, 1.0)  # the pose and expression gains' multipliers now (the window's p and e keys)
        self.frames = self.fallbacks = 0  # warps made, and those whose carry was cut so as not to fold
        self._amplify = np.ones(LANDMARK_COUNT)  # of each point's deviation from the target's neutral
        self._amplify[list(_BROWS)] = options.brow_gain
        self._amplify[list(_LIDS)] = options.eye_gain
        self._carried = np.full(LANDMARK_COUNT, float(options.expression_gain))
        self._carried[list(_STILL)] = 0.0
        if options.eye_gain == 0.0:
            self._carried[list(_LIDS)] = 0.0
        edge = np.linspace(0.0, size - 1.0, _BORDER_POINTS + 1)[:-1]
        last = size - 1.0
        self._border = np.concatenate([np.column_stack([edge, np.zeros_like(edge)]),
                                       np.column_stack([np.full_like(edge, last), edge]),
                                       np.column_stack([last - edge, np.full_like(edge, last)]),
                                       np.column_stack([np.zeros_like(edge), last - edge])])

    def recalibrate(self) -> None:
        self.pose.recalibrate()

    def frontalise(self, driver_aligned: np.ndarray, frame_points: np.ndarray,
                   frame_size: tuple[int, int]) -> np.ndarray:
        """The driver's aligned points with the head turn since calibration taken out (see :class:`HeadPose`)."""
        self.turn, frontal = self.pose(driver_aligned, frame_points, frame_size)
        return frontal.astype(np.float32)

    def head_angles(self) -> tuple[float, float]:
        """Yaw and pitch (degrees) the face is turned by: the driver's, times the gain, bounded."""
        yaw, pitch, _ = angles(self.turn)
        o, gain = self.options, self.options.pose_gain * self.scales[0] * FLAT_PICTURE_GAIN
        return (float(np.clip(yaw * gain, -o.max_yaw, o.max_yaw)),
                float(np.clip(pitch * gain, -o.max_pitch, o.max_pitch)))

    def destination(self, drawn: np.ndarray, wanted: np.ndarray, carried: float = 1.0) -> np.ndarray:
        """Where each point of the drawn face (478, 3) goes: expression carried (times ``carried``), head turned."""
        drawn = np.asarray(drawn, np.float64)
        moved = drawn.copy()
        neutral, wanted = self.target_neutral[:, :2], np.asarray(wanted, np.float64)
        amplified = neutral + self._amplify[:, None] * (wanted[:, :2] - neutral)
        gains = self._carried[:, None] * self.scales[1] * carried
        carry = (amplified - drawn[:, :2]) * gains
        upper, lower = list(_UPPER_LIDS), list(_LOWER_LIDS)
        # An upper lid opens by the amplified motion (eyes wide) and closes by the driver's own,
        # not amplified (a blink the generator drew half-shut), never nearer the lower lid than
        # MIN_LID_GAP; a lower lid only opens.
        closing = np.maximum((wanted[upper, 1] - drawn[upper, 1]) * gains[upper, 0], 0.0)
        carry[upper, 1] = np.where(carry[upper, 1] < 0.0, carry[upper, 1], closing)
        carry[lower, 1] = np.maximum(carry[lower, 1], 0.0)
        carry[list(_LIDS), 0] = 0.0
        lowest = drawn[lower, 1] + carry[lower, 1] - MIN_LID_GAP * topology.inter_ocular(drawn)
        carry[upper, 1] = np.minimum(carry[upper, 1], np.maximum(lowest - drawn[upper, 1], 0.0))
        for lid, fold, brow, _ in _ABOVE_EYES:
            # A brow's rise bounded (a frown, downwards, is left alone).
            most = MAX_BROW_RISE * np.maximum(drawn[lid, 1] - drawn[brow, 1], 0.0)
            carry[brow, 1] = np.maximum(carry[brow, 1], min(carry[lid, 1], 0.0) - most)
            # The fold moves with the lid and with the brow, each by its nearness (by height), as if
            # the skin between them stretched evenly (where it is a control point: _control_points).
            share = (drawn[lid, 1] - drawn[fold, 1]) / np.maximum(drawn[lid, 1] - drawn[brow, 1], 1e-6)
            carry[fold, 0] = 0.0
            carry[fold, 1] = carry[lid, 1] + np.clip(share, 0.0, 1.0) * (carry[brow, 1] - carry[lid, 1])
        limit = self.options.max_carry * topology.inter_ocular(drawn)
        length = np.linalg.norm(carry, axis=1, keepdims=True)
        carry *= np.minimum(1.0, limit / np.maximum(length, 1e-9))
        moved[:, :2] += carry
        yaw, pitch = self.head_angles()
        if yaw == 0.0 and pitch == 0.0:
            return moved
        centre = drawn[list(RIGID_POINTS)].mean(0)
        turn = rotation(yaw, pitch).T
        turned = (moved - centre) @ turn + centre
        # Re-scaled and re-centred on the stable points, as the driver's own turned face is in its
        # crop (fitted to the turn alone, so the carried expression stays where it is). Not
        # re-rotated: that left the output's roll at 0.73 of the driver's on expressive_34s, as
        # MediaPipe reads it, against 0.87 without (and 0.94 against 0.98 on sample).
        stable = list(topology.STABLE_POINTS)
        turned_stable = ((drawn[stable] - centre) @ turn + centre)[:, :2]
        scale = float(np.sqrt(abs(np.linalg.det(umeyama_similarity(turned_stable, drawn[stable, :2])[:, :2]))))
        turned[:, :2] = (turned[:, :2] - turned_stable.mean(0)) * scale + drawn[stable, :2].mean(0)
        return turned

    def warp(self, drawn: np.ndarray, wanted: np.ndarray, after: np.ndarray | None = None) -> FaceWarp | None:
        """How to move the face drawn at ``drawn``: to :meth:`destination`, then ``after``.

        The maps take the face there. Where the carried expression opens the mouth wider than
        the generator drew it, the stretched inside of the drawn mouth is a pale smear, so
        ``mouth_shade`` darkens it towards a mouth's inside, by the share of the opening that
        was carried.

        A warp that would fold the picture over itself (a cell of the grid squeezed to nothing
        or turned inside out: lips or lids pushed through each other) is a torn face, so the
        carried expression is halved, then dropped, until it does not; ``fallbacks`` counts them.
        None (the face is then only moved in the plane) where the points admit no spline at all.
        """
        drawn = np.asarray(drawn, np.float64)
        moved, coarse = self._fold_free(drawn, wanted, after)
        if coarse is None:
            return None
        map_x, map_y = dense_maps(coarse, (self.size, self.size))
        return FaceWarp(map_x, map_y, *self._mouth_shade(drawn, moved, after), moved=moved)

    def _mouth_shade(self, drawn: np.ndarray, moved: np.ndarray, after: np.ndarray | None
                     ) -> tuple[np.ndarray | None, tuple[int, int], np.ndarray | None]:
        """Weights of the mouth's inside where the carry opened it (None where it did not), their box's
        corner, and what to fill it with (None: the dark colour)."""
        opened, shown = topology.mouth_opening(moved), max(topology.mouth_opening(drawn), MOUTH_SHUT)
        if opened <= shown:
            return None, (0, 0), None
        placed = moved[:, :2]  # where the points land in the picture sent on, in-plane motion included
        if after is not None:
            placed = placed @ np.asarray(after)[:, :2].T + np.asarray(after)[:, 2]
        inner = placed[list(topology.LIPS_INNER)]
        softness = MOUTH_SHADE_SOFTNESS * self.size / 256
        margin = int(np.ceil(3 * softness)) + 1
        left, top = np.clip(np.floor(inner.min(0)).astype(int) - margin, 0, self.size - 1)
        right, bottom = np.clip(np.ceil(inner.max(0)).astype(int) + margin + 1, 1, self.size)
        if right <= left or bottom <= top:
            return None, (0, 0), None
        shade = inner_mouth_mask((bottom - top, right - left), inner - (left, top), softness)
        fill = None
        if self.inside is not None:
            fill = self.inside.fill(placed, int(left), int(top), int(right - left), int(bottom - top))
        return shade * np.float32(MOUTH_SHADE_STRENGTH * (opened - shown) / opened), (int(left), int(top)), fill

    def _fold_free(self, drawn: np.ndarray, wanted: np.ndarray,
                   after: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
        """The moved points and the coarse map of the first carry (whole, half, none) that does not fold."""
        oval = list(topology.FACE_OVAL)
        centre = drawn[oval, :2].mean(0)
        ring = centre + RING_SCALE * (drawn[oval, :2] - centre)
        # Ring points near or past the crop's edge would pull against the edge's fixed points.
        inside = np.all((ring > _RING_CLEARANCE) & (ring < self.size - 1 - _RING_CLEARANCE), axis=1)
        size = (self.size, self.size)
        for carried in (1.0, 0.5, 0.0):
            with np.errstate(all="ignore"):
                moved = self.destination(drawn, wanted, carried)
            control = _control_points(drawn, moved)
            source = np.concatenate([_parted(drawn, moved)[control, :2], ring[inside], self._border])
            ring_moved = ring + RING_FOLLOW * (moved[oval, :2] - drawn[oval, :2])
            destination = np.concatenate([moved[control, :2], ring_moved[inside], self._border])
            try:
                with np.errstate(all="ignore"):
                    coarse = coarse_map(source, destination, size, after)
            except np.linalg.LinAlgError:
                coarse = None
            if coarse is None or not np.isfinite(coarse).all():  # points on one spot or one line: no face
                coarse = None
                break
            if area_change(coarse).min() > MIN_AREA_CHANGE:
                break
        self.frames += 1
        self.fallbacks += coarse is None or carried < 1.0
        return moved, coarse
