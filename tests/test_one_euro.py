import numpy as np
import pytest

from realtime.one_euro import OneEuroFilter, OneEuroOptions, _alpha, _one_euro_kernel, one_euro_step_reference


def test_kernel_equals_its_numpy_twin():
    rng = np.random.default_rng(0)
    options = OneEuroOptions(min_cutoff=1.3, beta=0.2, derivative_cutoff=1.1)
    value, derivative = rng.normal(size=(478, 3)), rng.normal(size=(478, 3))
    twin_value, twin_derivative = value.copy(), derivative.copy()
    for step in range(5):
        x = rng.normal(size=(478, 3)) * 10
        dt = 1 / 30 + step * 0.003
        _one_euro_kernel(x, value, derivative, dt, options.min_cutoff, options.beta,
                         _alpha(options.derivative_cutoff, dt))
        one_euro_step_reference(x, twin_value, twin_derivative, dt, options)
    np.testing.assert_allclose(value, twin_value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(derivative, twin_derivative, rtol=1e-12, atol=1e-12)


def test_less_jitter_on_a_noisy_still():
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
    assert np.mean(smooth_error) < 0.5 * np.mean(raw_error)


def test_lag_is_bounded_on_a_step():
    smoother = OneEuroFilter()
    still = np.zeros((478, 2))
    for frame in range(30):
        smoother(still, frame / 30)
    moved = still + 40.0  # a quick 40-pixel head move
    outputs = [smoother(moved, (30 + k) / 30) for k in range(10)]
    assert outputs[0].mean() > 5.0  # it starts following at once
    assert outputs[5].mean() > 36.0  # within 90% after 6 frames (200 ms)


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
