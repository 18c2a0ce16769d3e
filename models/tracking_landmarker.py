"""The face landmarker's own networks on LiteRT, tracking from frame to frame: the live loop's landmark stage.

MediaPipe's Tasks API runs ``face_landmarker.task`` as a graph we cannot tune: its networks
on one thread, and its whole graph every frame. The ``.task`` file is a zip of TFLite
networks, so this module runs two of them directly on LiteRT (XNNPACK, ``num_threads``)
and does in numpy what the graph does around them:

1. **Detector** (``face_detector.tflite``, BlazeFace short range, 128x128), only on the
   first frame and after the face was lost: the frame letterboxed into a square, 896 SSD
   anchors decoded, weighted non-maximum suppression, the best face kept. Its box, scaled
   by 1.5 and turned by the line between its two eye keypoints, is the first region.
2. **Landmarks** (``face_landmarks_detector.tflite``, 256x256): the region cut out, turned
   upright and stretched to 256x256; 478 points back in frame pixels, and a presence
   score that, below ``min_detection_confidence``, drops the face (the detector runs again
   on the next frame).
3. **Tracking**: the next frame's region is the box of these (unsmoothed) points, squared
   on its long side, scaled by 1.5 and turned by the eye line (landmarks 33 to 263). With
   ``redetect`` (the live loop's stage) the detector frames the face in every frame instead,
   as the Tasks API's image mode does (the most confident face near the tracked region, so a
   second face coming into the frame is not taken for it), and the tracked region is used
   only where it finds none: the landmark network reads a face differently in the two
   framings (see :func:`live_landmarker`).
4. **Smoothing** (``smooth=True``, the default): the returned points go through the One-Euro
   filter the Tasks API applies in video mode to a single face (min cutoff 0.05, beta 80, in
   units of the face's size), reset whenever no face is found. The live loop turns it off
   (:func:`live_landmarker`) and smooths with its own filter, per region.

Constants and formulas follow MediaPipe's graph (``face_landmarker_graph.cc``,
``face_detector_graph.cc``, ``face_landmarks_detector_graph.cc`` and the calculators they
configure), so the points agree with the Tasks API's (``tests/test_tracking_landmarker.py``
measures by how much). The blendshapes network and the facial transformation matrix are
not run: the live loop reads neither; ``prepare`` keeps the Tasks API.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass

import cv2
import numpy as np

from models.landmarker import LIVE_OPTIONS, FaceLandmarker, FaceLandmarks, LandmarkerOptions, VideoClock, check_frame
from models.landmarker_asset import landmarker_path
from models.native_logs import quiet_native_stderr
from models.options import require

DEFAULT_THREADS = 2
DETECTOR_SIZE = 128
LANDMARKS_SIZE = 256
ROI_SCALE = 1.5
NMS_IOU = 0.5
EYE_LINE = (33, 263)  # the tracking region's rotation: from the one eye's outer corner to the other's
SMOOTHING = {"min_cutoff": 0.05, "beta": 80.0, "derivate_cutoff": 1.0, "frequency": 30.0}


@dataclass(frozen=True)
class Region:
    """A turned rectangle in frame pixels: centre, size and rotation (radians, clockwise on screen)."""

    cx: float
    cy: float
    width: float
    height: float
    rotation: float


def _normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))


def _rotation(start: np.ndarray, end: np.ndarray) -> float:
    """The turn that makes the line from ``start`` to ``end`` (pixels) horizontal."""
    return _normalize_radians(-math.atan2(-(end[1] - start[1]), end[0] - start[0]))


def detector_anchors() -> np.ndarray:
    """The 896 anchor centres (x, y in [0, 1]) of BlazeFace short range: strides 8, 16, 16, 16."""
    anchors = []
    for stride, per_cell in ((8, 2), (16, 6)):  # the three stride-16 layers share one grid
        cells = DETECTOR_SIZE // stride
        for y in range(cells):
            for x in range(cells):
                anchors.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
    return np.asarray(anchors, np.float32)


def _weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray):
    """MediaPipe's weighted non-maximum suppression; boxes are (xmin, ymin, xmax, ymax)."""
    order = np.argsort(-scores, kind="stable")
    remaining = list(order)
    kept = []
    while remaining:
        top = remaining[0]
        x0 = np.maximum(boxes[top, 0], boxes[remaining, 0])
        y0 = np.maximum(boxes[top, 1], boxes[remaining, 1])
        x1 = np.minimum(boxes[top, 2], boxes[remaining, 2])
        y1 = np.minimum(boxes[top, 3], boxes[remaining, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        areas = (boxes[remaining, 2] - boxes[remaining, 0]) * (boxes[remaining, 3] - boxes[remaining, 1])
        area_top = (boxes[top, 2] - boxes[top, 0]) * (boxes[top, 3] - boxes[top, 1])
        iou = inter / np.maximum(area_top + areas - inter, 1e-12)
        group = [index for index, overlap in zip(remaining, iou) if overlap > NMS_IOU]
        weights = scores[group][:, None]
        kept.append(((boxes[group] * weights).sum(0) / weights.sum(),
                     (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum(), scores[top]))
        rest = [index for index, overlap in zip(remaining, iou) if overlap <= NMS_IOU]
        if len(rest) == len(remaining):
            break
        remaining = rest
    return kept


class _OneEuro:
    """The Tasks API's landmark smoothing: a One-Euro filter per coordinate, scaled by the face's size."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self._value = self._raw = self._derivative = None
        self._last_ns: int | None = None

    @staticmethod
    def _alpha(cutoff, frequency: float):
        tau = 1.0 / (2 * math.pi * cutoff)
        return 1.0 / (1.0 + tau * frequency)

    def __call__(self, points: np.ndarray, timestamp_ms: int) -> np.ndarray:
        now_ns = int(timestamp_ms) * 1_000_000
        scale = (np.ptp(points[:, 0]) + np.ptp(points[:, 1])) / 2
        if scale < 1e-6:
            return points
        if self._value is None:
            self._value = self._raw = points.astype(np.float64)
            self._derivative = np.zeros_like(self._value)
            self._last_ns = now_ns
            return points
        if self._last_ns >= now_ns:
            return points  # a clock that did not advance: passed through, as MediaPipe does
        frequency = SMOOTHING["frequency"] if self._last_ns == 0 else 1e9 / (now_ns - self._last_ns)
        self._last_ns = now_ns
        derivative = (points - self._raw) / scale * frequency
        a = self._alpha(SMOOTHING["derivate_cutoff"], frequency)
        self._derivative = a * derivative + (1 - a) * self._derivative
        cutoff = SMOOTHING["min_cutoff"] + SMOOTHING["beta"] * np.abs(self._derivative)
        a = self._alpha(cutoff, frequency)
        self._value = a * points + (1 - a) * self._value
        self._raw = points.astype(np.float64)
        return self._value.astype(np.float32)


def _sigmoid(value):
    return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(value, np.float64)))  # no overflow for large logits


def _write_input(interpreter, index: int, image_bgr: np.ndarray, scale: float, offset: float) -> None:
    """The BGR uint8 crop, as RGB ``pixel * scale + offset``, straight into the network's input tensor.

    Written in place and from a contiguous RGB copy: a fresh float array (``astype``) costs
    0.8 ms a 256x256 crop here and a product over reversed channels 0.4 ms; this, 0.06 ms.
    """
    tensor = interpreter.tensor(index)()[0]
    np.multiply(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB), np.float32(scale), out=tensor, dtype=np.float32)
    if offset:
        tensor += np.float32(offset)


def _interpreter(model: bytes, threads: int):
    from ai_edge_litert.interpreter import Interpreter

    with quiet_native_stderr():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
        interpreter = Interpreter(model_content=model, num_threads=threads)
        interpreter.allocate_tensors()
    return interpreter


class TrackingLandmarker:
    """Finds the face in each frame, tracking it from the last; ``None`` when there is none.

    The same interface as :class:`models.landmarker.FaceLandmarker` (``detect``, ``close``,
    a context manager) for one face in video mode; ``pose`` and ``blendshapes`` are never
    filled in.
    """

    def __init__(self, options: LandmarkerOptions = LIVE_OPTIONS, num_threads: int = DEFAULT_THREADS,
                 smooth: bool = True, redetect: bool = False):
        if num_threads < 1:
            raise ValueError(f"got num_threads {num_threads}, expected 1 or more")
        with zipfile.ZipFile(landmarker_path()) as task:
            self._detector = _interpreter(task.read("face_detector.tflite"), num_threads)
            self._landmarks = _interpreter(task.read("face_landmarks_detector.tflite"), num_threads)
        self.threshold = options.min_detection_confidence  # MediaPipe's Python API uses it for presence too
        self._anchors = detector_anchors()
        self._detector_in = self._detector.get_input_details()[0]["index"]
        outputs = {int(detail["shape"][-1]): detail["index"] for detail in self._detector.get_output_details()}
        self._detector_boxes, self._detector_scores = outputs[16], outputs[1]  # regressors, classificators
        self._landmarks_in = self._landmarks.get_input_details()[0]["index"]
        outputs = {detail["name"]: detail["index"] for detail in self._landmarks.get_output_details()}
        self._points_out, self._presence_out = outputs["Identity"], outputs["Identity_1"]
        self._smoother = _OneEuro() if smooth else None
        self._region: Region | None = None  # where to look in the next frame
        self._clock = VideoClock()
        self.redetect = redetect  # frame the face by the detector in every frame, tracking where it finds none
        self.detector_runs = 0  # how often the detector ran (once per face found, while tracking)
        self._open = True

    def __enter__(self) -> "TrackingLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._open = False

    def detect(self, image_bgr: np.ndarray, timestamp_ms: int | None = None) -> FaceLandmarks | None:
        """Landmarks of the tracked face in a BGR uint8 frame, or ``None``."""
        if not self._open:
            raise RuntimeError("TrackingLandmarker used after close()")
        check_frame(image_bgr)
        timestamp = self._clock.next(timestamp_ms)  # as the Tasks API's, for the smoothing
        region = self._detect_face(image_bgr, self._region) if self.redetect or self._region is None else None
        if region is None:
            region = self._region
        points = self._landmarks_in_region(image_bgr, region) if region is not None else None
        if points is None:
            self._region = None
            if self._smoother is not None:
                self._smoother.reset()
            return None
        self._region = self._next_region(points)
        if self._smoother is not None:
            points = self._smoother(points, timestamp)
        return FaceLandmarks(points=points, pose=None, blendshapes={})

    def points_near(self, image_bgr: np.ndarray, points: np.ndarray) -> np.ndarray | None:
        """(478, 3) landmarks of the face in ``image_bgr`` that lies about where ``points`` (478, 2+)
        do, or ``None``: the landmark network alone, in the region tracking would look in next;
        no detector, and the tracked face and its smoothing are left as they were."""
        if not self._open:
            raise RuntimeError("TrackingLandmarker used after close()")
        check_frame(image_bgr)
        return self._landmarks_in_region(image_bgr, self._next_region(points))

    # ------------------------------------------------------------------ the detector

    def _detect_face(self, image_bgr: np.ndarray, near: Region | None = None) -> Region | None:
        """The most confident face's region; with ``near`` (the tracked one), the most confident of those
        within half its width of it, or None (someone else in the frame is not taken for the face)."""
        self.detector_runs += 1
        height, width = image_bgr.shape[:2]
        side = max(width, height)
        k = DETECTOR_SIZE / side
        left, top = width / 2 - side / 2, height / 2 - side / 2
        to_tensor = np.array([[k, 0, -k * left], [0, k, -k * top]], np.float64)
        square = cv2.warpAffine(image_bgr, to_tensor, (DETECTOR_SIZE, DETECTOR_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        _write_input(self._detector, self._detector_in, square, 2 / 255, -1.0)  # [-1, 1]
        self._detector.invoke()
        raw = self._detector.get_tensor(self._detector_boxes)[0]
        scores = _sigmoid(np.clip(self._detector.get_tensor(self._detector_scores)[0, :, 0], -100, 100))
        found = (scores >= self.threshold) & (raw[:, 2] > 0) & (raw[:, 3] > 0)  # MediaPipe drops empty boxes too
        if not found.any():
            return None
        raw, scores, anchors = raw[found], scores[found], self._anchors[found]
        centres = raw[:, :2] / DETECTOR_SIZE + anchors
        sizes = raw[:, 2:4] / DETECTOR_SIZE
        boxes = np.hstack([centres - sizes / 2, centres + sizes / 2])
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) / DETECTOR_SIZE + anchors[:, None, :]
        regions = []
        for box, points, _ in _weighted_nms(boxes, keypoints, scores):  # the most confident first
            # From the letterboxed square back to frame pixels.
            (x0, y0), (x1, y1) = box.reshape(2, 2) * side + (left, top)
            eyes = points[:2] * side + (left, top)
            regions.append(Region((x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * ROI_SCALE, (y1 - y0) * ROI_SCALE,
                                  _rotation(eyes[0], eyes[1])))
        if near is not None:
            regions = [r for r in regions if math.hypot(r.cx - near.cx, r.cy - near.cy) <= near.width / 2]
        return regions[0] if regions else None

    # ------------------------------------------------------------------ the landmark network

    def _landmarks_in_region(self, image_bgr: np.ndarray, region: Region) -> np.ndarray | None:
        cos, sin = math.cos(region.rotation), math.sin(region.rotation)
        turn = np.array([[cos, -sin], [sin, cos]])
        # Crop pixel (u, v) samples the frame at centre + turn @ ((u/256 - 0.5) w, (v/256 - 0.5) h).
        linear = turn @ np.diag([region.width / LANDMARKS_SIZE, region.height / LANDMARKS_SIZE])
        offset = np.array([region.cx, region.cy]) - turn @ np.array([region.width / 2, region.height / 2])
        crop = cv2.warpAffine(image_bgr, np.hstack([linear, offset[:, None]]), (LANDMARKS_SIZE, LANDMARKS_SIZE),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        _write_input(self._landmarks, self._landmarks_in, crop, 1 / 255, 0.0)  # [0, 1]
        self._landmarks.invoke()
        presence = float(self._landmarks.get_tensor(self._presence_out).reshape(-1)[0])
        if _sigmoid(presence) <= self.threshold:
            return None
        raw = self._landmarks.get_tensor(self._points_out).reshape(-1, 3).astype(np.float64) / LANDMARKS_SIZE
        # MediaPipe turns the points in units of the region's sides, then scales: for a square
        # region (every tracked one) a plain rotation, and for the detector's first one its way.
        turned = (raw[:, :2] - 0.5) @ turn.T
        points = np.empty((len(raw), 3), np.float32)
        points[:, :2] = turned * (region.width, region.height) + (region.cx, region.cy)
        points[:, 2] = raw[:, 2] * region.width
        return points

    @staticmethod
    def _next_region(points: np.ndarray) -> Region:
        low, high = points[:, :2].min(axis=0), points[:, :2].max(axis=0)
        side = float(max(high - low)) * ROI_SCALE
        centre = (low + high) / 2
        return Region(float(centre[0]), float(centre[1]), side, side,
                      _rotation(points[EYE_LINE[0], :2], points[EYE_LINE[1], :2]))


# The 146 of the 478 points MediaPipe's blendshape network reads, and its 52 scores' names in its
# output order (``face_blendshapes_graph.cc``).
BLENDSHAPE_POINTS = (
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70, 78, 80,
    81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149, 150, 152, 153,
    154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195, 197, 234, 246, 249,
    251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300, 308, 310, 311, 312, 314,
    317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375, 377, 378, 379, 380, 381, 382,
    384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454, 466, 468, 469, 470, 471, 472, 473,
    474, 475, 476, 477)
BLENDSHAPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight",
    "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft", "mouthFrownRight", "mouthFunnel",
    "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight")


class BlendshapeNetwork:
    """MediaPipe's blendshape network on LiteRT: the Tasks API's 52 scores, from any face's 478 points.

    The Tasks API runs it on the points it found in a picture; run on points the loop made
    itself (a retargeted face, where the warp sends the drawn one), it says how MediaPipe would
    read a face with those landmarks, so a motion's loss can be followed stage by stage
    (``python -m benchmarks.motion_stages``).
    """

    def __init__(self, num_threads: int = 1):
        with zipfile.ZipFile(landmarker_path()) as task:
            self._network = _interpreter(task.read("face_blendshapes.tflite"), num_threads)
        self._input = self._network.get_input_details()[0]["index"]
        self._output = self._network.get_output_details()[0]["index"]

    def scores(self, points: np.ndarray) -> dict[str, float]:
        """Every blendshape's score for (478, 2+) points, in pixels of any one picture or crop."""
        chosen = np.asarray(points, np.float32)[list(BLENDSHAPE_POINTS), :2]
        if not np.isfinite(chosen).all():
            raise ValueError("got points with NaN or infinity, expected a face's 478 landmarks")
        self._network.set_tensor(self._input, chosen[None])
        self._network.invoke()
        return dict(zip(BLENDSHAPE_NAMES, self._network.get_tensor(self._output).reshape(-1).tolist()))


LANDMARKERS = ("litert", "tasks")
DEFAULT_LANDMARKER = "litert"


def require_landmarker(kind: str) -> None:
    """UserError unless ``kind`` names a landmark stage."""
    require(kind in LANDMARKERS, f"--landmarker {kind!r}", " or ".join(LANDMARKERS))


def live_landmarker(kind: str = DEFAULT_LANDMARKER, num_threads: int = DEFAULT_THREADS):
    """The live loop's landmark stage: ``litert`` (this module, the default) or ``tasks`` (the Tasks API).

    ``tasks`` is kept to compare against, and for what needs the pose or the blendshapes.
    ``litert`` leaves the graph's own smoothing out: the loop smooths with its own filter
    (:mod:`realtime.one_euro`, lids and lips lightly), and the graph's, whose speed estimate
    is low-passed at 1 Hz, held a fast mouth two frames behind. On ``expressive_34s`` the
    mouth opening it gave followed the Tasks API's image mode at r 0.67; without it, 0.98.

    It also frames the face by the detector in every frame (``redetect``, 0.7 ms a frame on
    the project's 2-core CPU), as ``prepare`` framed the target's footage (the Tasks API,
    looking for two faces, runs its detector in every frame), so the driver is read the way
    the target was. In the tracked region, 15% larger and centred higher, the
    landmark network read a frown as less than half of itself: on ``expressions_7s`` the
    driver's ``browDown`` (MediaPipe's blendshape network on the points) followed the image
    mode's at 0.37 and their brows' drawing together at 0.28, and a neutral face already read
    as half a frown; in the detector's region, 0.98 and 0.98. Brows moved down by a known
    number of pixels in real frames were found 0.75-0.97 of the way in the tracked region and
    0.88-1.01 in the detector's, on the three shared drivers.
    """
    require_landmarker(kind)
    if kind == "litert":
        return TrackingLandmarker(LIVE_OPTIONS, num_threads, smooth=False, redetect=True)
    return FaceLandmarker(LIVE_OPTIONS)
