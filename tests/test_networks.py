"""The pix2pix builders: shapes, ranges, determinism and a LiteRT-friendly op set."""

import numpy as np
import pytest

keras = pytest.importorskip("keras", reason="needs Keras, from the training extra: pip install -e '.[train]'")

from models.networks import build_discriminator, build_generator, default_depth  # noqa: E402

# Layers that LiteRT runs (XNNPACK included) and full-integer quantisation handles.
ALLOWED_LAYERS = {"InputLayer", "Conv2D", "Conv2DTranspose", "SeparableConv2D", "UpSampling2D", "BatchNormalization",
                  "LeakyReLU", "ReLU", "Dropout", "Concatenate", "Activation", "ZeroPadding2D"}


def _sketches(size, count=2, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, size, size, 3)).astype(np.float32)


@pytest.mark.parametrize("upsample", ["resize", "transpose", "low-resolution", "separable"])
def test_generator_maps_sketch_to_photo_range(upsample):
    generator = build_generator(size=64, width=8, upsample=upsample)
    output = np.asarray(generator(_sketches(64), training=False))
    assert output.shape == (2, 64, 64, 3)
    assert output.dtype == np.float32
    assert np.all(np.abs(output) <= 1.0)
    assert {type(layer).__name__ for layer in generator.layers} <= ALLOWED_LAYERS


def test_low_resolution_decoder_convolves_before_it_resizes():
    resize = build_generator(size=64, width=8, upsample="resize")
    low = build_generator(size=64, width=8, upsample="low-resolution")
    # Same weights' shapes, so the same capacity; only where the convolutions run differs.
    assert [w.shape for w in resize.weights] == [w.shape for w in low.weights]
    # Decoder level 1 convolves at 8 x 8 and resizes to the skip's 16 x 16 ...
    assert low.get_layer("up1_conv").output.shape[1:3] == (8, 8)
    assert resize.get_layer("up1_conv").output.shape[1:3] == (16, 16)
    assert low.get_layer("up1_skip").output.shape[1:3] == (16, 16)
    # ... while the outermost level and the output layer resize first, as "resize" does.
    assert low.get_layer("up0_conv").output.shape[1:3] == (32, 32)
    assert low.get_layer("output_conv").output.shape[1:3] == (64, 64)


def test_separable_decoder_mixes_channels_apart_from_space_but_draws_pixels_with_a_full_convolution():
    resize = build_generator(size=64, width=8, upsample="resize")
    separable = build_generator(size=64, width=8, upsample="separable")
    depth = default_depth(64)
    for level in range(depth - 1):
        block = separable.get_layer(f"up{level}_conv")
        # At 64 pixels, blocks out to 4 x 4 and smaller (a sixteenth of the size) stay full.
        expected = "SeparableConv2D" if block.output.shape[1] > 4 else "Conv2D"
        assert type(block).__name__ == expected, (level, block.output.shape)
        # Same place in the network as resize-then-convolve: after the resize, at the skip's size.
        assert block.output.shape[1:] == resize.get_layer(f"up{level}_conv").output.shape[1:]
    assert [type(separable.get_layer(f"up{level}_conv")).__name__ for level in (0, 1, 2)] == ["SeparableConv2D"] * 3
    assert type(separable.get_layer("output_conv")).__name__ == "Conv2D"
    assert separable.get_layer("output_conv").kernel.shape == resize.get_layer("output_conv").kernel.shape
    # Each separable block holds a fraction of the weights of the full block it replaces.
    for level in (0, 1, 2):
        counts = [sum(int(np.prod(w.shape)) for w in model.get_layer(f"up{level}_conv").weights)
                  for model in (separable, resize)]
        assert counts[0] * 3 < counts[1], (level, counts)


def test_generator_depth_reaches_a_one_pixel_bottleneck_by_default():
    assert default_depth(256) == 8
    generator = build_generator(size=64, width=4)
    assert generator.get_layer(f"down{default_depth(64) - 1}_relu").output.shape[1:3] == (1, 1)
    shallow = build_generator(size=64, width=4, depth=3)
    assert shallow.get_layer("down2_relu").output.shape[1:] == (8, 8, 16)
    assert shallow.output.shape[1:] == (64, 64, 3)


def test_inference_is_deterministic_and_training_uses_dropout():
    generator = build_generator(size=64, width=8, dropout=0.5)
    sketches = _sketches(64)
    first = np.asarray(generator(sketches, training=False))
    np.testing.assert_array_equal(first, np.asarray(generator(sketches, training=False)))
    assert not np.array_equal(np.asarray(generator(sketches, training=True)),
                              np.asarray(generator(sketches, training=True)))


def test_mixed_precision_generator_still_outputs_float32():
    generator = build_generator(size=64, width=4, depth=3, dtype="mixed_bfloat16")
    assert generator.get_layer("down1_conv").compute_dtype == "bfloat16"
    assert np.asarray(generator(_sketches(64, 1), training=False)).dtype == np.float32


@pytest.mark.parametrize("size, patches", [(64, 6), (256, 30)])
def test_discriminator_is_a_70_pixel_patchgan_on_sketch_and_photo(size, patches):
    discriminator = build_discriminator(size, width=8)
    assert [tuple(shape[1:]) for shape in discriminator.input_shape] == [(size, size, 3)] * 2
    assert tuple(discriminator.output_shape[1:]) == (patches, patches, 1)
    assert {type(layer).__name__ for layer in discriminator.layers} <= ALLOWED_LAYERS
    # Receptive field of 4x4 convolutions with strides 2, 2, 2, 1, 1: 70 pixels.
    receptive, jump = 1, 1
    for stride in (2, 2, 2, 1, 1):
        receptive += 3 * jump
        jump *= stride
    assert receptive == 70


@pytest.mark.parametrize("arguments, message", [
    ({"size": 100}, "divisible by 2\\*\\*depth"),
    ({"size": 64, "upsample": "pixelshuffle"}, "expected one of"),
    ({"size": 64, "dropout": 1.0}, "0 <= dropout < 1"),
    ({"size": 64, "width": 0}, "at least 1"),
])
def test_generator_refuses_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        build_generator(**arguments)


def test_discriminator_refuses_bad_size():
    with pytest.raises(ValueError, match="multiple of 8"):
        build_discriminator(60)
