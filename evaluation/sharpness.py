"""How sharp the loop's faces are: detail inside the face oval, against the target's real faces.

The sharpness of a face is the variance of the Laplacian inside its face oval
(``models.metrics.sharpness``). The loop's output faces are measured where the landmarker
finds them in the final frames; the target's real faces (its prepared data set) are
enlarged to the same size the way the loop enlarges a face without the enhancer, and
measured the same way. Their ratio is the report's ``sharpness``: 1.0 as sharp as the
footage the target came from, enlarged.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.metrics import sharpness
from models.sampling import spread
from models.swap_mask import face_mask
from training.dataset import read_frame, read_manifest

REFERENCE_FACES = 64


def face_sharpness(image: np.ndarray, points: np.ndarray) -> float:
    """Detail inside the face oval of ``points`` (landmarks in ``image``'s pixels) of a square image."""
    return sharpness(image, face_mask(points, image.shape[0]))


def reference_sharpness(reference: Path, size: int, count: int = REFERENCE_FACES) -> float:
    """The mean sharpness of the target's real faces (validation split) enlarged to ``size`` pixels."""
    manifest = read_manifest(Path(reference))
    entries = [frame["id"] for frame in manifest["frames"] if frame.get("split") == "val"] or \
        [frame["id"] for frame in manifest["frames"]]
    values = []
    for index in spread(len(entries), count):
        frame = read_frame(Path(reference), entries[index], ("crop", "landmarks"))
        scale = size / frame["crop"].shape[0]
        enlarged = cv2.resize(frame["crop"], (size, size), interpolation=cv2.INTER_LINEAR)
        values.append(face_sharpness(enlarged, frame["landmarks"][:, :2] * scale))
    return float(np.mean(values))
