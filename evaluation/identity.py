"""Who a face is, by dlib's face recognizer (the one the ``face_recognition`` package uses).

An optional measure: it needs ``dlib-bin`` and ``face-recognition-models`` (``pip install
-e .[eval]``); :func:`recognizer` says None where they are missing. The distance of two
faces' 128-d descriptors is dlib's own scale: below 0.6 dlib calls them one person.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

SAME_PERSON = 0.6  # dlib's threshold


class FaceRecognizer:
    """A face image (BGR uint8, one face) to its 128-d descriptor, or None without a face."""

    def __init__(self, models: Path):
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
        self._encoder = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        rgb = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
        found = self._detector(rgb, 1)
        if not found:
            return None
        box = max(found, key=lambda rect: rect.area())
        return np.asarray(self._encoder.compute_face_descriptor(rgb, self._shapes(rgb, box)), np.float64)


def recognizer() -> FaceRecognizer | None:
    """The recognizer where its packages are installed, else None."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or importlib.util.find_spec("dlib") is None or not spec.submodule_search_locations:
        return None
    # The package's own __init__ needs setuptools' pkg_resources only to find these files.
    return FaceRecognizer(Path(spec.submodule_search_locations[0]) / "models")


class NearestIdentity:
    """How far faces are from a person, by the recognizer: the distance to the nearest of their real faces."""

    def __init__(self, recognize: FaceRecognizer, references: np.ndarray):
        self.recognize = recognize
        self.references = references  # (R, 128) descriptors

    @classmethod
    def of_data_set(cls, recognize: FaceRecognizer, data_dir: Path, count: int = 60) -> "NearestIdentity | None":
        """The training faces of a prepared data set (at most ``count``, spread over it) as the reference;
        None where the recognizer finds a face in none of them (a synthetic data set)."""
        from models.sampling import spread
        from training.dataset import read_frame, read_manifest

        ids = [frame["id"] for frame in read_manifest(Path(data_dir))["frames"] if frame["split"] == "train"]
        faces = (read_frame(Path(data_dir), ids[i], ("crop",))["crop"] for i in spread(len(ids), count))
        found = [descriptor for descriptor in map(recognize, faces) if descriptor is not None]
        return cls(recognize, np.stack(found)) if found else None

    def nearest(self, descriptor: np.ndarray) -> float:
        """The distance of a face's descriptor to the nearest reference."""
        return float(np.linalg.norm(self.references - descriptor, axis=1).min())

    def distance(self, face: np.ndarray) -> float | None:
        """The distance of ``face`` (an image showing one face) to the nearest reference; None without a face."""
        descriptor = self.recognize(face)
        return None if descriptor is None else self.nearest(descriptor)
