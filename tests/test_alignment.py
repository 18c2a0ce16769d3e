import numpy as np
import pytest

from models.alignment import Alignment, canonical_points
from models.face_topology import STABLE_POINTS


def _synthetic_face(rotation_deg=12.0, scale=1.7, shift=(40.0, -25.0), seed=0):
    """A 478-point cloud whose stable points are a rotated, scaled, shifted template."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, 256, (478, 3)).astype(np.float64)
    angle = np.deg2rad(rotation_deg)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    template = canonical_points(256)
    points[list(STABLE_POINTS), :2] = (template @ rotation.T) * scale + np.array(shift)
    return points


def test_stable_points_land_on_the_template():
    alignment = Alignment.from_landmarks(_synthetic_face(), size=256)
    mapped = alignment.apply(_synthetic_face()[list(STABLE_POINTS)])
    np.testing.assert_allclose(mapped[:, :2], canonical_points(256), atol=1e-3)
    assert alignment.scale == pytest.approx(1 / 1.7, rel=1e-6)


@pytest.mark.parametrize("rotation", [-30.0, 0.0, 45.0])
def test_round_trip_through_the_inverse(rotation):
    points = _synthetic_face(rotation_deg=rotation)
    alignment = Alignment.from_landmarks(points)
    back = alignment.inverse().apply(alignment.apply(points[:, :2]))
    np.testing.assert_allclose(back, points[:, :2], atol=1e-3)


def test_warp_then_unwarp_restores_the_face_region():
    rng = np.random.default_rng(1)
    frame = (rng.uniform(0, 255, (300, 400, 3))).astype(np.uint8)
    frame = np.ascontiguousarray(np.kron(frame[::10, ::10], np.ones((10, 10, 1))).astype(np.uint8))
    alignment = Alignment.from_landmarks(_synthetic_face(rotation_deg=5, scale=0.8, shift=(80, 20)))
    restored = alignment.unwarp(alignment.warp(frame), frame.shape)
    inside = restored.sum(axis=2) > 0
    error = np.abs(restored.astype(int) - frame.astype(int))[inside]
    assert inside.mean() > 0.2
    assert np.median(error) < 3


def test_margin_widens_the_border():
    tight, loose = canonical_points(256, 0.05), canonical_points(256, 0.3)
    assert np.ptp(loose[:, 0]) < np.ptp(tight[:, 0])


@pytest.mark.parametrize("margin", [-0.1, 0.5, 0.7])
def test_bad_margin_is_refused(margin):
    with pytest.raises(ValueError, match="margin"):
        canonical_points(256, margin)


def test_bad_landmarks_are_refused():
    with pytest.raises(ValueError, match="478"):
        Alignment.from_landmarks(np.zeros((68, 2)))
