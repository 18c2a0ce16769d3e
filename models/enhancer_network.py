"""The face enhancer: a 256-px face in, the same face at 512 with its detail restored.

Small enough for the live loop on a CPU (int8, about 3 ms on two cores): the input is
folded into 128x128 blocks of 2x2 pixels (lossless), a few residual blocks of 3x3
convolutions work at that size, and two sub-pixel shuffles (each followed by a 3x3
convolution) draw a 512-px residual added to the bilinear enlargement of the input. The
last convolution starts at zero, so an untrained enhancer is plain bilinear enlargement
and training only ever adds detail.
"""

from __future__ import annotations

import keras
from keras import layers

SCALE = 2  # output side over input side
FINE_WIDTH = 16  # channels at the input's size, before the last doubling


@keras.saving.register_keras_serializable(package="reenact")
class PixelShuffle(layers.Layer):
    """depth_to_space (block ``block``) or, with ``inverse``, space_to_depth: TFLite runs both in int8."""

    def __init__(self, block: int, inverse: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.block, self.inverse = block, inverse

    def call(self, x):
        shuffle = keras.ops.space_to_depth if self.inverse else keras.ops.depth_to_space
        return shuffle(x, self.block)

    def get_config(self) -> dict:
        return {**super().get_config(), "block": self.block, "inverse": self.inverse}


def build_enhancer(width: int = 48, blocks: int = 3, size: int | None = None) -> keras.Model:
    """The enhancer for (size, size, 3) faces in [-1, 1] (any even size when None), drawing twice that size."""
    if width < 1 or blocks < 0:
        raise ValueError(f"got width {width} and blocks {blocks}, expected width >= 1 and blocks >= 0")
    face = keras.Input((size, size, 3), name="face")
    base = layers.UpSampling2D(SCALE, interpolation="bilinear", name="enlarged")(face)
    x = PixelShuffle(2, inverse=True, name="fold")(face)
    x = layers.Conv2D(width, 3, padding="same", activation="relu", name="entry")(x)
    for index in range(blocks):
        y = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"block{index}_a")(x)
        y = layers.Conv2D(width, 3, padding="same", name=f"block{index}_b")(y)
        x = layers.Add(name=f"block{index}")([x, y])
    # Up in two doublings, each followed by a 3x3 convolution at its new size: one 4x4
    # shuffle drew a visible 4-pixel lattice on skin, since each pixel of a block came
    # from its own channel with nothing to smooth across blocks.
    x = PixelShuffle(2, name="unfold_input_size")(layers.Conv2D(4 * FINE_WIDTH, 3, padding="same", name="up")(x))
    x = layers.ReLU()(x)
    residual = layers.Conv2D(3 * SCALE * SCALE, 3, padding="same", kernel_initializer="zeros", name="detail")(x)
    residual = PixelShuffle(SCALE, name="unfold")(residual)
    return keras.Model(face, layers.Add(name="restored")([base, residual]), name="enhancer")


def build_critic(width: int = 32) -> keras.Model:
    """A small PatchGAN for training only: judges (enlarged input, face) pairs at the output's size."""
    pair = keras.Input((None, None, 6), name="pair")
    x = pair
    for index, filters in enumerate((width, 2 * width, 4 * width)):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"down{index}")(x)
        x = layers.LeakyReLU(0.2)(x)
    return keras.Model(pair, layers.Conv2D(1, 3, padding="same", name="logits")(x), name="critic")
