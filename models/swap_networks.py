"""The face-swap autoencoder as Keras Functional-API builders: one shared encoder, a decoder per identity.

The chapter's design (faceswap's "original" and DeepFaceLab's SAE follow it): the encoder
maps any aligned face to a small code through a dense bottleneck, narrow enough that it
keeps pose, expression and light but not who it is; each identity's decoder draws its own
face from that code. Trained on faces of A (the user) and B (the target), B's decoder on
A's code draws B's face with A's expression and pose.

Images are BGR in [-1, 1]. Ops are those LiteRT runs well and quantises to full integer:
strided Conv2D, Dense, nearest-neighbour resize, LeakyReLU and a final tanh. Shape
comments give the default (size 128, width 32, code 256).
"""

from __future__ import annotations

import keras
from keras import layers

ENCODER_LEVELS = 4  # strided convolutions: 128 -> 8
DECODER_LEVELS = 3  # upsamplings after the encoder's own: 16 -> 128


def _check(size: int) -> None:
    if size < 64 or size % 2 ** ENCODER_LEVELS:
        raise ValueError(f"got swap size {size}, expected a multiple of {2 ** ENCODER_LEVELS} of at least 64")


def _act(x, name: str):
    return layers.LeakyReLU(0.1, name=name)(x)


def _up(x, filters: int, name: str):
    """Double the resolution: nearest-neighbour resize, then a 3 x 3 convolution."""
    x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_resize")(x)
    return _act(layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x), f"{name}_act")


def build_encoder(size: int = 128, width: int = 32, code: int = 256) -> keras.Model:
    """Aligned face (S, S, 3) -> the shared code as a (S/8, S/8, 4 * width) feature map."""
    _check(size)
    face = keras.Input((size, size, 3), name="face")
    x = face
    for level in range(ENCODER_LEVELS):  # (64, 64, 32) (32, 32, 64) (16, 16, 128) (8, 8, 128)
        filters = width * min(2 ** level, 4)
        x = _act(layers.Conv2D(filters, 5, strides=2, padding="same", name=f"down{level}")(x), f"down{level}_act")
    low = size // 2 ** ENCODER_LEVELS
    x = layers.Flatten(name="flatten")(x)  # (8192,)
    x = layers.Dense(code, name="code")(x)  # (256,): the bottleneck
    x = layers.Dense(low * low * 4 * width, name="expand")(x)  # (8192,)
    x = layers.Reshape((low, low, 4 * width), name="reshape")(x)  # (8, 8, 128)
    x = _up(x, 4 * width, "encoder_up")  # (16, 16, 128)
    return keras.Model(face, x, name="encoder")


def build_decoder(size: int = 128, width: int = 32, name: str = "decoder",
                  decoder_width: int | None = None) -> keras.Model:
    """The shared code (of an encoder of ``width``) -> one identity's face (S, S, 3) in [-1, 1];
    the decoder's own layers are ``decoder_width`` wide (None: ``width``)."""
    _check(size)
    low = size // 2 ** (ENCODER_LEVELS - 1)
    code = keras.Input((low, low, 4 * width), name="code")
    x = code
    for level in range(DECODER_LEVELS):  # (32, 32, 64) (64, 64, 32) (128, 128, 16)
        filters = max(8, 2 * (decoder_width or width) // 2 ** level)
        x = _up(x, filters, f"up{level}")
        x = _act(layers.Conv2D(filters, 3, padding="same", name=f"refine{level}")(x), f"refine{level}_act")
    face = layers.Conv2D(3, 3, padding="same", activation="tanh", name="face")(x)
    return keras.Model(code, face, name=name)


def build_swap(encoder: keras.Model, decoder: keras.Model) -> keras.Model:
    """The inference network the live loop runs: A's aligned face in, the decoder's identity out."""
    size = int(encoder.inputs[0].shape[1])
    face = keras.Input((size, size, 3), name="face")
    return keras.Model(face, decoder(encoder(face)), name="swap")
