"""The invisible watermark every output frame carries: a keyed spread-spectrum pattern.

Embedding adds one fixed pattern to the frame's three channels alike (so to its luma): a
64 x 64 tile repeated over the frame, whose spectrum has unit magnitude and keyed random
phases at every frequency 4 to 14 cycles per tile (0.06 to 0.22 cycles per pixel). That
band survives JPEG at quality 50, an mp4 re-encode and halving the size, and lies above
the smooth shading most of an image's energy sits in. Half of the band's frequencies
(the *sync* set) always carry the key's phases; each of the other half belongs to one of
the 32 payload bits and carries the key's phase flipped by 180 degrees for a 0 bit. The
pattern is therefore built once per model and adding it costs two saturating OpenCV
passes a frame.

Detection takes the luma's fine detail divided by its local strength, folds it into
one tile (summing every 64 x 64 block), whitens the tile's spectrum (phase only, so the
image's own strong low frequencies weigh no more than the mark's), and correlates it
with the sync phases at every circular shift by one inverse FFT: a crop only moves the
peak. Resizing is undone by trying a few scales.
Under the null hypothesis (a frame never marked with this key) each band frequency
contributes ``2 cos(theta)`` with ``theta`` uniform and independent of the rest, so the
normalised score is a sum of bounded, independent, zero-mean terms: Bernstein's
inequality bounds its tail, and a union bound over every shift and scale tried gives the
per-frame false-positive probability (docs/watermark.md).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

KEY = b"reenact invisible watermark v1"
TILE = 64  # pixels: the pattern's period, and the size of the folded tile
BAND = (4.0, 14.0)  # radius of the marked frequencies, cycles per tile
STRENGTH = 2.0  # RMS of the pattern in 8-bit levels: about 42 dB PSNR
PROJECT_TAG = 0x5245  # "RE": the fixed half of the payload
TAG_BITS = MODEL_BITS = 16
PAYLOAD_BITS = TAG_BITS + MODEL_BITS
RESCALES = (1.0, 2.0, 2.0 / 3.0)  # undo no resize, a 0.5x and a 1.5x resize
FALSE_POSITIVE_RATE = 1e-6  # per frame, after the union bound over shifts and scales
_LOCAL_WINDOW = 7  # pixels: the neighbourhood of the detector's local normalisation
_LOCAL_FLOOR = 1.0  # 8-bit levels: keeps flat areas' rounding noise from being blown up
_TERM_BOUND = 2.0  # |2 cos(theta)|: each frequency pair's share of the score


@dataclass(frozen=True)
class Payload:
    """What the mark says: the project's tag and a 16-bit id of the model that drew the frame."""

    tag: int
    model: int

    @classmethod
    def for_model(cls, model_id_hex: str) -> "Payload":
        """The payload for a model whose :func:`models.generator_contract.model_id` is ``model_id_hex``."""
        return cls(PROJECT_TAG, int(model_id_hex[:MODEL_BITS // 4], 16))

    def bits(self) -> np.ndarray:
        """The 32 payload bits, most significant first, as 0/1 uint8."""
        if not (0 <= self.tag < 1 << TAG_BITS and 0 <= self.model < 1 << MODEL_BITS):
            raise ValueError(f"got tag {self.tag:#x} and model {self.model:#x}, expected 16-bit values")
        word = (self.tag << MODEL_BITS) | self.model
        return np.array([(word >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], np.uint8)

    @classmethod
    def from_bits(cls, bits) -> "Payload":
        """The payload that :meth:`bits` turned into ``bits`` (32 truthy/falsy values)."""
        word = 0
        for bit in bits:
            word = (word << 1) | int(bit)
        return cls(word >> MODEL_BITS, word & ((1 << MODEL_BITS) - 1))

    @property
    def model_hex(self) -> str:
        return f"{self.model:04x}"


@dataclass(frozen=True)
class _Layout:
    """The keyed frequency plan, one entry per pair {k, -k} of the band (identical for everyone)."""

    rows: np.ndarray  # frequency indices in the T x T FFT
    cols: np.ndarray
    phases: np.ndarray  # the key's phase at each frequency
    owner: np.ndarray  # -1: sync; 0..31: the payload bit this frequency carries

    @property
    def sync(self) -> np.ndarray:
        return self.owner < 0


@lru_cache(maxsize=1)
def layout() -> _Layout:
    """The band's frequencies, their keyed phases and which carry sync or which bit."""
    half = TILE // 2
    frequencies = [(u, v) for v in range(0, half) for u in range(-half + 1, half)
                   if (v > 0 or u > 0) and BAND[0] <= math.hypot(u, v) <= BAND[1]]
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(KEY).digest()[:8], "little"))
    phases = rng.uniform(0.0, 2.0 * np.pi, len(frequencies))
    order = rng.permutation(len(frequencies))
    owner = np.full(len(frequencies), -1, np.int64)
    payload_slots = order[len(frequencies) // 2:]  # a keyed half of the band carries the payload
    owner[payload_slots] = np.arange(payload_slots.size) % PAYLOAD_BITS
    u, v = np.array(frequencies).T
    return _Layout(rows=v % TILE, cols=u % TILE, phases=phases, owner=owner)


def pattern_tile(payload: Payload) -> np.ndarray:
    """The (TILE, TILE) float32 pattern for ``payload``, zero mean and unit RMS."""
    plan = layout()
    signs = np.ones(plan.owner.size)
    bits = payload.bits()
    carries = ~plan.sync
    signs[carries] = np.where(bits[plan.owner[carries]] == 1, 1.0, -1.0)
    spectrum = np.zeros((TILE, TILE), np.complex128)
    spectrum[plan.rows, plan.cols] = signs * np.exp(1j * plan.phases)
    spectrum[(-plan.rows) % TILE, (-plan.cols) % TILE] = signs * np.exp(-1j * plan.phases)
    tile = np.fft.ifft2(spectrum).real
    return (tile / np.sqrt(np.mean(tile ** 2))).astype(np.float32)


class Watermarker:
    """Adds the pattern for one payload to frames, in place; the live loop's ``watermark`` stage.

    The pattern is rounded to whole 8-bit levels and split into its positive and negative
    parts once per frame shape, so marking a frame is ``cv2.add`` then ``cv2.subtract``,
    both saturating and vectorised.
    """

    def __init__(self, payload: Payload, strength: float = STRENGTH):
        if strength <= 0:
            raise ValueError(f"got strength {strength}, expected > 0")
        self.payload = payload
        self._levels = np.round(pattern_tile(payload) * strength).astype(np.int16)
        self._planes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    @property
    def peak(self) -> int:
        """The largest change the mark makes to a pixel value, in 8-bit levels."""
        return int(np.abs(self._levels).max())

    def _planes_for(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        planes = self._planes.get((height, width))
        if planes is None:
            reps = (-(-height // TILE), -(-width // TILE))
            levels = np.tile(self._levels, reps)[:height, :width, None].repeat(3, axis=2)
            planes = (np.clip(levels, 0, 255).astype(np.uint8), np.clip(-levels, 0, 255).astype(np.uint8))
            self._planes[(height, width)] = planes
        return planes

    def embed(self, image: np.ndarray) -> np.ndarray:
        """Mark ``image`` (H, W, 3) uint8, in place, and return it."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"got image {image.shape} {image.dtype}, expected (H, W, 3) uint8")
        positive, negative = self._planes_for(*image.shape[:2])
        cv2.add(image, positive, dst=image)
        cv2.subtract(image, negative, dst=image)
        return image


# ---------------------------------------------------------------- detection


def candidates() -> int:
    """How many (scale, shift) hypotheses a frame's score is the maximum of."""
    return len(RESCALES) * TILE * TILE


def tail_bound(score: float) -> float:
    """Bernstein's bound on P(score >= ``score``) for one hypothesis on an unmarked frame.

    The score is a sum of n independent terms ``2 cos(theta)``, |term| <= 2, variance 2,
    divided by its standard deviation sqrt(2 n); n is the size of the sync set.
    """
    if score <= 0:
        return 1.0
    sigma = math.sqrt(2.0 * int(layout().sync.sum()))
    return math.exp(-score * score / (2.0 * (1.0 + _TERM_BOUND * score / (3.0 * sigma))))


def p_value(score: float, hypotheses: int = 1) -> float:
    """The probability that an unmarked frame scores this high, over ``hypotheses`` frames' worth of candidates."""
    return min(1.0, candidates() * hypotheses * tail_bound(score))


@lru_cache(maxsize=1)
def threshold() -> float:
    """The lowest score whose per-frame false-positive probability is at most FALSE_POSITIVE_RATE."""
    low, high = 0.0, 100.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if p_value(middle) > FALSE_POSITIVE_RATE else (low, middle)
    return high


@dataclass(frozen=True)
class Detection:
    """One frame's verdict: the best hypothesis's score and what its payload bits say."""

    score: float  # sync correlation, in standard deviations of the null
    p_value: float  # per-frame false-positive probability of a score this high
    detected: bool
    bit_scores: np.ndarray  # per payload bit, signed, in null standard deviations
    rescale: float
    shift: tuple[int, int]

    @property
    def payload(self) -> Payload:
        return Payload.from_bits(self.bit_scores > 0)


def luma(image: np.ndarray) -> np.ndarray:
    """float32 luma of a BGR or grey uint8 image."""
    if image.ndim == 2:
        return image.astype(np.float32)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    raise ValueError(f"got image of shape {image.shape}, expected (H, W) or (H, W, 3)")


def local_residual(grey: np.ndarray) -> np.ndarray:
    """The luma's fine detail, divided by its local strength.

    Edges (the label's letters, the face's outline) hold far more energy in the band than
    the mark does, but in few places; dividing by the local RMS lets the flat regions,
    where the mark dominates, speak as loudly. It multiplied the score after a double mp4
    re-encode at 256x256 by two (docs/watermark.md). Being nonlinear, it is not undone by the
    whitening that follows, and the null argument does not depend on it.
    """
    residual = grey - cv2.blur(grey, (_LOCAL_WINDOW, _LOCAL_WINDOW))
    strength = np.sqrt(np.maximum(cv2.blur(residual * residual, (_LOCAL_WINDOW, _LOCAL_WINDOW)), 0.0))
    return residual / (strength + _LOCAL_FLOOR)


def whitened_band(grey: np.ndarray) -> np.ndarray:
    """The folded tile's spectrum at the band's frequencies, magnitudes set to one."""
    height, width = grey.shape
    padded = np.zeros((-(-height // TILE) * TILE, -(-width // TILE) * TILE), np.float32)
    padded[:height, :width] = local_residual(grey)
    folded = padded.reshape(padded.shape[0] // TILE, TILE, padded.shape[1] // TILE, TILE).sum(axis=(0, 2))
    plan = layout()
    band = np.fft.fft2(folded)[plan.rows, plan.cols]
    magnitude = np.abs(band)
    return np.where(magnitude > 1e-9, band / np.maximum(magnitude, 1e-9), 0.0)


def sync_scores(whitened: np.ndarray) -> np.ndarray:
    """(TILE, TILE) normalised correlation with the sync phases at every circular shift."""
    plan = layout()
    sync = plan.sync
    product = np.zeros((TILE, TILE), np.complex128)
    terms = whitened[sync] * np.exp(-1j * plan.phases[sync])
    product[plan.rows[sync], plan.cols[sync]] = terms
    product[(-plan.rows[sync]) % TILE, (-plan.cols[sync]) % TILE] = np.conj(terms)
    # ifft2 sums each pair's two conjugate terms, 2 cos(theta): variance 2 per pair.
    return np.fft.ifft2(product).real * (TILE * TILE) / math.sqrt(2.0 * sync.sum())


def _bit_scores(whitened: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """Signed, normalised correlation of each payload bit's frequencies at ``shift``."""
    plan = layout()
    rotation = np.exp(2j * np.pi * (plan.rows * shift[0] + plan.cols * shift[1]) / TILE)
    terms = 2.0 * (whitened * np.exp(-1j * plan.phases) * rotation).real
    carries = ~plan.sync
    sums = np.bincount(plan.owner[carries], terms[carries], minlength=PAYLOAD_BITS)
    counts = np.bincount(plan.owner[carries], minlength=PAYLOAD_BITS)
    return sums / np.sqrt(2.0 * counts)


def detect(image: np.ndarray) -> Detection:
    """Look for the mark in one frame (BGR or grey uint8), at every shift and each rescale."""
    grey = luma(image)
    if min(grey.shape) < 16:
        raise ValueError(f"got a {grey.shape[1]}x{grey.shape[0]} image, expected at least 16x16 pixels")
    best = None
    for rescale in RESCALES:
        size = (max(1, round(grey.shape[1] * rescale)), max(1, round(grey.shape[0] * rescale)))
        scaled = grey if rescale == 1.0 else cv2.resize(
            grey, size, interpolation=cv2.INTER_AREA if rescale < 1 else cv2.INTER_LINEAR)
        whitened = whitened_band(scaled)
        scores = sync_scores(whitened)
        row, col = np.unravel_index(int(np.argmax(scores)), scores.shape)
        if best is None or scores[row, col] > best[0]:
            best = (float(scores[row, col]), rescale, (int(row), int(col)), whitened)
    score, rescale, shift, whitened = best
    probability = p_value(score)
    return Detection(score=score, p_value=probability, detected=score >= threshold(),
                     bit_scores=_bit_scores(whitened, shift), rescale=rescale, shift=shift)


def psnr(marked: np.ndarray, original: np.ndarray) -> float:
    """Peak signal-to-noise ratio of ``marked`` against ``original``, dB."""
    error = np.mean((marked.astype(np.float64) - original.astype(np.float64)) ** 2)
    return float("inf") if error == 0 else 10.0 * math.log10(255.0 ** 2 / error)
