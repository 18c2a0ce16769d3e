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


@dataclass(frozen=True)
class OneEuroOptions:
    """Cut-offs in Hz; ``beta`` sets how fast the cut-off rises with speed (per pixel/s)."""

    min_cutoff: float = 1.0
    beta: float = 0.05
    derivative_cutoff: float = 1.0


def _alpha(cutoff: float, dt: float) -> float:
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@njit(cache=True, nogil=True)
def _one_euro_kernel(x, previous, derivative, dt, min_cutoff, beta, alpha_derivative):
    flat_x = x.reshape(-1)
    flat_previous = previous.reshape(-1)
    flat_derivative = derivative.reshape(-1)
    two_pi_dt = 2.0 * math.pi * dt
    for i in range(flat_x.size):
        raw_derivative = (flat_x[i] - flat_previous[i]) / dt
        d = flat_derivative[i] + alpha_derivative * (raw_derivative - flat_derivative[i])
        flat_derivative[i] = d
        cutoff = min_cutoff + beta * abs(d)
        alpha = two_pi_dt * cutoff / (1.0 + two_pi_dt * cutoff)
        flat_previous[i] = flat_previous[i] + alpha * (flat_x[i] - flat_previous[i])


def one_euro_step_reference(x, previous, derivative, dt, options: OneEuroOptions):
    """numpy twin of the kernel: updates ``previous`` and ``derivative`` in place."""
    alpha_derivative = _alpha(options.derivative_cutoff, dt)
    raw = (x - previous) / dt
    derivative += alpha_derivative * (raw - derivative)
    cutoff = options.min_cutoff + options.beta * np.abs(derivative)
    alpha = 1.0 / (1.0 + 1.0 / (2.0 * np.pi * cutoff * dt))
    previous += alpha * (x - previous)


class OneEuroFilter:
    """Smooths successive (N, D) landmark arrays given their timestamps in seconds."""

    def __init__(self, options: OneEuroOptions = OneEuroOptions()):
        if options.min_cutoff <= 0 or options.derivative_cutoff <= 0 or options.beta < 0:
            raise ValueError(f"got {options}, expected positive cut-offs and beta >= 0")
        self.options = options
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
            return x.astype(np.float32)
        dt = time_s - self._time
        self._time = time_s
        _one_euro_kernel(x, self._value, self._derivative, dt, self.options.min_cutoff,
                         self.options.beta, _alpha(self.options.derivative_cutoff, dt))
        return self._value.astype(np.float32)
