"""The generator's architecture choices and the shipped recipe's values, without Keras.

One source of truth for the builders (:mod:`models.networks`), the training
configuration (:mod:`training.config`), export and the benchmarks' variants: importing
this module costs nothing, so the CLI and the live loop may read it too.
"""

from __future__ import annotations

from dataclasses import dataclass

# Decoder upsampling: resize-then-convolve, transposed convolution (pix2pix), convolve at
# low resolution then resize, or resize then depthwise-separable convolutions.
UPSAMPLE_MODES = ("resize", "transpose", "low-resolution", "separable")
# Export formats: float, float16 weights, or full integer with int8 in and out.
QUANTIZATIONS = ("fp32", "fp16", "int8")


@dataclass(frozen=True)
class GeneratorShape:
    """What defines the U-Net generator; the defaults are the shipped model's (MODEL_CARD.md)."""

    size: int = 256
    # Width 16 is the shipped model's: width 32 took 3x longer on 2 cores.
    width: int = 16
    depth: int | None = None  # U-Net levels; None = down to a 1 x 1 bottleneck
    upsample: str = "separable"  # resize, then depthwise-separable convolutions from 32 x 32 up
    dropout: float = 0.5
    # A second input, a real photo of the target (an aligned crop from the same footage):
    # the generator takes hair, clothes and light from it and only expression and pose
    # from the sketch. Those differ from sentence to sentence in ways no sketch tells
    # (copying a clip's first frame scores 28 dB against its other frames, a fixed
    # frame 19 dB), so a sketch-only generator can only draw their average.
    appearance: bool = False


SHIPPED = GeneratorShape()
# pix2pix uses 64; half of it keeps a CPU training step affordable (docs/training.md).
SHIPPED_DISCRIMINATOR_WIDTH = 32
