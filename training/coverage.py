"""What a target's footage shows, and what it is missing: ``reenact prepare``'s coverage report.

A generator draws only what its footage showed: a clip in which the person never opens
their mouth wide gives a target who cannot, and frames where the face runs off the picture
teach it a smeared edge. So ``prepare`` reports, over the training frames:

- the head's yaw and pitch span (degrees, 2nd to 98th percentile, as the profile's ranges);
- how wide the mouth opens, whether the eyes close (a blink) and how far the brows rise;
- blurred frames: face detail under half the clip's median (motion blur, focus);
- edge frames: the aligned crop reaches more than :data:`EDGE_SHARE` outside the picture,
  and its missing part is filled in (reflected), never drawn by the camera.

and, for each short range, what to film. The wanted spans are what the shipped s1 target
reaches or more (his footage: mouth opening to 0.24, a 8-degree yaw span), set where the
live loop's faces broke without them (docs/training.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from models import expression
from models.metrics import robust_range, sharpness
from models.swap_mask import face_mask

EDGE_SHARE = 0.02  # a crop with more than this share outside the picture is an edge frame
BLUR_FACTOR = 0.5  # a face with less than this share of the clip's median detail is blurred
# (measure, wanted span or value, what to film): measured as prepare's expression ranges.
WANTED = (
    ("yaw_deg", 16.0, "turn your head slowly left and right, about 15 degrees each way"),
    ("pitch_deg", 10.0, "nod: look a little up and a little down"),
    ("mouth_open", 0.35, "open your mouth wide (a yawn, an 'O'), and talk"),
    ("eye_open", None, "blink, and close your eyes for a moment"),
    ("brow_raise", 0.18, "raise your eyebrows, and frown"),
)
EYES_CLOSED = 0.06  # the eye-opening measure of a closed eye (lid gap over eye width)


def expression_ranges(landmarks: list[np.ndarray], poses: list[np.ndarray]) -> dict:
    """2nd to 98th percentile of each of :data:`models.expression.EXPRESSION_MEASURES` over the frames."""
    measures = [expression.expression_measures(points, pose) for points, pose in zip(landmarks, poses)]
    return {name: robust_range([m[name] for m in measures]) for name in expression.EXPRESSION_MEASURES}


def outside_share(matrix: np.ndarray, frame_shape: tuple[int, ...], size: int) -> float:
    """The share of a ``size`` crop made with the 2x3 ``matrix`` that lies outside the frame."""
    inside = cv2.warpAffine(np.ones(frame_shape[:2], np.uint8), matrix, (size, size), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return float(1.0 - inside.mean())


def face_detail(crop: np.ndarray, landmarks: np.ndarray) -> float:
    """Detail inside the face oval of an aligned crop (variance of the Laplacian)."""
    return sharpness(crop, face_mask(landmarks[:, :2], crop.shape[0]))


@dataclass(frozen=True)
class Coverage:
    """Ranges and shares over a data set's training frames (JSON-ready with :meth:`to_dict`)."""

    frames: int
    ranges: dict  # measure -> [low, high], the profile's expression ranges
    blurred_share: float
    edge_share: float

    @classmethod
    def measure(cls, ranges: dict, details: list[float], outside: list[float]) -> "Coverage":
        details = np.asarray(details, np.float64)
        blurred = float(np.mean(details < BLUR_FACTOR * np.median(details))) if len(details) else 0.0
        known = np.asarray([value for value in outside if value == value], np.float64)  # NaN: not known
        edge = float(np.mean(known > EDGE_SHARE)) if len(known) else 0.0
        return cls(len(details), ranges, round(blurred, 4), round(edge, 4))

    def missing(self) -> list[str]:
        """What to film for every range the footage does not reach, and its blur and edges."""
        advice = []
        for name, wanted, what in WANTED:
            low, high = self.ranges.get(name, (0.0, 0.0))
            if name == "eye_open":
                short = low > EYES_CLOSED
            elif name == "mouth_open":
                short = high < wanted
            else:
                short = high - low < wanted
            if short:
                advice.append(what)
        if self.blurred_share > 0.1:
            advice.append(f"{self.blurred_share:.0%} of the frames are blurred: more light, slower movements")
        if self.edge_share > 0.1:
            advice.append(f"in {self.edge_share:.0%} of the frames the face is near the picture's edge: "
                          "sit further back, face in the middle")
        return advice

    def summary(self) -> str:
        def span(name: str, unit: str = "", digits: int = 2) -> str:
            low, high = self.ranges.get(name, (float("nan"), float("nan")))
            return f"{low:.{digits}f} to {high:.{digits}f}{unit}"

        lines = [f"coverage of {self.frames} frames: head yaw {span('yaw_deg', ' deg', 0)}, "
                 f"pitch {span('pitch_deg', ' deg', 0)}; mouth opening {span('mouth_open')}, "
                 f"eyes {span('eye_open')}, brows {span('brow_raise')}; "
                 f"{self.blurred_share:.0%} blurred, {self.edge_share:.0%} at the picture's edge"]
        missing = self.missing()
        if missing:
            lines.append("the footage is short of these; film them for a better target:")
            lines.extend(f"  - {what}" for what in missing)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


def coverage_of_video(path, every: int = 3, size: int = 256) -> Coverage:
    """The coverage of a clip's every ``every``-th frame, as ``prepare`` would report it
    (``reenact record`` says with it what the footage it just filmed is missing)."""
    from tqdm import tqdm

    from media.sources import open_source
    from models.alignment import Alignment
    from models.errors import UserError
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    landmarks, poses, details, outside = [], [], [], []
    with open_source(str(path)) as source, FaceLandmarker(LandmarkerOptions(video_mode=True)) as landmarker:
        total = -(-source.frame_count // every) if source.frame_count else None
        for frame in tqdm(source, total=total, desc="checking the footage", unit="frame", leave=False):
            if frame.index % every:
                continue
            face = landmarker.detect(frame.image, int(round(frame.timestamp_ms)))
            if face is None:
                continue
            alignment = Alignment.from_landmarks(face.points, size)
            points = alignment.apply(face.points)
            landmarks.append(points)
            poses.append(face.pose)
            details.append(face_detail(alignment.warp(frame.image), points))
            outside.append(outside_share(alignment.matrix, frame.image.shape, size))
    if not landmarks:
        raise UserError(f"{path}: no face found in the footage; film one face, frontal and well lit")
    return Coverage.measure(expression_ranges(landmarks, poses), details, outside)
