"""Where a swapped face counts: the face mask from landmarks, in aligned-crop pixels.

One implementation for both halves: training weighs its loss inside the mask (and more on
eyes and mouth), the live loop pastes the decoded face back through the same mask,
eroded and feathered so that no seam shows at the jaw or the hairline, and both show the
encoder the face alone (:func:`face_only`).
"""

from __future__ import annotations

import cv2
import numpy as np

from models.face_topology import FACE_OVAL, LEFT_BROW, LEFT_EYE, LIPS_OUTER, RIGHT_BROW, RIGHT_EYE

FEATURES = (LEFT_EYE + LEFT_BROW, RIGHT_EYE + RIGHT_BROW, LIPS_OUTER)
FEATURE_MARGIN = 0.03  # eyes, brows and lips reach this share of the crop beyond their contours
FEATHER = 0.06  # the paste mask is eroded, then blurred, by this share of the crop
# Swap by re-enactment pastes a whole face (the generator draws the crop), so its paste reaches
# nearer the jaw and the hairline: eroded by 0.02 and blurred by 0.03, the recognizer put the
# swapped expressive_34s at 0.38 from s1 instead of 0.44, with more of his brows and cheeks shown.
THIN_FEATHER = (0.02, 0.03)
OUTSIDE_GREY = 128  # what the encoder sees beyond the face: 0 in the networks' [-1, 1]
# A swap model's architecture["input"]: what its encoder was trained on, so the live loop shows the same.
FACE_INPUT, CROP_INPUT = "face", "crop"  # the face alone (face_only), or the whole aligned crop


def _ellipse(reach: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1))


def _feather_reach(size: int, share: float = FEATHER) -> int:
    return max(1, round(share * size))


def _fill(points: np.ndarray, size: int, groups) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    for group in groups:
        hull = cv2.convexHull(np.round(points[list(group), :2]).astype(np.int32))
        cv2.fillConvexPoly(mask, hull, 1)
    return mask


def face_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 of 0/1: inside the face oval of (478, 2+) aligned landmarks."""
    return _fill(points, size, (FACE_OVAL,))


def feature_mask(points: np.ndarray, size: int) -> np.ndarray:
    """(size, size) uint8 of 0/1: eyes with brows, and lips, widened by FEATURE_MARGIN."""
    mask = _fill(points, size, FEATURES)
    return cv2.dilate(mask, _ellipse(max(1, round(FEATURE_MARGIN * size))))


def feathered(mask: np.ndarray, erode: float = FEATHER, blur: float = FEATHER) -> np.ndarray:
    """A 0/1 mask eroded and blurred (each by that share of the crop) to (size, size) float32 in [0, 1]:
    1 well inside, 0 at its edge."""
    size = mask.shape[0]
    eroded = cv2.erode(mask.astype(np.float32), _ellipse(_feather_reach(size, erode)))
    return cv2.GaussianBlur(eroded, (0, 0), _feather_reach(size, blur) / 2.0)


def feather_dilated(mask: np.ndarray) -> np.ndarray:
    """A 0/1 mask grown by the feather width: beyond it no paste through :func:`feathered` reaches."""
    return cv2.dilate(mask, _ellipse(_feather_reach(mask.shape[0])))


def face_only(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """An aligned face (S, S, 3) uint8 as the encoder sees it: mid-grey beyond its face mask
    (``mask``, from :func:`face_mask`) grown by the feather width (so the jaw's edge stays in
    view). A background, hair or clothes the encoder never saw then cannot move its code: with
    the whole crop, a grey wall behind a driver (the source side was filmed against blue) drew
    a blur of no one."""
    keep = feather_dilated(mask).astype(bool)
    return np.where(keep[:, :, None], image, np.uint8(OUTSIDE_GREY))
