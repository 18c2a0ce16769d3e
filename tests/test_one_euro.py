import numpy as np
import pytest

from realtime.one_euro import OneEuroFilter, OneEuroOptions, one_euro_step_reference


def test_kernel_equals_its_numpy_twin():
    # The filter's Numba kernel, step by step, against the numpy twin from the same state:
    # the first call passes the points through and starts the derivative at zero.
    rng = np.random.default_rng(0)
    options = OneEuroOptions(min_cutoff=1.3, beta=0.2, derivative_cutoff=1.1)
    smoother = OneEuroFilter(options)
    first = rng.normal(size=(478, 3)) * 10
    np.testing.assert_array_equal(smoother(first, 0.0), first.astype(np.float32))
    twin_value, twin_derivative = first.copy(), np.zeros_like(first)
    time_s = 0.0
    for step in range(5):
        x = rng.normal(size=(478, 3)) * 10
        previous_time, time_s = time_s, time_s + 1 / 30 + step * 0.003  # uneven frame intervals
        filtered = smoother(x, time_s)
        one_euro_step_reference(x, twin_value, twin_derivative, time_s - previous_time, options,
                                smoother.min_cutoffs(x.shape))
        # The filter hands out float32; the twin keeps float64: equal to float32's precision.
        np.testing.assert_allclose(filtered, twin_value, rtol=1e-6, atol=1e-5)
    assert np.abs(twin_derivative).max() > 1.0  # the speed term took part: the cut-off moved


def test_less_jitter_on_a_noisy_still():
    # Tuned to follow a moving head (beta 0.3) and a blink (lids and lips at 3 Hz), it still
    # takes a third of a heavy 1.5-pixel jitter off a still face, lids and lips included.
    rng = np.random.default_rng(1)
    truth = rng.uniform(0, 256, (478, 2))
    smoother = OneEuroFilter()
    raw_error, smooth_error = [], []
    for frame in range(120):
        noisy = truth + rng.normal(scale=1.5, size=truth.shape)
        smoothed = smoother(noisy, frame / 30)
        if frame >= 30:
            raw_error.append(np.abs(noisy - truth).mean())
            smooth_error.append(np.abs(smoothed - truth).mean())
    assert np.mean(smooth_error) < 0.7 * np.mean(raw_error)


def test_lag_is_bounded_on_a_step():
    smoother = OneEuroFilter()
    still = np.zeros((478, 2))
    for frame in range(30):
        smoother(still, frame / 30)
    moved = still + 40.0  # a quick 40-pixel head move
    outputs = [smoother(moved, (30 + k) / 30) for k in range(10)]
    assert outputs[0].mean() > 5.0  # it starts following at once
    assert outputs[5].mean() > 36.0  # within 90% after 6 frames (200 ms)


def test_lids_and_lips_follow_a_blink_faster_than_the_head_moves():
    # A blink is three frames: at the head's cut-off the lid would reach little of its depth.
    smoother = OneEuroFilter()
    still = np.zeros((478, 2))
    for frame in range(30):
        smoother(still, frame / 30)
    closed = still + 0.5  # every point steps by half a pixel; the lids and lips should keep up best
    outputs = [smoother(closed, (30 + k) / 30) for k in range(3)]
    lid, lip, nose = 159, 14, 1  # an upper lid, the lower lip, the nose tip
    assert outputs[1][lid, 1] > 0.65 * 0.5 > 0.55 * 0.5 > outputs[1][nose, 1]
    assert outputs[1][lip, 1] > 0.65 * 0.5
    head_only = OneEuroFilter(expression_points=())
    for frame in range(30):
        head_only(still, frame / 30)
    np.testing.assert_allclose([head_only(closed, (30 + k) / 30) for k in range(3)][2][lid], outputs[2][nose])


def test_first_frame_passes_through_and_reset_forgets():
    smoother = OneEuroFilter()
    points = np.full((478, 3), 5.0)
    np.testing.assert_array_equal(smoother(points, 0.0), points)
    smoother(points + 10, 0.1)
    smoother.reset()
    np.testing.assert_array_equal(smoother(points, 0.2), points)


def test_bad_options_are_refused():
    with pytest.raises(ValueError):
        OneEuroFilter(OneEuroOptions(min_cutoff=0))
