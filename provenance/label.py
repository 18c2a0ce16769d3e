"""The "SYNTHETIC" mark burned into every frame the live loop emits.

A full-width banner across the top: white capitals on a saturated red band. It is
deliberately plain so that it stays legible after a lossy codec and so that a program
(the tests, or anyone auditing a recording) can detect it with :func:`label_present`.
There is no option to turn it off: every sink only ever receives labelled frames.
"""

from __future__ import annotations

import cv2
import numpy as np

LABEL_TEXT = "SYNTHETIC"
BANNER_BGR = (0, 0, 200)
TEXT_BGR = (255, 255, 255)
_FONT = cv2.FONT_HERSHEY_DUPLEX
_MIN_BANNER_PX = 18


def banner_height(frame_height: int) -> int:
    """Rows the banner covers in a frame of ``frame_height`` rows."""
    return max(_MIN_BANNER_PX, round(frame_height * 0.08))


def _fitted_text(text: str, max_width: int, max_height: int) -> tuple[float, int, tuple[int, int]]:
    """Font scale, thickness and text size that fit ``text`` into the box."""
    (width, height), _ = cv2.getTextSize(text, _FONT, 1.0, 2)
    scale = min(max_width / width, max_height / height)
    thickness = max(1, round(scale * 2))
    (width, height), _ = cv2.getTextSize(text, _FONT, scale, thickness)
    return scale, thickness, (width, height)


def burn_label(image: np.ndarray) -> np.ndarray:
    """Draw the banner into ``image`` (H, W, 3) uint8 BGR, in place, and return it."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"got image {image.shape} {image.dtype}, expected (H, W, 3) uint8")
    height, width = image.shape[:2]
    band = min(banner_height(height), height)
    image[:band] = BANNER_BGR
    scale, thickness, (text_width, text_height) = _fitted_text(LABEL_TEXT, int(width * 0.75), int(band * 0.62))
    origin = ((width - text_width) // 2, (band + text_height) // 2)
    cv2.putText(image, LABEL_TEXT, origin, _FONT, scale, TEXT_BGR, thickness, cv2.LINE_AA)
    return image


def label_present(image: np.ndarray, tolerance: int = 70) -> bool:
    """Whether ``image`` carries the banner, allowing for lossy compression.

    Checks the banner's rows (a little inside them, where codecs blur edges): most pixels
    are the banner's red, both margins beside the text are red, and a fair share of the
    middle is the text's white.
    """
    height, width = image.shape[:2]
    band = banner_height(height)
    rows = image[2:max(3, band - 2)].astype(np.int16)
    red = np.all(np.abs(rows - np.array(BANNER_BGR, np.int16)) <= tolerance, axis=2)
    white = np.all(rows >= 255 - tolerance, axis=2)
    margin = max(1, width // 12)  # the text leaves an eighth of the width free on each side
    middle = white[:, width // 4: width - width // 4]
    return bool(red.mean() >= 0.5 and red[:, :margin].mean() >= 0.9 and red[:, -margin:].mean() >= 0.9
                and middle.mean() >= 0.05)


def write_note(image: np.ndarray, text: str) -> np.ndarray:
    """A short status note (e.g. "no face") in a dark box at the bottom centre, in place."""
    height, width = image.shape[:2]
    box_height = max(14, round(height * 0.07))
    scale, thickness, (text_width, text_height) = _fitted_text(text, int(width * 0.5), int(box_height * 0.6))
    top, left = height - box_height - box_height // 2, (width - text_width) // 2 - box_height // 2
    cv2.rectangle(image, (left, top), (width - left, top + box_height), (32, 32, 32), -1)
    origin = ((width - text_width) // 2, top + (box_height + text_height) // 2)
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return image
