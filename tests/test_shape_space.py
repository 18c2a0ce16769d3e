"""The target's shape space: fitting, the clamp, and how the retargeter uses it (no footage needed)."""

import numpy as np
import pytest

from models.errors import UserError
from models.shape_space import ShapeSpace
from realtime.retarget import Retargeter, RetargetOptions
from tests.fakes import neutral_landmarks


def _training_faces(neutral: np.ndarray, count: int = 200, seed: int = 0) -> np.ndarray:
    """Faces that differ from ``neutral`` along two shape directions only: a jaw drop and a widening."""
    rng = np.random.default_rng(seed)
    jaw = np.zeros_like(neutral)
    jaw[:, 1] = np.clip(neutral[:, 1] - neutral[:, 1].mean(), 0, None) * 0.1  # the lower half moves down
    wide = np.zeros_like(neutral)
    wide[:, 0] = (neutral[:, 0] - neutral[:, 0].mean()) * 0.05
    amounts = rng.uniform(0, 1, (count, 2))
    return np.stack([neutral + a * jaw + b * wide for a, b in amounts]).astype(np.float32), jaw, wide


@pytest.fixture(scope="module")
def faces():
    return _training_faces(neutral_landmarks())


def test_a_training_face_comes_back_as_it_was(faces):
    training, _, _ = faces
    space = ShapeSpace.fit(training, components=4, percentiles=(0, 100))
    assert space.explained > 0.999
    for face in training[:5]:
        np.testing.assert_allclose(space.clamp(face), face, atol=1e-2)


def test_a_face_outside_the_training_range_is_pulled_back_to_its_edge(faces):
    training, jaw, wide = faces
    space = ShapeSpace.fit(training, components=4, percentiles=(0, 100))
    neutral = training.mean(axis=0)
    too_wide_open = neutral + 3.0 * jaw  # three times the widest jaw drop the target showed
    turned = neutral.copy()
    turned[:, 0] += np.linspace(-6, 6, len(turned))  # a shear no training face had
    clamped = space.clamp(too_wide_open)
    jaw_drop = float(np.sum((clamped - neutral) * jaw) / np.sum(jaw * jaw))
    assert 0.4 < jaw_drop < 0.8  # back near the widest the target showed (0.5 above the mean), not 3.0
    # The shear, which no training face had, is mostly gone.
    assert np.abs(space.clamp(turned) - neutral)[:, :2].mean() < 0.5 * np.abs(turned - neutral)[:, :2].mean()
    np.testing.assert_array_equal(space.clamp(too_wide_open)[:, 2], too_wide_open[:, 2])  # depth untouched


def test_it_travels_as_json_and_refuses_bad_shapes(faces):
    training, _, _ = faces
    space = ShapeSpace.fit(training, components=3)
    again = ShapeSpace.from_dict(space.to_dict())
    np.testing.assert_allclose(again.clamp(training[0]), space.clamp(training[0]), atol=0.05)
    with pytest.raises(UserError, match="at least 2"):
        ShapeSpace.fit(training[:1])
    with pytest.raises(UserError, match="landmarks of shape"):
        space.clamp(training[0][:100])


def test_the_retargeter_clamps_where_the_model_has_a_shape_space(faces):
    training, jaw, _ = faces
    neutral = training.mean(axis=0)
    space = ShapeSpace.fit(training, components=4, percentiles=(0, 100))
    ranges = {"mouth_open": [0.0, 0.3]}
    clamped = Retargeter(neutral, ranges, RetargetOptions(calibrate_frames=1, map_ranges=False), space)
    free = Retargeter(neutral, ranges, RetargetOptions(calibrate_frames=1, map_ranges=False, clamp_shape=False),
                      space)
    for retargeter in (clamped, free):
        retargeter(neutral)  # calibrates on the neutral face
    yawn = neutral + 3.0 * jaw
    assert np.abs(free(yawn) - yawn).max() < 1e-3  # without the clamp, the driver's deviation as it is
    assert np.abs(clamped(yawn) - space.clamp(yawn)).max() < 1e-3


def test_the_first_frames_are_drawn_calibrated_from_the_first_frame_on(faces):
    training, jaw, _ = faces
    neutral = training.mean(axis=0)
    driver = neutral + 2.0  # the driver's own face: shifted, so passing it through would show
    retargeter = Retargeter(neutral, {}, RetargetOptions(calibrate_frames=5))
    first = retargeter(driver)
    np.testing.assert_allclose(first, neutral, atol=1e-3)  # the target's face, not the driver's
    assert not retargeter.calibrated
    for _ in range(4):
        retargeter(driver + jaw)
    assert retargeter.calibrated  # after all five frames
