"""Retargeting: the driver's expression on the target's face, in aligned-crop coordinates.

After calibration (the median of the driver's first frames, taken as their neutral face),
each frame's deviation from that neutral is scaled per region (eyes by eye width, lips by
mouth width, the rest by the inter-ocular distance) and added to the target's neutral
landmarks from the model's metadata: the target keeps its own face shape and takes the
driver's expression and out-of-plane head motion.

A target's footage spans only the expressions it happened to show, so raw deviations
would ask the generator for faces it never saw. Each measure that the metadata gives a
range for (mouth opening, eye opening, brow raise) is therefore mapped from the driver's
range onto the target's, clamped at the target's extremes, and the landmarks are moved
vertically until the measure says so (steered by a signed gap, so lips pushed through each
other read as crossed, not open). The driver's range starts as the target's span around
the driver's neutral, for the mouth from shut lips, and widens to whatever the driver shows
(its calibration frames included), so a driver's widest mouth maps to the target's widest.

Last, the face is clamped into the target's shape space (:mod:`models.shape_space`, where
the model carries one): a driver who turns their head or opens their mouth wider than the
target ever did gets the nearest face the target showed, never a sketch the generator
cannot draw. The clamp also moves the lids and lips, so afterwards the lids take back
their mapped opening and the lips may only close towards theirs. Calibration starts with
the first frame and is refined with every frame
until ``calibrate_frames`` are seen, so the calibration phase shows the target's face too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from models import face_topology as topology
from models.expression import brow_raise
from models.options import require
from models.shape_space import ShapeSpace

_MAX_MOTION_SCALE = 4.0  # a driver's small motion is amplified at most this much
_LIPS = tuple(sorted(set(topology.LIPS_OUTER + topology.LIPS_INNER)))
_RIGHT_EYE_REGION = topology.RIGHT_EYE + topology.RIGHT_BROW + (topology.RIGHT_IRIS_CENTER,) + topology.RIGHT_IRIS
_LEFT_EYE_REGION = topology.LEFT_EYE + topology.LEFT_BROW + (topology.LEFT_IRIS_CENTER,) + topology.LEFT_IRIS


@dataclass(frozen=True)
class RetargetOptions:
    """``calibrate_frames`` driver frames make the neutral face; 0 turns retargeting off."""

    calibrate_frames: int = 30
    map_ranges: bool = True  # map expression measures onto the target's observed ranges
    clamp_shape: bool = True  # keep the face inside the target's shape space, where the model has one
    restore_openings: bool = True  # after the clamp, the lids' and lips' mapped openings (within limits)

    def __post_init__(self):
        require(self.calibrate_frames >= 0, f"--calibrate {self.calibrate_frames}", "0 (off) or more frames")


@dataclass(frozen=True)
class _Measure:
    """An expression measure and how to move landmarks to change it.

    Moving every point ``i`` by ``direction * weights[i] * d`` pixels along y changes the
    measure by ``d / inter_ocular`` (weights are 1 at the points the measure reads).
    """

    name: str
    measure: Callable[[np.ndarray], float]
    weights: np.ndarray  # (478,)
    direction: float  # +1: the measure grows as points move down the image
    scale_first: bool = False  # first scale the driver's own motion of these points
    # The measure with a sign, which the moves steer by: deviations added to the target's
    # neutral can cross its lips or lids, and an unsigned gap reads crossed lips as open.
    signed: Callable[[np.ndarray], float] | None = None
    # Every face's measure reads about the same at one end (shut lips: 0), so the driver's
    # range starts there, whatever the driver's neutral was.
    shared_low: bool = False

    def steer(self, points: np.ndarray) -> float:
        return (self.signed or self.measure)(points)


def _mouth_weights(neutral: np.ndarray) -> np.ndarray:
    """How far each point moves as the jaw drops: 1 at the lower lip and chin, 0 above the mouth.

    The weight falls off sideways from the mouth corners to the face's edge, the way a jaw
    hinges, so the oval widens naturally instead of shearing.
    """
    x, y = neutral[:, 0], neutral[:, 1]
    right, left = topology.MOUTH_RIGHT, topology.MOUTH_LEFT
    centre_x = (x[right] + x[left]) / 2
    half_mouth = abs(x[left] - x[right]) / 2
    half_face = max(abs(x[topology.FACE_LEFT_EDGE] - x[topology.FACE_RIGHT_EDGE]) / 2, half_mouth + 1.0)
    mouth_line = y[topology.INNER_LIP_UPPER]
    lower_lip = max(y[topology.OUTER_LIP_LOWER], mouth_line + 1.0)
    vertical = np.clip((y - mouth_line) / (lower_lip - mouth_line), 0.0, 1.0)
    sideways = np.clip(1.0 - (np.abs(x - centre_x) - half_mouth) / (half_face - half_mouth), 0.0, 1.0)
    weights = vertical * sideways
    weights[list(topology.LOWER_LIP)] = 1.0
    weights[list(topology.UPPER_LIP)] = 0.0
    weights[list(topology.MOUTH_CORNERS)] = 0.5
    return weights


def _lid_weights(neutral: np.ndarray) -> np.ndarray:
    """Upper lids move most in their middle: a parabola across each eye, 1 at the measured point."""
    weights = np.zeros(len(neutral))
    for lid, outer, inner, measured in (
            (topology.RIGHT_UPPER_LID, topology.RIGHT_EYE_OUTER, topology.RIGHT_EYE_INNER, topology.RIGHT_EYE_UPPER),
            (topology.LEFT_UPPER_LID, topology.LEFT_EYE_OUTER, topology.LEFT_EYE_INNER, topology.LEFT_EYE_UPPER)):
        centre = (neutral[outer, 0] + neutral[inner, 0]) / 2
        half_width = max(abs(neutral[outer, 0] - neutral[inner, 0]) / 2, 1.0)
        shape = np.clip(1.0 - ((neutral[list(lid), 0] - centre) / half_width) ** 2, 0.0, 1.0)
        at_measured = max(1.0 - ((neutral[measured, 0] - centre) / half_width) ** 2, 0.1)
        weights[list(lid)] = shape / at_measured
    return weights


def _brow_weights(neutral: np.ndarray) -> np.ndarray:
    weights = np.zeros(len(neutral))
    weights[list(topology.RIGHT_BROW + topology.LEFT_BROW)] = 1.0
    return weights


def _measures(target_neutral: np.ndarray) -> list[_Measure]:
    # Eyes before brows (brow raise is read from the upper lid), mouth last.
    return [
        _Measure("eye_open", topology.eye_opening, _lid_weights(target_neutral), -1.0,
                 signed=topology.signed_eye_opening),
        _Measure("brow_raise", brow_raise, _brow_weights(target_neutral), -1.0),
        _Measure("mouth_open", topology.mouth_opening, _mouth_weights(target_neutral), +1.0, scale_first=True,
                 signed=topology.signed_mouth_opening, shared_low=True),
    ]


class _RangeMap:
    """Maps a driver's measure onto the target's range; the driver's range widens as it is seen."""

    def __init__(self, driver_neutral: float, target_neutral: float, target_range, seen=(),
                 shared_low: bool = False):
        self.target_low, self.target_high = float(min(target_range)), float(max(target_range))
        # Until the driver shows more, assume the target's span around the driver's neutral,
        # widened to what the driver has ``seen`` (its calibration frames): a driver who
        # talks while calibrating has a half-open neutral, and its closed mouth is below it.
        self.driver_low = min([driver_neutral + (self.target_low - target_neutral), *seen])
        # A measure every face shares one end of (shut lips) spans the target's span from that
        # end: counted from a half-open neutral, the glasses driver's widest mouth mapped onto
        # 0.55 of s1's widest, and his output's jawOpen moved 0.38 as much as his.
        start = self.driver_low if shared_low else driver_neutral + (self.target_low - target_neutral)
        self.driver_high = max([start + (self.target_high - self.target_low), *seen])
        if self.driver_high - self.driver_low < 1e-6:
            self.driver_high = self.driver_low + 1e-6

    def __call__(self, driver_value: float) -> float:
        self.driver_low = min(self.driver_low, driver_value)
        self.driver_high = max(self.driver_high, driver_value)
        fraction = (driver_value - self.driver_low) / (self.driver_high - self.driver_low)
        return self.target_low + float(np.clip(fraction, 0.0, 1.0)) * (self.target_high - self.target_low)


def _width(points: np.ndarray, first: int, second: int) -> float:
    return float(np.linalg.norm(points[first, :2] - points[second, :2]))


class Calibration:
    """A driver's neutral: the median of the first ``frames`` values fed.

    Until ``frames`` are seen, the median of those seen so far is used meanwhile (the first
    value alone, at first), so nothing waits for a neutral. ``recalibrate`` collects a new
    one, and the old one stays in use until the new one is complete.
    """

    def __init__(self, frames: int):
        self.frames = frames
        self.collecting = frames > 0
        self.neutral: np.ndarray | None = None
        self.provisional = False  # the neutral so far is from fewer than ``frames`` values
        self._collected: list[np.ndarray] = []

    def recalibrate(self) -> None:
        if self.frames > 0:
            self._collected, self.collecting = [], True

    def feed(self, value: np.ndarray) -> list[np.ndarray] | None:
        """Collect ``value`` while calibrating; the values the neutral was just taken from, None if it stayed."""
        if not self.collecting:
            return None
        self._collected.append(np.asarray(value, np.float64))
        complete = len(self._collected) >= self.frames
        seen = None
        if complete or self.neutral is None or self.provisional:
            seen = self._collected
            self.neutral = np.median(np.stack(seen), axis=0)
            self.provisional = not complete
        if complete:
            self._collected, self.collecting = [], False
        return seen


class Retargeter:
    """Turns the driver's aligned landmarks into the target's, frame by frame.

    ``target_neutral`` is (478, 3) in aligned-crop pixels (the model's metadata),
    ``expression_ranges`` maps measure names to the target's [low, high], and ``shapes``
    is the target's shape space (None: no clamp).
    """

    def __init__(self, target_neutral: np.ndarray, expression_ranges: dict,
                 options: RetargetOptions = RetargetOptions(), shapes: ShapeSpace | None = None):
        target_neutral = np.asarray(target_neutral, np.float64)
        if target_neutral.shape != (478, 3):
            raise ValueError(f"got target neutral landmarks of shape {target_neutral.shape}, expected (478, 3)")
        self.options = options
        self.shapes = shapes if options.clamp_shape else None
        self.target_neutral = target_neutral
        mapped = set(expression_ranges) if options.map_ranges else set()
        self._measures = [m for m in _measures(target_neutral) if m.name in mapped]
        self._target_ranges = {name: expression_ranges[name] for name in mapped}
        self._calibration = Calibration(options.calibrate_frames)
        self.driver_neutral: np.ndarray | None = None
        self._scales: np.ndarray | None = None
        self._range_maps: dict[str, _RangeMap] = {}

    @classmethod
    def for_model(cls, metadata, options: RetargetOptions = RetargetOptions()) -> "Retargeter":
        """The retargeter for a generator's metadata: its neutral face, ranges and shape space."""
        return cls(metadata.neutral, metadata.expression_ranges, options, metadata.target_shapes())

    @property
    def calibrated(self) -> bool:
        """Whether a neutral from all ``calibrate_frames`` frames is in use."""
        return self.driver_neutral is not None and not self._calibration.provisional

    @property
    def calibrating(self) -> bool:
        return self._calibration.collecting

    def recalibrate(self) -> None:
        """Collect a fresh neutral from the next frames (the window's ``c`` key).

        The old calibration stays in use until the new one is complete.
        """
        self._calibration.recalibrate()

    def calibrate(self, driver_neutral: np.ndarray, seen: Sequence[np.ndarray] = ()) -> None:
        """Take ``driver_neutral`` (aligned, (478, 3)) as the driver's neutral face now.

        ``seen``: the driver's faces it was taken from, whose measures widen the driver's ranges.
        """
        neutral = np.asarray(driver_neutral, np.float64)
        self.driver_neutral = neutral
        self._scales = self._region_scales(neutral)
        self._range_maps = {}
        for m in self._measures:
            target_range = self._target_ranges[m.name]
            shown = [m.measure(face) for face in seen] + ([min(target_range)] if m.shared_low else [])
            self._range_maps[m.name] = _RangeMap(m.measure(neutral), m.measure(self.target_neutral),
                                                 target_range, shown, m.shared_low)

    def observe(self, driver_points: np.ndarray) -> None:
        """Feed a calibration frame; the neutral is set once enough frames are seen.

        Before the first calibration completes, the median of the frames seen so far is
        used meanwhile (the first frame alone, at first), so no frame is drawn uncalibrated.
        A recalibration keeps the old neutral until the new one is complete.
        """
        seen = self._calibration.feed(driver_points)
        if seen is not None:
            self.calibrate(self._calibration.neutral, seen)

    def __call__(self, driver_points: np.ndarray) -> np.ndarray:
        """The target's aligned landmarks (478, 3) for the driver's aligned landmarks."""
        return self.retarget(driver_points)[0]

    def retarget(self, driver_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The face to draw (478, 3), and the one the driver's expression asks for, unclamped.

        The second is the driver's deviation from their neutral added to the target's
        neutral, with each mapped measure (mouth, eyes, brows) at its mapped value or at the
        raw deviation's, whichever lies farther from the target's neutral: a driver who opens
        the mouth less than the target did keeps the mapped, fuller opening, and one who opens
        it wider than the target ever did asks for the wider one. Nothing bounds it: it is what
        :mod:`realtime.motion_transfer` warps the drawn face towards, within its own bounds.
        """
        driver = np.asarray(driver_points, np.float64)
        self.observe(driver)
        if self.driver_neutral is None:
            points = driver.astype(np.float32)  # not calibrated: the driver's own face
            return points, points
        points = self.target_neutral + self._scales[:, None] * (driver - self.driver_neutral)
        asked = points.copy()
        wanted = {}
        for measure in self._measures:
            wanted[measure.name] = self._range_maps[measure.name](measure.measure(driver))
            if measure.scale_first:
                self._scale_to(points, self.target_neutral, measure, wanted[measure.name])
            self._move_to(points, measure, wanted[measure.name])
        self._farther(asked, wanted)
        if self.shapes is not None:
            points = self.shapes.clamp(points)
            if self.options.restore_openings:
                self._restore_openings(points, wanted)
        return points.astype(np.float32), asked.astype(np.float32)

    def widest_mouth(self) -> np.ndarray:
        """The target's neutral face (478, 3) with the mouth as wide open as the target showed, clamped.

        What the generator draws for it is the target's own open mouth, teeth and all
        (:mod:`realtime.mouth_inside`).
        """
        points = self.target_neutral.copy()
        for measure in self._measures:
            if measure.name == "mouth_open":
                self._move_to(points, measure, max(self._target_ranges["mouth_open"]))
        if self.shapes is not None:
            points = self.shapes.clamp(points)
        return points.astype(np.float32)

    def _farther(self, raw: np.ndarray, mapped: dict) -> None:
        """Move each measure of ``raw`` (in place) to its ``mapped`` value where that lies farther from neutral.

        Lips and lids are never left crossed: a driver calibrated mid-sentence who then shuts
        the mouth has a raw deviation that pushes the lower lip through the upper one, and a
        warp towards that would fold the mouth over itself.
        """
        for measure in self._measures:
            neutral, now = measure.steer(self.target_neutral), measure.steer(raw)
            wanted = mapped[measure.name] if abs(mapped[measure.name] - neutral) > abs(now - neutral) else now
            if measure.signed is not None:
                wanted = max(wanted, min(self._target_ranges[measure.name]))
            if wanted != now:
                self._move_to(raw, measure, wanted)

    def _restore_openings(self, points: np.ndarray, wanted: dict) -> None:
        """Give the clamped face (in place) back the eye and mouth openings mapped for it.

        The clamp bounds each component on its own, and in the target's footage the lids
        and lips move together with the head, so clamping a turned head also half-closes
        wide eyes, and can cross the lips or leave them open. The lids take their mapped
        opening back (the brows stay where the clamp put them). The lips are only uncrossed
        (opened at most to the target's own shut gap) or closed towards their mapped
        opening where the clamp left them wider, never opened further: opened after the
        clamp, a mouth asks for lip shapes the target never made, and the generator draws
        a flat brown box.
        """
        for measure in self._measures:
            if measure.name == "eye_open":
                self._move_to(points, measure, wanted["eye_open"])
            elif measure.name == "mouth_open":
                now, mapped = measure.steer(points), wanted["mouth_open"]
                shut = min(mapped, measure.measure(self.target_neutral))
                if now < shut or now > mapped:
                    self._move_to(points, measure, shut if now < shut else mapped)

    def _region_scales(self, driver_neutral: np.ndarray) -> np.ndarray:
        """Per-point deviation scale: target size over driver size of the point's region."""
        target = self.target_neutral
        scales = np.full(len(target), topology.inter_ocular(target) / topology.inter_ocular(driver_neutral))
        for region, first, second in ((_LIPS, topology.MOUTH_RIGHT, topology.MOUTH_LEFT),
                                      (_RIGHT_EYE_REGION, topology.RIGHT_EYE_OUTER, topology.RIGHT_EYE_INNER),
                                      (_LEFT_EYE_REGION, topology.LEFT_EYE_OUTER, topology.LEFT_EYE_INNER)):
            scales[list(region)] = _width(target, first, second) / max(_width(driver_neutral, first, second), 1e-6)
        return scales

    @staticmethod
    def _scale_to(points: np.ndarray, neutral: np.ndarray, measure: _Measure, wanted: float) -> None:
        """Scale the points' vertical motion (in place) so that ``measure`` nears ``wanted``.

        Scaling the driver's own motion keeps its shape: an open mouth's lips stay apart
        at the corners, where one uniform shift of the lower lip would cross them.
        """
        deviation = points[:, 1] - neutral[:, 1]

        def scaled(factor: float) -> np.ndarray:
            moved = points.copy()
            moved[:, 1] = neutral[:, 1] + deviation * (1.0 + measure.weights * (factor - 1.0))
            return moved

        without, now = measure.steer(scaled(0.0)), measure.steer(points)
        if abs(now - without) > 1e-3:  # the driver moved these points: scale that motion
            factor = float(np.clip((wanted - without) / (now - without), 0.0, _MAX_MOTION_SCALE))
            points[:, 1] = scaled(factor)[:, 1]

    @staticmethod
    def _move_to(points: np.ndarray, measure: _Measure, wanted: float) -> None:
        """Shift points vertically (in place) until ``measure`` reads ``wanted``."""
        for _ in range(2):  # the measures are nearly linear in the shift: two steps converge
            error_px = (wanted - measure.steer(points)) * topology.inter_ocular(points)
            points[:, 1] += measure.direction * measure.weights * error_px


def _as_3x3(matrix: np.ndarray) -> np.ndarray:
    return np.vstack([matrix, [0.0, 0.0, 1.0]])


class HeadMotion:
    """The driver's in-plane head motion since calibration, as a warp of the generated face.

    Alignment takes roll, shift and scale out of the sketch (the generator only knows
    upright, centred faces), so they are put back afterwards: the warp maps the aligned
    face to where the driver's face now sits relative to where it sat while calibrating.
    It is clamped, so a driver leaving the frame does not drag the face out of the picture.
    """

    def __init__(self, size: int, calibrate_frames: int = 30, max_shift: float = 0.15,
                 scale_limits: tuple[float, float] = (0.8, 1.25)):
        self.size = size
        self.calibrate_frames = calibrate_frames
        self.max_shift = max_shift
        self.scale_limits = scale_limits
        self._collected: list[np.ndarray] = []
        self._collecting = calibrate_frames > 0
        self._neutral: np.ndarray | None = None  # (3, 3) frame -> neutral crop

    def recalibrate(self) -> None:
        """Collect a fresh neutral pose from the next frames; the old one stays until then."""
        if self.calibrate_frames > 0:
            self._collected, self._collecting = [], True

    def __call__(self, alignment_matrix: np.ndarray) -> np.ndarray | None:
        """The (2, 3) warp for this frame's alignment (frame -> crop); None before calibration."""
        if self._collecting:
            self._collected.append(np.asarray(alignment_matrix, np.float64))
            if len(self._collected) >= self.calibrate_frames:
                self._neutral = _as_3x3(np.median(np.stack(self._collected), axis=0))
                self._collected, self._collecting = [], False
        if self._neutral is None:
            return None
        # crop now -> frame -> crop at calibration
        relative = self._neutral @ np.linalg.inv(_as_3x3(np.asarray(alignment_matrix, np.float64)))
        return self._clamped(relative[:2])

    def _clamped(self, warp: np.ndarray) -> np.ndarray:
        scale = float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))
        rotation = warp[:, :2] / scale
        scale = float(np.clip(scale, *self.scale_limits))
        centre = np.full(2, self.size / 2.0)
        limit = self.max_shift * self.size
        shift = np.clip(warp[:, :2] @ centre + warp[:, 2] - centre, -limit, limit)
        linear = scale * rotation
        return np.hstack([linear, (centre + shift - linear @ centre)[:, None]])
