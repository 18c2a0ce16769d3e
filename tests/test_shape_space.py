"""The target's shape space: fitting, the clamp, and how the retargeter uses it (no footage needed)."""

import numpy as np
import pytest

from models import face_topology as topology
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


# ------------------------------------------------------------------ openings kept through retargeting

def _with_mouth(face: np.ndarray, drop_px: float, upper_share: float = 0.0) -> np.ndarray:
    """``face`` with its lower lip moved down by ``drop_px`` (negative: up, through the upper lip).

    ``upper_share`` of that moves the upper lip up, as a real mouth opens.
    """
    moved = face.copy()
    moved[list(topology.LOWER_LIP), 1] += drop_px
    moved[list(topology.UPPER_LIP), 1] -= upper_share * drop_px
    return moved


def _with_lids(face: np.ndarray, drop_px: float) -> np.ndarray:
    """``face`` with both upper lids moved down by ``drop_px`` (closing the eyes)."""
    moved = face.copy()
    moved[list(topology.RIGHT_UPPER_LID + topology.LEFT_UPPER_LID), 1] += drop_px
    return moved


def test_a_signed_opening_goes_below_zero_where_the_lips_cross():
    face = neutral_landmarks(256)
    opened = _with_mouth(face, 10.0)
    assert topology.signed_mouth_opening(opened) == pytest.approx(topology.mouth_opening(opened), abs=1e-3)
    crossed = _with_mouth(face, -10.0 - 2 * topology.mouth_opening(face) * topology.inter_ocular(face))
    assert topology.mouth_opening(crossed) > 0.05  # the unsigned gap calls crossed lips open
    assert topology.signed_mouth_opening(crossed) < -0.05
    closing = _with_lids(face, 200.0)  # far past the lower lids
    assert topology.signed_eye_opening(closing) < 0 < topology.eye_opening(closing)


def test_a_driver_calibrated_mid_sentence_shuts_the_mouth_without_crossing_the_lips():
    target = neutral_landmarks(256)
    driver = target + np.array([3.0, -2.0, 0.0], np.float32)  # another face, elsewhere in the crop
    shut = topology.mouth_opening(target)
    retargeter = Retargeter(target, {"mouth_open": [shut, 0.25]}, RetargetOptions(calibrate_frames=10))
    talking = [_with_mouth(driver, drop, 0.4) for drop in np.linspace(12.0, 18.0, 10)]  # calibrates open-mouthed
    for face in talking:
        retargeter(face)
    assert retargeter.calibrated
    for drop, wanted_open in ((0.0, False), (15.0, True), (0.0, False)):
        out = retargeter(_with_mouth(driver, drop, 0.4))
        signed = topology.signed_mouth_opening(out)
        assert signed > -0.005, "the lips crossed"
        if wanted_open:
            assert signed > shut + 0.05
        else:
            assert signed < shut + 0.02


def test_a_driver_calibrated_mid_sentence_reaches_the_target_widest_mouth():
    # Counted from shut lips, not from the half-open neutral: the driver's range spans the
    # target's from there, so opening as wide as the target ever did draws his widest mouth.
    target = neutral_landmarks(256)
    driver = target + np.array([3.0, -2.0, 0.0], np.float32)
    shut, widest = topology.mouth_opening(target), 0.25
    retargeter = Retargeter(target, {"mouth_open": [shut, widest]}, RetargetOptions(calibrate_frames=10))
    for drop in np.linspace(4.0, 7.0, 10):  # talking: openings of about 0.09 to 0.16
        retargeter(_with_mouth(driver, drop, 0.4))
    drops = np.linspace(0.0, 80.0, 801)
    drop = drops[np.argmin([abs(topology.mouth_opening(_with_mouth(driver, d, 0.4)) - widest) for d in drops])]
    assert topology.mouth_opening(retargeter(_with_mouth(driver, drop, 0.4))) > widest - 0.01


def test_the_clamp_gives_the_lids_back_their_opening(faces):
    """In the target's footage the lids only closed as the face widened; the driver closes them alone."""
    training, _, wide = faces
    neutral = training.mean(axis=0)
    lids = _with_lids(neutral, 4.0) - neutral
    rng = np.random.default_rng(1)
    coupled = np.stack([neutral + a * (lids + wide) for a in rng.uniform(0, 1, 200)]).astype(np.float32)
    space = ShapeSpace.fit(np.concatenate([training, coupled]), components=4, percentiles=(0, 100))
    eye_range = [topology.eye_opening(neutral + lids), topology.eye_opening(neutral)]
    options = {"calibrate_frames": 1, "map_ranges": True}
    free = Retargeter(neutral, {"eye_open": eye_range}, RetargetOptions(clamp_shape=False, **options), space)
    kept = Retargeter(neutral, {"eye_open": eye_range}, RetargetOptions(**options), space)
    lost = Retargeter(neutral, {"eye_open": eye_range}, RetargetOptions(restore_openings=False, **options), space)
    for retargeter in (free, kept, lost):
        retargeter(neutral)
    blink = _with_lids(neutral, 3.0)
    wanted = topology.eye_opening(free(blink))
    assert abs(topology.eye_opening(lost(blink)) - wanted) > 0.01  # the clamp alone half-opens the eyes
    assert topology.eye_opening(kept(blink)) == pytest.approx(wanted, abs=0.003)
