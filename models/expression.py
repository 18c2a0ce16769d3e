"""Expression measures of one face, shared by data preparation, retargeting and evaluation.

Each is scale-free (divided by the inter-ocular distance) or an angle, so a target's
range and a driver's range can be compared and mapped onto each other.
"""

from __future__ import annotations

import numpy as np

from models import face_topology as topology
from models.head_pose import angles

EXPRESSION_MEASURES = ("mouth_open", "eye_open", "brow_raise", "yaw_deg", "pitch_deg", "roll_deg")


def brow_raise(points: np.ndarray) -> float:
    """Mean height of the upper brow edge above the upper eyelid, over the inter-ocular distance.

    A distance (not a y difference), so head roll does not change it.
    """
    points = np.asarray(points)
    gaps = []
    for brow, lid in ((topology.RIGHT_BROW_UPPER, topology.RIGHT_EYE_UPPER),
                      (topology.LEFT_BROW_UPPER, topology.LEFT_EYE_UPPER)):
        gaps.append(np.linalg.norm(points[list(brow), :2].mean(axis=0) - points[lid, :2]))
    return float(np.mean(gaps) / topology.inter_ocular(points))


def head_angles_deg(pose: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a 4x4 facial transformation matrix.

    :func:`models.head_pose.angles`, the one decomposition (``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``)
    that the motion measure and the live loop's head pose use too; a frontal face is (0, 0, 0).
    A scale the matrix may carry cancels out.
    """
    return angles(np.asarray(pose, np.float64)[:3, :3])


def expression_measures(points: np.ndarray, pose: np.ndarray) -> dict[str, float]:
    """Every measure in :data:`EXPRESSION_MEASURES` for one face."""
    yaw, pitch, roll = head_angles_deg(pose)
    return {
        "mouth_open": topology.mouth_opening(points),
        "eye_open": topology.eye_opening(points),
        "brow_raise": brow_raise(points),
        "yaw_deg": yaw,
        "pitch_deg": pitch,
        "roll_deg": roll,
    }
