"""How well an enhancer restores faces degraded the stated way, beside bicubic enlargement.

One measure for training's validation and ``reenact eval --enhancer``: each sharp face is
degraded by ``models.degradation.STATED``, restored at 512 and compared with the sharp
face: PSNR over the face oval, SSIM over the crop, and the sharpness ratio (the variance
of the Laplacian inside the oval, restored over sharp: 1.0 keeps all of the detail).
Bicubic enlargement of the same degraded face is measured beside it. ``identity``, when
given, maps a 512-px face to an embedding; its distance from the sharp face's is
reported for both.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from models import metrics
from models.degradation import STATED, degrade, enlarge
from models.swap_mask import face_mask
from training.sharp_faces import SharpFaces

SHEET_FACES = 4
# The sheet shows the middle of each 512-px face (eyes to mouth) at full size: detail, and
# anything drawn that should not be, is seen only unscaled.
SHEET_CROP = (slice(150, 406), slice(128, 384))


def measure(restore: Callable[[np.ndarray], np.ndarray], faces: SharpFaces,
            identity: Callable[[np.ndarray], np.ndarray | None] | None = None) -> tuple[dict, np.ndarray]:
    """(figures, sheet): means over ``faces``, and rows of degraded | bicubic | restored | sharp, each the
    middle of the face at full size."""
    rows, names = [], ("", "bicubic_")
    values: dict[str, list[float]] = {}
    for index, (sharp, points) in enumerate(zip(faces.crops, faces.points)):
        soft = degrade(sharp, STATED)
        restored, bicubic = restore(soft), enlarge(soft)
        mask = face_mask(points, sharp.shape[0])
        inside = mask.astype(bool)
        detail = metrics.sharpness(sharp, mask)
        reference = identity(sharp) if identity is not None else None
        for prefix, face in zip(names, (restored, bicubic)):
            values.setdefault(f"{prefix}psnr", []).append(metrics.psnr(face[inside], sharp[inside]))
            values.setdefault(f"{prefix}ssim", []).append(metrics.ssim(face, sharp))
            values.setdefault(f"{prefix}sharpness", []).append(metrics.sharpness(face, mask) / detail)
            embedding = identity(face) if reference is not None else None
            if embedding is not None:
                values.setdefault(f"{prefix}identity", []).append(float(np.linalg.norm(embedding - reference)))
        if index < SHEET_FACES:
            nearest = cv2.resize(soft, sharp.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            rows.append(np.hstack([image[SHEET_CROP] for image in (nearest, bicubic, restored, sharp)]))
    figures = {"faces": len(faces), **{name: float(np.mean(series)) for name, series in values.items()}}
    return figures, np.vstack(rows)


def summary(figures: dict) -> str:
    """One line per measure: the enhancer beside bicubic."""
    lines = [f"{figures['faces']} faces degraded the stated way, restored at 512 (enhancer | bicubic):"]
    for name, unit in (("psnr", " dB"), ("ssim", ""), ("sharpness", " of the sharp face's detail"),
                       ("identity", " (face recognizer distance from the sharp face)")):
        if name in figures:
            lines.append(f"  {name:10s} {figures[name]:.3f} | {figures['bicubic_' + name]:.3f}{unit}")
    return "\n".join(lines)
