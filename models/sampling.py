"""Evenly spread picks: a data set thinned for a quick measure, the frames of a contact sheet."""

from __future__ import annotations

import numpy as np


def spread(count: int, limit: int) -> np.ndarray:
    """At most ``limit`` indices spread evenly over ``range(count)``, first and last included, ascending."""
    if count <= limit:
        return np.arange(count)
    return np.unique(np.linspace(0, count - 1, limit).round().astype(int))
