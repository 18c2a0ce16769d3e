"""A head's rotation from its 3-D landmarks, and the yaw, pitch and roll it stands for.

Image axes throughout: x to the right, y down, z away from the camera (MediaPipe's
landmark z, in pixel-like units), a right-handed frame. A rotation is split as
``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)``, the convention of MediaPipe's facial transformation
matrix, so :func:`angles` reads both.
"""

from __future__ import annotations

import math
import struct
import zipfile
from functools import cache
from pathlib import Path

import numpy as np

from models import face_topology as topology

# Points that move with the skull and hardly with expression: eye corners, nose ridge and
# tip, forehead, temples and cheekbones (the jaw and the brows are left out).
RIGID_POINTS = tuple(sorted(set(topology.STABLE_POINTS + (1, 4, 10, 67, 109, 338, 297, 21, 251, 162, 389,
                                                           127, 356, 234, 454, 93, 323, 116, 345))))


_GEOMETRY_METADATA = "geometry_pipeline_metadata_landmarks.binarypb"
CANONICAL_POINTS = 468  # the canonical face's vertices: the mesh without the irises
CAMERA_FOV_DEGREES = 63.0  # the vertical field of view MediaPipe's geometry pipeline assumes
CAMERA_NEAR = 1.0
_IMAGE_AXES = np.diag([1.0, -1.0, -1.0])  # the canonical face's axes (y up, z towards the camera) to the image's


def _geometry_metadata(task: Path | None) -> tuple[Path, bytes]:
    """The task file (None: the landmarker's own) and its geometry pipeline's metadata, serialised."""
    if task is None:
        from models.landmarker_asset import landmarker_path

        task = landmarker_path(quiet=True)
    with zipfile.ZipFile(task) as bundle:
        return task, bundle.read(_GEOMETRY_METADATA)


@cache
def pose_basis(task: Path | None = None) -> tuple[tuple[int, ...], np.ndarray]:
    """The landmarks, and their weights, that MediaPipe fits its facial transformation matrix on.

    Read from the geometry pipeline's metadata inside the landmarker's own task file (the
    checksum-pinned asset, :func:`models.landmarker_asset.landmarker_path`): 33 points of the
    nose, eye corners, cheeks and the jaw's corners. The jaw's are among them, so a tracker built
    on MediaPipe reads a wide-open mouth as a few degrees of nod.
    """
    task, message = _geometry_metadata(task)
    basis = []
    for field, value in _fields(message):
        if field == 2:  # GeometryPipelineMetadata.procrustes_landmark_basis: {1: landmark_id, 2: weight}
            entry = dict(_fields(value))
            basis.append((entry.get(1, 0), struct.unpack("<f", entry[2])[0]))
    if len(basis) < 3:
        raise ValueError(f"{task} holds {len(basis)} pose basis points, expected at least 3")
    return tuple(index for index, _ in basis), np.array([weight for _, weight in basis], np.float64)


@cache
def canonical_face(task: Path | None = None) -> np.ndarray:
    """MediaPipe's canonical face (468, 3), in centimetres (x right, y up, z towards the camera).

    The geometry pipeline's metadata in the landmarker's task file holds it as a mesh whose
    vertices are x, y, z, u, v.
    """
    task, message = _geometry_metadata(task)
    mesh = next(value for field, value in _fields(message) if field == 1)  # GeometryPipelineMetadata.canonical_mesh
    vertices = [struct.unpack("<f", value)[0] for field, value in _fields(mesh) if field == 3]  # Mesh3d.vertex_buffer
    if len(vertices) != CANONICAL_POINTS * 5:
        raise ValueError(f"{task} holds {len(vertices)} canonical mesh values, expected {CANONICAL_POINTS * 5}")
    return np.array(vertices, np.float64).reshape(-1, 5)[:, :3]


def facial_pose(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """The head's rotation (3, 3, image axes) as MediaPipe's facial transformation matrix has it.

    ``points``: the face's landmarks (478 or 468, 3) in the pixels of a ``width`` x ``height``
    frame (z in pixel-like units). MediaPipe's geometry pipeline, redone: the points are put in
    a 63-degree perspective camera's space, their depth and scale found in two rounds of
    weighted Procrustes fits of the canonical face, and the canonical face fitted to them once
    more; the rotation of that fit, turned into the image's axes (y down, z away), so
    :func:`angles` reads it as it reads the Tasks API's matrix. The perspective matters: fitted
    without it, a head's nod read 0.91-1.25 times MediaPipe's depending on where the face sat
    in the frame and how near it was.
    """
    basis, weights = pose_basis()
    basis, canonical = list(basis), canonical_face()[list(basis)]
    near_height = 2.0 * CAMERA_NEAR * math.tan(0.5 * math.radians(CAMERA_FOV_DEGREES))
    near_width = width * near_height / height
    screen = np.asarray(points, np.float64)[:CANONICAL_POINTS] / (width, height, width)
    screen[:, 0] = screen[:, 0] * near_width - 0.5 * near_width
    screen[:, 1] = (1.0 - screen[:, 1]) * near_height - 0.5 * near_height
    screen[:, 2] *= near_width
    depth_offset = screen[:, 2].mean()

    def metric(scale: float) -> np.ndarray:  # the points moved to their depth and unprojected, z flipped
        moved = screen.copy()
        moved[:, 2] = (moved[:, 2] - depth_offset + CAMERA_NEAR) / scale
        moved[:, :2] *= moved[:, 2:3] / CAMERA_NEAR
        moved[:, 2] *= -1.0
        return moved

    flipped = screen * (1.0, 1.0, -1.0)
    first = fit_rotation(canonical, flipped[basis], weights)[1]
    second = fit_rotation(canonical, metric(first)[basis], weights)[1]
    turn, _ = fit_rotation(canonical, metric(first * second)[basis], weights)
    return _IMAGE_AXES @ turn @ _IMAGE_AXES


def _fields(message: bytes):
    """(field number, value) of each field of a serialised protocol buffer: an int or the raw bytes."""
    def varint(at: int) -> tuple[int, int]:
        value = shift = 0
        while True:
            byte = message[at]
            value, shift, at = value | (byte & 0x7F) << shift, shift + 7, at + 1
            if byte < 0x80:
                return value, at

    at = 0
    while at < len(message):
        key, at = varint(at)
        kind = key & 7
        if kind == 0:
            value, at = varint(at)
        elif kind == 2:
            length, at = varint(at)
            value, at = message[at:at + length], at + length
        elif kind in (1, 5):
            width = 8 if kind == 1 else 4
            value, at = message[at:at + width], at + width
        else:
            raise ValueError(f"unsupported protocol buffer wire type {kind}")
        yield key >> 3, value


def fit_rotation(reference: np.ndarray, points: np.ndarray,
                 weights: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The rotation (3, 3) and scale taking (N, 3) ``reference`` to ``points`` (Umeyama, least squares, centred).

    ``weights`` (N,) weigh each point's squared error, as MediaPipe's weighted Procrustes does.
    """
    reference, points = np.asarray(reference, np.float64), np.asarray(points, np.float64)
    if reference.shape != points.shape or reference.ndim != 2 or reference.shape[1] != 3 or len(points) < 3:
        raise ValueError(f"got point sets {reference.shape} and {points.shape}, expected equal (N >= 3, 3)")
    w = np.ones(len(points)) if weights is None else np.asarray(weights, np.float64)
    w = (w / w.sum())[:, None]
    reference_c, points_c = reference - (w * reference).sum(0), points - (w * points).sum(0)
    u, singular, vt = np.linalg.svd((w * points_c).T @ reference_c)
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign) / max((w * reference_c ** 2).sum(), 1e-12))
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
