"""MediaPipe FaceLandmarker (Tasks API) behind a small, explicit interface.

VIDEO mode needs strictly increasing timestamps, and the task must be closed
explicitly (left to the garbage collector at exit it raises), so this wrapper enforces
both: timestamps are made monotonic here and the class is a context manager.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import cv2
import numpy as np

from models.landmarker_asset import landmarker_path
from models.native_logs import quiet_native_stderr


def _import_mediapipe():
    """Import MediaPipe without dragging TensorFlow in.

    MediaPipe tries ``tensorflow.tools.docs`` at import; with TensorFlow installed
    (the training extra) that costs 4 s and 560 MB in the live loop. A ``None`` entry in
    ``sys.modules`` makes that try fail fast; it is removed again so that a training
    process can still import TensorFlow afterwards.
    """
    # MediaPipe's C++ side logs a screenful of INFO/WARNING lines per task; keep errors only.
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None  # type: ignore[assignment]
    try:
        import mediapipe as mp
        from mediapipe.tasks.python import vision
        from mediapipe.tasks.python.core import base_options
    finally:
        if blocked:
            sys.modules.pop("tensorflow", None)
    return mp, vision, base_options


def check_frame(image_bgr: np.ndarray) -> None:
    """ValueError unless ``image_bgr`` is a BGR uint8 frame, as every landmark stage takes."""
    if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
        raise ValueError(f"got image {image_bgr.shape} {image_bgr.dtype}, expected (H, W, 3) uint8")


class VideoClock:
    """Video mode's timestamps, made strictly increasing (MediaPipe refuses any other)."""

    def __init__(self):
        self._last_ms = -1

    def next(self, timestamp_ms: int | None) -> int:
        """``timestamp_ms``, or one past the last where it is None or not later."""
        wanted = self._last_ms + 1 if timestamp_ms is None else int(timestamp_ms)
        self._last_ms = max(wanted, self._last_ms + 1)
        return self._last_ms


@dataclass(frozen=True)
class FaceLandmarks:
    """One face: 478 points in pixels (x, y, z with z in pixel-like units)."""

    points: np.ndarray  # (478, 3) float32
    pose: np.ndarray | None  # (4, 4) float32 facial transformation matrix, None when not asked for
    blendshapes: dict[str, float]  # empty when not asked for

    @property
    def xy(self) -> np.ndarray:
        return self.points[:, :2]


@dataclass(frozen=True)
class LandmarkerOptions:
    """Options for :class:`FaceLandmarker`."""

    max_faces: int = 2  # more than one so that "the largest" is a real choice
    min_detection_confidence: float = 0.5
    min_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    video_mode: bool = True
    pose: bool = True  # the facial transformation matrix
    blendshapes: bool = True  # a second network, run on every face found


# The live loop's choice. In VIDEO mode MediaPipe runs its face detector on every frame
# while it tracks fewer faces than ``num_faces``, so asking for one face lets it track
# from frame to frame; nothing live reads the pose or the blendshapes.
LIVE_OPTIONS = LandmarkerOptions(max_faces=1, pose=False, blendshapes=False)


class FaceLandmarker:
    """Finds the largest face in each frame; ``None`` when there is none."""

    def __init__(self, options: LandmarkerOptions = LandmarkerOptions()):
        self._mp, vision, base_options = _import_mediapipe()
        mode = vision.RunningMode.VIDEO if options.video_mode else vision.RunningMode.IMAGE
        task_options = vision.FaceLandmarkerOptions(
            base_options=base_options.BaseOptions(model_asset_path=str(landmarker_path())),
            running_mode=mode,
            num_faces=options.max_faces,
            min_face_detection_confidence=options.min_detection_confidence,
            min_face_presence_confidence=options.min_presence_confidence,
            min_tracking_confidence=options.min_tracking_confidence,
            output_face_blendshapes=options.blendshapes,
            output_facial_transformation_matrixes=options.pose,
        )
        with quiet_native_stderr():
            self._task = vision.FaceLandmarker.create_from_options(task_options)
        self._first_call = True  # the first inference logs from C++ too
        self._video_mode = options.video_mode
        self._clock = VideoClock()

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._task is not None:
            self._task.close()
            self._task = None

    def _infer(self, image, timestamp_ms: int | None):
        if not self._video_mode:
            return self._task.detect(image)
        return self._task.detect_for_video(image, self._clock.next(timestamp_ms))

    def detect(self, image_bgr: np.ndarray, timestamp_ms: int | None = None) -> FaceLandmarks | None:
        """Landmarks of the largest face in a BGR uint8 frame, or ``None``."""
        if self._task is None:
            raise RuntimeError("FaceLandmarker used after close()")
        check_frame(image_bgr)
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)  # 17x faster than a reversed-axis copy
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)
        with quiet_native_stderr(self._first_call):
            result = self._infer(image, timestamp_ms)
        self._first_call = False
        if not result.face_landmarks:
            return None
        height, width = image_bgr.shape[:2]
        faces = [np.array([(p.x * width, p.y * height, p.z * width) for p in face], np.float32)
                 for face in result.face_landmarks]
        areas = [np.ptp(face[:, 0]) * np.ptp(face[:, 1]) for face in faces]
        best = int(np.argmax(areas))
        pose = (np.asarray(result.facial_transformation_matrixes[best], np.float32)
                if result.facial_transformation_matrixes else None)
        shapes = ({c.category_name: float(c.score) for c in result.face_blendshapes[best]}
                  if result.face_blendshapes else {})
        return FaceLandmarks(points=faces[best], pose=pose, blendshapes=shapes)
