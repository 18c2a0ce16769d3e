"""Image and face measures for data preparation and evaluation; no TensorFlow here.

Image metrics compare uint8 images on the 0-255 scale. Expression measures are ratios
to the inter-ocular distance, so they do not depend on the crop size or the alignment;
head angles come from MediaPipe's facial transformation matrix. The same definitions
describe the target's range (``target_profile.json``, exported into the model) and the
driver's, which is what lets the live loop map one onto the other.
"""

from __future__ import annotations

import math

import numpy as np

from models import face_topology as topology


def _as_float_images(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if first.shape != second.shape:
        raise ValueError(f"got images of shapes {first.shape} and {second.shape}, expected equal shapes")
    return first.astype(np.float64), second.astype(np.float64)


def psnr(first: np.ndarray, second: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB; ``inf`` for identical images."""
    first, second = _as_float_images(first, second)
    mean_squared_error = float(np.mean((first - second) ** 2))
    if mean_squared_error == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range ** 2 / mean_squared_error)


def l1(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute difference, in the images' own units (0-255 for uint8)."""
    first, second = _as_float_images(first, second)
    return float(np.mean(np.abs(first - second)))


def ssim(first: np.ndarray, second: np.ndarray, data_range: float = 255.0) -> float:
    """Structural similarity of two (H, W) or (H, W, C) images, averaged over channels."""
    from skimage.metrics import structural_similarity

    first, second = _as_float_images(first, second)
    channel_axis = 2 if first.ndim == 3 else None
    return float(structural_similarity(first, second, data_range=data_range, channel_axis=channel_axis))


def pearson_correlation(first, second) -> float:
    """Pearson's r of two equally long sequences; ``nan`` when either is constant."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"got sequences of shapes {first.shape} and {second.shape}, expected equal 1-D")
    if len(first) < 2:
        return math.nan
    first, second = first - first.mean(), second - second.mean()
    denominator = math.sqrt(float(np.sum(first ** 2) * np.sum(second ** 2)))
    return float(np.sum(first * second) / denominator) if denominator > 0 else math.nan


def landmark_nme(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Mean 2-D point distance normalised by the reference face's inter-ocular distance."""
    predicted, reference = np.asarray(predicted), np.asarray(reference)
    if predicted.shape[0] != reference.shape[0]:
        raise ValueError(f"got {predicted.shape[0]} and {reference.shape[0]} landmarks, expected equal counts")
    distances = np.linalg.norm(predicted[:, :2].astype(np.float64) - reference[:, :2], axis=1)
    return float(distances.mean() / topology.inter_ocular(reference))


def robust_range(values, low_percentile: float = 2.0, high_percentile: float = 98.0) -> list[float]:
    """[low, high] percentiles of ``values``: the range without its rare outliers."""
    values = np.asarray(values, np.float64)
    if values.size == 0:
        raise ValueError("got no values, expected at least one")
    return [float(np.percentile(values, low_percentile)), float(np.percentile(values, high_percentile))]


def sharpness(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Detail: the variance of the Laplacian of the grey image, inside ``mask`` (0/1) when given.

    A ratio of two faces' sharpness at the same size says how much of one's detail the
    other keeps (the enhancer's measure; 1.0 for as much).
    """
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    laplacian = cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F)
    values = laplacian[mask.astype(bool)] if mask is not None else laplacian
    return float(np.var(values)) if values.size else float("nan")
