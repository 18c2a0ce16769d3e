"""How a sharp face is made as soft as the faces the live loop draws: the enhancer's data.

The loop's faces come from GRID video: s1's face is about 136 pixels tall from forehead
(landmark 10) to chin (152), MPEG-compressed, drawn by the generator at 256 (softer still)
and shown at 512. :func:`degrade` does the same to a sharp aligned 512-px face: it shrinks
the face to ``face_px`` pixels, compresses it as JPEG (the same 8x8 DCT blocks and 4:2:0
chroma as MPEG), enlarges it to the 256-px crop, blurs it by the generator's softness and
adds sensor noise. The enhancer learns to undo this on random degradations
(:func:`random_degradation`) and is measured on the fixed one, :data:`STATED`: the
project's stated way.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models.alignment import DEFAULT_MARGIN

LIVE_SIZE = 256  # the crop the generator draws and the enhancer takes
SHARP_SIZE = 512  # the crop the enhancer draws


@dataclass(frozen=True)
class Degradation:
    """One way a face loses its detail (all at the sharp face's alignment)."""

    face_px: float = 136.0  # forehead-to-chin height the face is shrunk to
    jpeg_quality: int = 50
    blur_sigma: float = 1.0  # Gaussian blur in 256-crop pixels: the generator's softness
    noise: float = 1.5  # Gaussian noise, grey levels

    def small_size(self, margin: float = DEFAULT_MARGIN) -> int:
        """The crop's side once its face is ``face_px`` tall (the face fills 1 - 2 margin of it)."""
        return max(16, round(self.face_px / (1.0 - 2.0 * margin)))


STATED = Degradation()  # what `reenact eval --enhancer` and the validation use


def random_degradation(rng: np.random.Generator) -> Degradation:
    """A degradation around :data:`STATED`, wide enough that faces a little sharper or softer fit too."""
    return Degradation(face_px=float(rng.uniform(100.0, 190.0)), jpeg_quality=int(rng.integers(25, 90)),
                       blur_sigma=float(rng.uniform(0.3, 1.6)), noise=float(rng.uniform(0.0, 3.0)))


def degrade(sharp: np.ndarray, how: Degradation = STATED, rng: np.random.Generator | None = None,
            margin: float = DEFAULT_MARGIN) -> np.ndarray:
    """The (256, 256, 3) uint8 face the loop would hand the enhancer, from a sharp aligned BGR crop.

    ``rng`` draws the noise; None uses a fixed seed, so a measurement repeats exactly.
    """
    small = how.small_size(margin)
    face = cv2.resize(sharp, (small, small), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(how.jpeg_quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    face = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    face = cv2.resize(face, (LIVE_SIZE, LIVE_SIZE), interpolation=cv2.INTER_CUBIC)
    if how.blur_sigma > 0:
        face = cv2.GaussianBlur(face, (0, 0), how.blur_sigma)
    if how.noise > 0:
        rng = rng if rng is not None else np.random.default_rng(0)
        face = np.clip(face + rng.normal(0.0, how.noise, face.shape), 0, 255).astype(np.uint8)
    return face


def enlarge(face: np.ndarray, size: int = SHARP_SIZE) -> np.ndarray:
    """Plain bicubic enlargement: what the enhancer is measured against."""
    return cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
