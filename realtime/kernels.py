"""Numba kernels for the per-frame pre- and post-processing, behind checked wrappers.

Each kernel is ``@njit(cache=True, nogil=True)``, writes into a preallocated array and
releases the GIL, so it can overlap with MediaPipe or LiteRT running in another thread.
Each has a plain numpy twin (``*_reference``) that the tests hold it equal to and the
benchmarks time it against; ``benchmarks/kernels.py`` shows where Numba wins.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# ---------------------------------------------------------------- value-range conversion


def input_lut(dtype: np.dtype, scale: float = 1.0, zero_point: int = 0) -> np.ndarray:
    """Map each uint8 sketch value to the generator's input: [-1, 1], quantised if int8/uint8."""
    real = np.arange(256, dtype=np.float64) / 127.5 - 1.0
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return real.astype(dtype)
    info = np.iinfo(dtype)
    if scale <= 0:
        raise ValueError(f"got quantisation scale {scale}, expected > 0")
    return np.clip(np.round(real / scale + zero_point), info.min, info.max).astype(dtype)


def output_lut(dtype: np.dtype, scale: float = 1.0, zero_point: int = 0) -> np.ndarray | None:
    """For a quantised output, map each of its 256 codes to a uint8 pixel; None for float."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return None
    codes = np.arange(np.iinfo(dtype).min, np.iinfo(dtype).max + 1, dtype=np.int64)
    real = (codes - zero_point) * scale
    return np.clip(np.round((real + 1.0) * 127.5), 0, 255).astype(np.uint8)


@njit(cache=True, nogil=True)
def _apply_lut_kernel(source, lut, out):
    flat_source = source.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_source.size):
        flat_out[i] = lut[flat_source[i]]


@njit(cache=True, nogil=True)
def _apply_signed_lut_kernel(source, lut, offset, out):
    flat_source = source.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_source.size):
        flat_out[i] = lut[np.int64(flat_source[i]) + offset]


@njit(cache=True, nogil=True)
def _float_to_uint8_kernel(source, out):
    flat_source = source.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_source.size):
        value = (flat_source[i] + 1.0) * 127.5 + 0.5
        if value < 0.0:
            value = 0.0
        elif value > 255.0:
            value = 255.0
        flat_out[i] = np.uint8(value)


def _check_pair(source: np.ndarray, out: np.ndarray) -> None:
    if source.shape != out.shape:
        raise ValueError(f"got shapes {source.shape} and {out.shape}, expected equal shapes")
    if not (source.flags.c_contiguous and out.flags.c_contiguous):
        raise ValueError("got a non-contiguous array, expected C-contiguous arrays")


def sketch_to_input(sketch: np.ndarray, lut: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Write ``lut[sketch]`` into ``out`` (the generator's input tensor)."""
    if sketch.dtype != np.uint8 or lut.shape != (256,) or out.dtype != lut.dtype:
        raise ValueError(f"got sketch {sketch.dtype}, lut {lut.shape} {lut.dtype}, out {out.dtype}; "
                         "expected uint8 sketch and a 256-entry lut of out's dtype")
    _check_pair(sketch, out)
    _apply_lut_kernel(sketch, lut, out)
    return out


def sketch_to_input_reference(sketch: np.ndarray, lut: np.ndarray, out: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`sketch_to_input`."""
    np.take(lut, sketch, out=out)
    return out


def output_to_image(output: np.ndarray, lut: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """The generator's output tensor as a uint8 image, written into ``out``."""
    if out.dtype != np.uint8:
        raise ValueError(f"got out {out.dtype}, expected uint8")
    _check_pair(output, out)
    if output.dtype.kind == "f":
        _float_to_uint8_kernel(output, out)
    else:
        if lut is None or lut.shape != (256,):
            raise ValueError("got a quantised output without its 256-entry lut")
        _apply_signed_lut_kernel(output, lut, -int(np.iinfo(output.dtype).min), out)
    return out


def output_to_image_reference(output: np.ndarray, lut: np.ndarray | None, out: np.ndarray) -> np.ndarray:
    """numpy/OpenCV twin of :func:`output_to_image`."""
    if output.dtype.kind == "f":
        out[:] = np.clip((output.astype(np.float64) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    else:
        np.take(lut, output.astype(np.int64) - np.iinfo(output.dtype).min, out=out)
    return out


# ------------------------------------------------------------------------ dimming


@njit(cache=True, nogil=True)
def _dim_kernel(source, numerator, out):
    flat_source = source.reshape(-1)
    flat_out = out.reshape(-1)
    for i in range(flat_source.size):
        flat_out[i] = np.uint8((np.int32(flat_source[i]) * numerator) >> 8)


def dim(image: np.ndarray, factor: float, out: np.ndarray) -> np.ndarray:
    """``image * factor`` for uint8 images (the 'no face' frame), in fixed point."""
    if not 0.0 <= factor <= 1.0 or image.dtype != np.uint8:
        raise ValueError(f"got factor {factor} on {image.dtype}, expected 0..1 on uint8")
    _check_pair(image, out)
    _dim_kernel(image, np.int32(round(factor * 256)), out)
    return out


def dim_reference(image: np.ndarray, factor: float, out: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`dim`."""
    out[:] = ((image.astype(np.int32) * int(round(factor * 256))) >> 8).astype(np.uint8)
    return out


# ------------------------------------------------------------------------ blending


@njit(cache=True, nogil=True)
def _blend_kernel(background, face, mask, out):
    height, width = mask.shape
    for y in range(height):
        for x in range(width):
            weight = mask[y, x]
            for c in range(3):
                if weight <= 0.0:
                    out[y, x, c] = background[y, x, c]
                else:
                    value = background[y, x, c] + weight * (np.float32(face[y, x, c]) - background[y, x, c])
                    out[y, x, c] = np.uint8(min(255.0, max(0.0, value + 0.5)))


def blend(background: np.ndarray, face: np.ndarray, mask: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``background + mask * (face - background)``, rounded, for (H, W, 3) uint8 images and a
    (H, W) float32 mask in [0, 1]; where the mask is 0 the background is copied exactly."""
    if mask.dtype != np.float32 or mask.shape != background.shape[:2]:
        raise ValueError(f"got mask {mask.shape} {mask.dtype}, expected {background.shape[:2]} float32")
    _check_pair(background, face)
    _check_pair(background, out)
    _blend_kernel(background, face, mask, out)
    return out


def blend_reference(background: np.ndarray, face: np.ndarray, mask: np.ndarray, out: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`blend`."""
    weight = mask[:, :, None].astype(np.float32)
    value = background.astype(np.float32) + weight * (face.astype(np.float32) - background.astype(np.float32))
    out[:] = np.where(weight > 0, np.clip(np.floor(value + 0.5), 0, 255), background).astype(np.uint8)
    return out
