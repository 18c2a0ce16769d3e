import numpy as np
import pytest

from realtime import kernels


@pytest.mark.parametrize("dtype,scale,zero_point",
                         [(np.float32, 1.0, 0), (np.int8, 2 / 255, -1), (np.uint8, 2 / 255, 127)])
def test_sketch_to_input_equals_twin(dtype, scale, zero_point):
    sketch = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    lut = kernels.input_lut(dtype, scale, zero_point)
    fast, slow = np.empty(sketch.shape, dtype), np.empty(sketch.shape, dtype)
    kernels.sketch_to_input(sketch, lut, fast)
    kernels.sketch_to_input_reference(sketch, lut, slow)
    np.testing.assert_array_equal(fast, slow)


def test_input_lut_spans_minus_one_to_one():
    lut = kernels.input_lut(np.float32)
    assert lut[0] == -1.0 and lut[255] == 1.0


def test_float_output_equals_twin_and_clips():
    output = np.random.default_rng(1).uniform(-1.5, 1.5, (1, 64, 64, 3)).astype(np.float32)
    fast, slow = np.empty(output.shape, np.uint8), np.empty(output.shape, np.uint8)
    kernels.output_to_image(output, None, fast)
    kernels.output_to_image_reference(output, None, slow)
    np.testing.assert_array_equal(fast, slow)
    assert fast[output <= -1].max() == 0 and fast[output >= 1].min() == 255


def test_int8_output_equals_twin():
    output = np.random.default_rng(2).integers(-128, 128, (1, 32, 32, 3)).astype(np.int8)
    lut = kernels.output_lut(np.int8, 2 / 255, -1)
    fast, slow = np.empty(output.shape, np.uint8), np.empty(output.shape, np.uint8)
    kernels.output_to_image(output, lut, fast)
    kernels.output_to_image_reference(output, lut, slow)
    np.testing.assert_array_equal(fast, slow)


def test_dim_equals_twin():
    image = np.random.default_rng(3).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    fast, slow = np.empty_like(image), np.empty_like(image)
    kernels.dim(image, 0.4, fast)
    kernels.dim_reference(image, 0.4, slow)
    np.testing.assert_array_equal(fast, slow)
    assert fast.max() <= 0.41 * 255


def test_wrappers_check_their_inputs():
    sketch = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        kernels.sketch_to_input(sketch, kernels.input_lut(np.float32), np.empty((8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        kernels.output_to_image(np.zeros((8, 8, 3), np.float32), None, np.empty((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="factor"):
        kernels.dim(sketch, 1.5, np.empty_like(sketch))
