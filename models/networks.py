"""pix2pix networks as Keras Functional-API builders: a U-Net generator and a PatchGAN.

Both networks take BGR images scaled to [-1, 1]. They use only ops that LiteRT runs
well, XNNPACK included, and that quantise to full integer: Conv2D, Conv2DTranspose,
depthwise-separable Conv2D, nearest-neighbour resize, Concatenate, batch normalisation
(folded into the convolution at export), ReLU, LeakyReLU and a final tanh. Dropout and batch normalisation follow
Keras' training flag, so ``model(x, training=False)`` (and any exported model) is
deterministic: dropout is off and batch normalisation uses its moving statistics.

Shape comments give the default generator (size 256, width 32) or the default
discriminator (size 256, width 64); ``L`` stands for a level of the U-Net.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from models.generator_recipe import SHIPPED, UPSAMPLE_MODES

MAX_WIDTH_MULTIPLIER = 8  # channels stop doubling at 8 x width, as in pix2pix (64 -> 512)
DROPOUT_LEVELS = 3  # pix2pix drops out in the three innermost decoder blocks
# "separable" keeps full convolutions in decoder blocks whose output is at most this
# fraction of the input size (16 x 16 and smaller at 256): they hold half the decoder's
# weights but little of its time, so making them separable saves little (docs/speed.md).
SEPARABLE_FULL_FRACTION = 1 / 16


def _initializer() -> keras.initializers.Initializer:
    # pix2pix initialises every convolution from N(0, 0.02).
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def default_depth(size: int) -> int:
    """The pix2pix depth: downsample until the bottleneck is 1 x 1 (8 levels at 256)."""
    return int(math.log2(size))


def _check_size(size: int, depth: int) -> None:
    if size < 16 or size % (2 ** depth) != 0:
        raise ValueError(
            f"got size {size} with depth {depth}, expected a size of at least 16 that is "
            f"divisible by 2**depth = {2 ** depth} (a power of two such as 64, 128 or 256)")


def level_width(width: int, level: int) -> int:
    """Channels of the encoder block at ``level`` (0 = full resolution side)."""
    return width * min(2 ** level, MAX_WIDTH_MULTIPLIER)


def _norm(dtype, synchronized: bool, name: str):
    # Synchronised batch norm computes the statistics of the global batch across replicas:
    # several workers then train exactly like one device, and their moving averages agree.
    return layers.BatchNormalization(synchronized=synchronized, dtype=dtype, name=name)


def _down(x, filters: int, normalise: bool, dtype, synchronized: bool, name: str):
    """Halve the resolution: strided 4 x 4 convolution, batch norm, LeakyReLU(0.2)."""
    x = layers.Conv2D(filters, 4, strides=2, padding="same", use_bias=not normalise,
                      kernel_initializer=_initializer(), dtype=dtype, name=f"{name}_conv")(x)
    if normalise:
        x = _norm(dtype, synchronized, f"{name}_norm")(x)
    return layers.LeakyReLU(0.2, dtype=dtype, name=f"{name}_relu")(x)


def _upsample(x, filters: int, mode: str, use_bias: bool, dtype, name: str):
    """Double the resolution, by transposed convolution or resize-then-convolve.

    Resize-then-convolve avoids checkerboard artefacts and is far faster than a
    transposed convolution once quantised to int8 on CPU. "separable" resizes, then
    convolves each channel 3 x 3 on its own and mixes channels 1 x 1: at the U-Net's
    widths about a seventh of the multiply-adds of a full 3 x 3 convolution.
    """
    if mode == "transpose":
        return layers.Conv2DTranspose(filters, 4, strides=2, padding="same", use_bias=use_bias,
                                      kernel_initializer=_initializer(), dtype=dtype,
                                      name=f"{name}_conv")(x)
    x = _resize(x, dtype, name)
    if mode == "separable":
        return layers.SeparableConv2D(filters, 3, padding="same", use_bias=use_bias,
                                      depthwise_initializer=_initializer(), pointwise_initializer=_initializer(),
                                      dtype=dtype, name=f"{name}_conv")(x)
    return layers.Conv2D(filters, 3, padding="same", use_bias=use_bias,
                         kernel_initializer=_initializer(), dtype=dtype, name=f"{name}_conv")(x)


def _resize(x, dtype, name: str, interpolation: str = "nearest"):
    return layers.UpSampling2D(2, interpolation=interpolation, dtype=dtype, name=f"{name}_resize")(x)


def build_generator(size: int = SHIPPED.size, width: int = SHIPPED.width, depth: int | None = SHIPPED.depth,
                    upsample: str = SHIPPED.upsample, dropout: float = SHIPPED.dropout,
                    appearance: bool = SHIPPED.appearance, dtype=None,
                    synchronized_norm: bool = False, name: str = "generator") -> keras.Model:
    """The pix2pix U-Net: sketch (size, size, 3) in [-1, 1] to photo (size, size, 3) in [-1, 1].

    With ``appearance``, the inputs are ``[sketch, appearance]``: a real aligned photo of the
    target, (size, size, 3) in [-1, 1], stacked onto the sketch as three more channels
    (aligned crops put the photo's hair where the output's hair goes, so the U-Net's
    skips can carry it across).

    ``width`` is the first level's channel count (pix2pix uses 64); channels double per
    level up to 8 x width. ``depth`` levels of downsampling (default: down to 1 x 1).
    ``upsample`` is "resize" (nearest resize then 3 x 3 convolution), "transpose"
    (4 x 4 transposed convolution, as in pix2pix), "separable" (nearest resize then a
    depthwise-separable 3 x 3 convolution in the decoder blocks from 32 x 32 up; the small
    inner blocks and the output layer, which draws the pixels from 32 channels, stay full
    convolutions) or "low-resolution": the inner decoder blocks convolve first and resize
    (bilinear) after, on a quarter of the pixels, while the outermost block and the output
    layer stay resize-then-convolve: with every block at low resolution, or with nearest
    resizes, the generator painted visible 4 x 4 blocks (models/MODEL_CARD.md).
    ``dropout`` applies to the three innermost decoder blocks during training only. ``dtype`` is a Keras dtype policy
    such as "mixed_bfloat16"; the output is always float32. ``synchronized_norm``
    computes batch statistics across tf.distribute replicas while training (the weights
    are the same either way).
    """
    depth = default_depth(size) if depth is None else depth
    _check_size(size, depth)
    if upsample not in UPSAMPLE_MODES:
        raise ValueError(f"got upsample {upsample!r}, expected one of {UPSAMPLE_MODES}")
    if width < 1 or depth < 1:
        raise ValueError(f"got width {width} and depth {depth}, expected both at least 1")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"got dropout {dropout}, expected 0 <= dropout < 1")

    sketch = keras.Input((size, size, 3), name="sketch")  # (batch, 256, 256, 3)
    inputs = sketch
    x = sketch
    if appearance:
        photo_in = keras.Input((size, size, 3), name="appearance")  # (batch, 256, 256, 3)
        inputs = [sketch, photo_in]
        x = layers.Concatenate(dtype=dtype, name="sketch_appearance")(inputs)  # (batch, 256, 256, 6)
    skips = []
    for level in range(depth):
        # Level L: (batch, 256 / 2**(L+1), 256 / 2**(L+1), level_width(32, L)):
        # (batch, 128, 128, 32), (64, 64, 64), (32, 32, 128), (16, 16, 256), then 256 channels down to (1, 1, 256).
        # No batch norm on the first level (as in pix2pix) nor on the 1-pixel-wide
        # bottleneck, where batch statistics over a handful of values are mostly noise.
        normalise = 0 < level < depth - 1
        x = _down(x, level_width(width, level), normalise, dtype, synchronized_norm, f"down{level}")
        skips.append(x)

    # How the layers that work at full resolution upsample: "low-resolution" keeps them
    # resize-then-convolve.
    full_resolution_mode = "resize" if upsample == "low-resolution" else upsample
    # The output layer: a full convolution for "separable" too (1 x 1 mixing down to three
    # colours would leave each pixel's colour to a single 3 x 3 filter per channel).
    output_mode = "resize" if upsample == "separable" else full_resolution_mode
    for level in reversed(range(depth - 1)):
        # Level L: (batch, 256 / 2**(L+1), 256 / 2**(L+1), level_width(32, L)), then the
        # skip from encoder level L doubles the channels: (batch, 2, 2, 512), (4, 4, 512),
        # (8, 8, 512), (16, 16, 512), (32, 32, 256), (64, 64, 128), (128, 128, 64).
        low_resolution = upsample == "low-resolution" and level > 0  # the outermost block stays full-size
        if low_resolution:
            # Convolve, normalise and activate on a quarter of the pixels, then resize:
            # a quarter of the multiply-adds, and the batch norm still folds into the
            # convolution at export because nothing stands between them.
            x = layers.Conv2D(level_width(width, level), 3, padding="same", use_bias=False,
                              kernel_initializer=_initializer(), dtype=dtype, name=f"up{level}_conv")(x)
        else:
            block_mode = full_resolution_mode
            if upsample == "separable" and size // 2 ** (level + 1) <= size * SEPARABLE_FULL_FRACTION:
                block_mode = "resize"
            x = _upsample(x, level_width(width, level), block_mode, False, dtype, f"up{level}")
        x = _norm(dtype, synchronized_norm, f"up{level}_norm")(x)
        if dropout > 0 and level >= depth - 1 - DROPOUT_LEVELS:
            x = layers.Dropout(dropout, dtype=dtype, name=f"up{level}_dropout")(x)
        x = layers.ReLU(dtype=dtype, name=f"up{level}_relu")(x)
        if low_resolution:
            # Bilinear: nearest-neighbour copies would reach the full-resolution layers as
            # 4 x 4 and larger blocks, which those two layers cannot smooth away.
            x = _resize(x, dtype, f"up{level}", "bilinear")
        x = layers.Concatenate(dtype=dtype, name=f"up{level}_skip")([x, skips[level]])

    x = _upsample(x, 3, output_mode, True, dtype, "output")  # (batch, 256, 256, 3)
    # tanh in float32 so that a mixed-precision network still outputs exact [-1, 1] floats.
    photo = layers.Activation("tanh", dtype="float32", name="photo")(x)  # (batch, 256, 256, 3)
    return keras.Model(inputs, photo, name=name)


def build_discriminator(size: int = 256, width: int = 64, dtype=None, synchronized_norm: bool = False,
                        name: str = "discriminator") -> keras.Model:
    """The 70 x 70 PatchGAN of pix2pix, conditioned on the sketch.

    Inputs ``[sketch, photo]``, each (size, size, 3) in [-1, 1]; output one logit per
    70 x 70 patch, (size / 8 - 2, size / 8 - 2, 1) in float32 (30 x 30 at 256).
    ``dtype`` and ``synchronized_norm`` as for :func:`build_generator`.
    """
    if size < 32 or size % 8 != 0:
        raise ValueError(f"got size {size}, expected a multiple of 8 of at least 32")
    sketch = keras.Input((size, size, 3), name="sketch")  # (batch, 256, 256, 3)
    photo = keras.Input((size, size, 3), name="photo")  # (batch, 256, 256, 3)
    x = layers.Concatenate(dtype=dtype, name="pair")([sketch, photo])  # (batch, 256, 256, 6)
    x = _down(x, width, False, dtype, synchronized_norm, "down0")  # (batch, 128, 128, 64)
    x = _down(x, width * 2, True, dtype, synchronized_norm, "down1")  # (batch, 64, 64, 128)
    x = _down(x, width * 4, True, dtype, synchronized_norm, "down2")  # (batch, 32, 32, 256)
    x = layers.ZeroPadding2D(dtype=dtype, name="pad0")(x)  # (batch, 34, 34, 256)
    x = layers.Conv2D(width * 8, 4, use_bias=False, kernel_initializer=_initializer(),
                      dtype=dtype, name="patch_conv")(x)  # (batch, 31, 31, 512)
    x = _norm(dtype, synchronized_norm, "patch_norm")(x)  # (batch, 31, 31, 512)
    x = layers.LeakyReLU(0.2, dtype=dtype, name="patch_relu")(x)  # (batch, 31, 31, 512)
    x = layers.ZeroPadding2D(dtype=dtype, name="pad1")(x)  # (batch, 33, 33, 512)
    logits = layers.Conv2D(1, 4, kernel_initializer=_initializer(), dtype="float32",
                           name="logits")(x)  # (batch, 30, 30, 1)
    return keras.Model([sketch, photo], logits, name=name)
