"""A head's rotation from its 3-D landmarks, and the yaw, pitch and roll it stands for.

Image axes throughout: x to the right, y down, z away from the camera (MediaPipe's
landmark z, in pixel-like units), a right-handed frame. A rotation is split as
``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, the convention of MediaPipe's facial transformation
matrix, so :func:`angles` reads both.
"""

from __future__ import annotations

import math

import numpy as np

from models import face_topology as topology

# Points that move with the skull and hardly with expression: eye corners, nose ridge and
# tip, forehead, temples and cheekbones (the jaw and the brows are left out).
RIGID_POINTS = tuple(sorted(set(topology.STABLE_POINTS + (1, 4, 10, 67, 109, 338, 297, 21, 251, 162, 389,
                                                           127, 356, 234, 454, 93, 323, 116, 345))))


def fit_rotation(reference: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, float]:
    """The rotation (3, 3) and scale taking (N, 3) ``reference`` to ``points`` (Umeyama, least squares, centred)."""
    reference, points = np.asarray(reference, np.float64), np.asarray(points, np.float64)
    if reference.shape != points.shape or reference.ndim != 2 or reference.shape[1] != 3 or len(points) < 3:
        raise ValueError(f"got point sets {reference.shape} and {points.shape}, expected equal (N >= 3, 3)")
    reference_c, points_c = reference - reference.mean(0), points - points.mean(0)
    u, singular, vt = np.linalg.svd(points_c.T @ reference_c)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / max((reference_c ** 2).sum(), 1e-12))
    return rotation, scale


def angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch and roll in degrees of a (3, 3) rotation (or the rotation block of a 4x4 pose)."""
    m = np.asarray(rotation, np.float64)
    yaw = math.atan2(-m[2, 0], math.hypot(m[2, 1], m[2, 2]))
    pitch = math.atan2(m[2, 1], m[2, 2])
    roll = math.atan2(m[1, 0], m[0, 0])
    return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)


def rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """The (3, 3) rotation of yaw, pitch and roll in degrees: the inverse of :func:`angles`."""
    y, p, r = (math.radians(value) for value in (yaw, pitch, roll))
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx
