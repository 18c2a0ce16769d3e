"""Post-processing: the generated face scaled to the output size and laid out.

Layouts: ``target`` (the generated face alone), ``side-by-side`` (the driver's frame,
then the face) and ``pip`` (the face with the driver in a corner). A run keeps one frame
size from start to end (a video file and a virtual camera cannot change size), so a
layout switched to mid-run is letterboxed into the size of the layout it started with.
"""

from __future__ import annotations

import cv2
import numpy as np

LAYOUTS = ("target", "side-by-side", "pip")
DEFAULT_OUTPUT_SIZE = 512
_PIP_FRACTION = 0.3  # the driver's corner picture, as a fraction of the face's side


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"got layout {layout!r}, expected one of {', '.join(LAYOUTS)}")


def frame_shape(layout: str, output_size: int = DEFAULT_OUTPUT_SIZE) -> tuple[int, int]:
    """(height, width) of a frame composed in ``layout``."""
    _check_layout(layout)
    return (output_size, 2 * output_size) if layout == "side-by-side" else (output_size, output_size)


def next_layout(layout: str) -> str:
    """The layout after ``layout`` (the window's ``l`` key cycles through them)."""
    _check_layout(layout)
    return LAYOUTS[(LAYOUTS.index(layout) + 1) % len(LAYOUTS)]


def square(image: np.ndarray, size: int) -> np.ndarray:
    """The centre square of ``image``, scaled to ``size`` x ``size``."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[top:top + side, left:left + side]
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation)


def letterbox(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``image`` scaled to fit ``shape`` (height, width), centred on black."""
    height, width = shape
    if image.shape[:2] == (height, width):
        return image
    scale = min(height / image.shape[0], width / image.shape[1])
    fitted = cv2.resize(image, (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.zeros((height, width, 3), np.uint8)
    top, left = (height - fitted.shape[0]) // 2, (width - fitted.shape[1]) // 2
    canvas[top:top + fitted.shape[0], left:left + fitted.shape[1]] = fitted
    return canvas


def compose(layout: str, face: np.ndarray, driver: np.ndarray, output_size: int = DEFAULT_OUTPUT_SIZE,
            canvas_shape: tuple[int, int] | None = None) -> np.ndarray:
    """A new output frame: ``face`` (S, S, 3) and the driver's frame in ``layout``.

    ``canvas_shape`` (height, width), when given, is the run's fixed frame size.
    """
    _check_layout(layout)
    scaled_face = cv2.resize(face, (output_size, output_size), interpolation=cv2.INTER_LINEAR)
    if layout == "target":
        frame = scaled_face
    elif layout == "side-by-side":
        frame = np.hstack([square(driver, output_size), scaled_face])
    else:
        corner = max(8, round(output_size * _PIP_FRACTION))
        border = max(1, output_size // 256)
        frame = scaled_face
        bottom, right = output_size - border * 4, output_size - border * 4
        frame[bottom - corner - 2 * border:bottom, right - corner - 2 * border:right] = 255
        frame[bottom - corner - border:bottom - border, right - corner - border:right - border] = square(driver, corner)
    return letterbox(frame, canvas_shape) if canvas_shape is not None else frame
