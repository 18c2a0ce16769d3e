"""One-Euro filter for landmarks (Casiez, Roussel and Vogel, CHI 2012).

A low-pass filter whose cut-off rises with speed: still landmarks are smoothed hard
(no jitter), moving ones lightly (little lag). The per-frame update over 478 x 3
coordinates is one fused Numba loop; ``one_euro_step_reference`` is its numpy twin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from models.face_topology import EXPRESSION_POINTS


@dataclass(frozen=True)
class OneEuroOptions:
    """Cut-offs in Hz; ``beta`` sets how fast the cut-off rises with speed (per pixel/s)."""

    # This is the only filter the live landmarks go through (the landmark stage's own is off,
    # :func:`models.tracking_landmarker.live_landmarker`). At 1 Hz on raw landmarks the output's
    # yaw jittered 0.24 degrees from frame to frame on the still GRID driver; at 0.5 Hz, 0.16,
    # as much as it did behind both filters.
    min_cutoff: float = 0.5
    # At 0.05 the output's head lagged the driver's by a frame (expressive_34s' yaw r 0.89 at
    # lag 0, 0.93 at lag 1).
    beta: float = 0.3
    derivative_cutoff: float = 1.0
    # The minimum cut-off of the points an expression moves fast and little (lids, lips): at
    # the head's 1 Hz a blink, three frames long, reached 0.6 of its depth on the sample clip
    # and the output's eyeBlink followed at 0.57; at 3 Hz, 0.74.
    expression_cutoff: float = 3.0


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@njit(cache=True, nogil=True)
def _one_euro_kernel(x, previous, derivative, dt, min_cutoff, beta, alpha_derivative):
    # min_cutoff: one per coordinate, the shape of x
    flat_x = x.reshape(-1)
    flat_previous = previous.reshape(-1)
    flat_derivative = derivative.reshape(-1)
    flat_cutoff = min_cutoff.reshape(-1)
    two_pi_dt = 2.0 * math.pi * dt
    for i in range(flat_x.size):
        raw_derivative = (flat_x[i] - flat_previous[i]) / dt
        d = flat_derivative[i] + alpha_derivative * (raw_derivative - flat_derivative[i])
        flat_derivative[i] = d
        cutoff = flat_cutoff[i] + beta * abs(d)
        alpha = two_pi_dt * cutoff / (1.0 + two_pi_dt * cutoff)
        flat_previous[i] = flat_previous[i] + alpha * (flat_x[i] - flat_previous[i])


def one_euro_step_reference(x, previous, derivative, dt, options: OneEuroOptions, min_cutoff=None):
    """numpy twin of the kernel: updates ``previous`` and ``derivative`` in place.

    ``min_cutoff``: one per coordinate (None: ``options.min_cutoff`` everywhere).
    """
    alpha_derivative = _alpha(options.derivative_cutoff, dt)
    raw = (x - previous) / dt
    derivative += alpha_derivative * (raw - derivative)
    cutoff = (options.min_cutoff if min_cutoff is None else min_cutoff) + options.beta * np.abs(derivative)
    alpha = 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff * dt))
    previous += alpha * (x - previous)


class OneEuroFilter:
    """Smooths successive (N, D) landmark arrays given their timestamps in seconds.

    The rows ``expression_points`` (by default MediaPipe's lids and lips) get
    ``options.expression_cutoff`` as their minimum cut-off, the rest ``options.min_cutoff``.
    """

    def __init__(self, options: OneEuroOptions = OneEuroOptions(),
                 expression_points: tuple[int, ...] = EXPRESSION_POINTS):
        if (min(options.min_cutoff, options.expression_cutoff, options.derivative_cutoff) <= 0
                or options.beta < 0):
            raise ValueError(f"got {options}, expected positive cut-offs and beta >= 0")
        self.options = options
        self.expression_points = tuple(expression_points)
        self._min_cutoff: np.ndarray | None = None
        self._value: np.ndarray | None = None
        self._derivative: np.ndarray | None = None
        self._time: float | None = None

    def reset(self) -> None:
        self._value = self._derivative = self._time = None

    def __call__(self, points: np.ndarray, time_s: float) -> np.ndarray:
        """The filtered landmarks (a new array); the first call passes them through."""
        x = np.ascontiguousarray(points, dtype=np.float64)
        if self._value is None or self._value.shape != x.shape or time_s <= self._time:
            self._value, self._derivative, self._time = x.copy(), np.zeros_like(x), time_s
            self._min_cutoff = self.min_cutoffs(x.shape)
            return x.astype(np.float32)
        dt = time_s - self._time
        self._time = time_s
        _one_euro_kernel(x, self._value, self._derivative, dt, self._min_cutoff,
                         self.options.beta, _alpha(self.options.derivative_cutoff, dt))
        return self._value.astype(np.float32)

    def min_cutoffs(self, shape: tuple[int, ...]) -> np.ndarray:
        """The minimum cut-off of each coordinate of an array of ``shape``."""
        cutoffs = np.full(shape, self.options.min_cutoff, np.float64)
        rows = [row for row in self.expression_points if row < shape[0]]
        cutoffs[rows] = self.options.expression_cutoff
        return cutoffs
