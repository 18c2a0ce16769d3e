"""Start a generator from a trained one: the weights inside an exported generator file.

A user's own target has a minute of footage; a generator trained on it from random weights
must learn what a face is from that minute, and draws wax (issue #29). Starting from the
shipped generator, which already draws a face from a sketch and copies the hair, clothes and
light of its appearance photo, leaves the minute to teach the identity alone.

The shipped generators exist only as ``.tflite`` files (checkpoints are not shipped), so the
weights are read back from the file: every convolution's filter and bias, dequantised with
their own scales (int8), or taken as they are (float32, float16). Export folded each batch
normalisation into the convolution before it, so a recovered normalisation layer is first
the identity plus the folded bias, and is then given statistics measured on the new data
(:func:`_fit_batch_norm`): its inference output stays exactly the file's, and training
mode, which normalises with batch statistics, starts from the same faces.
"""

from __future__ import annotations

import re
from dataclasses import fields

import numpy as np

from models.errors import UserError
from models.generator_contract import GeneratorMetadata, load_generator_file
from models.generator_recipe import GeneratorShape
from training.dataset import FrameArrays, first_of_clip, network_inputs

__all__ = ["ARCHITECTURE_KEYS", "file_weights", "warm_start"]

# The generator options (models.generator_recipe.GeneratorShape) that a file's weights fix:
# all but dropout, which only training uses.
ARCHITECTURE_KEYS = tuple(field.name for field in fields(GeneratorShape) if field.name != "dropout")
STATISTICS_FRAMES = 256  # frames whose activations set the recovered batch norms' statistics
_LAYER = re.compile(r"/((?:down|up)\d+_conv|output_conv)(?:_\d+)?/")


def _constant(interpreter, details: dict, index: int, dequantized: dict) -> np.ndarray:
    """A constant tensor as float32: dequantised per channel, or the float16 it came from."""
    index = dequantized.get(index, index)
    detail = details[index]
    value = interpreter.get_tensor(index)
    quantization = detail["quantization_parameters"]
    if value.dtype.kind in "iu" and len(quantization["scales"]):
        scales, zeros = quantization["scales"], quantization["zero_points"]
        shape = [1] * value.ndim
        if len(scales) > 1:
            shape[quantization["quantized_dimension"]] = len(scales)
        return ((value.astype(np.float32) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)
    return value.astype(np.float32)


def file_weights(model_bytes: bytes) -> dict[str, dict[str, np.ndarray]]:
    """Each Keras convolution layer's weights in a generator file, in Keras' layouts.

    ``{"down3_conv": {"kernel": (kh, kw, in, out), "bias": (out,)}, "up0_conv":
    {"depthwise": (kh, kw, in, 1), "kernel": (1, 1, in, out), "bias": (out,)}, ...}``; the
    bias is what LiteRT adds after the convolution (a batch norm's folded shift included).
    """
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(model_content=model_bytes,
                                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    except ValueError as error:
        raise UserError(f"not a LiteRT model: {error}") from None
    operations = interpreter._get_ops_details()
    # float16 weights reach a convolution through a DEQUANTIZE operation.
    dequantized = {op["outputs"][0]: op["inputs"][0] for op in operations if op["op_name"] == "DEQUANTIZE"}
    details = {detail["index"]: detail for detail in interpreter.get_tensor_details()}
    weights: dict[str, dict[str, np.ndarray]] = {}
    for op in operations:
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            continue
        _, filter_index, bias_index = op["inputs"]
        match = _LAYER.search(details[dequantized.get(filter_index, filter_index)]["name"])
        if match is None:
            raise UserError(f"a convolution named {details[filter_index]['name']!r} is not one of the U-Net's layers")
        layer = weights.setdefault(match.group(1), {})
        kernel = _constant(interpreter, details, filter_index, dequantized)
        bias = _constant(interpreter, details, bias_index, dequantized) if bias_index >= 0 else None
        if op["op_name"] == "DEPTHWISE_CONV_2D":  # (1, kh, kw, channels) -> (kh, kw, channels, 1)
            layer["depthwise"] = kernel[0][..., None]
            layer["depthwise_bias"] = bias
        else:  # (out, kh, kw, in) -> (kh, kw, in, out)
            layer["kernel"] = kernel.transpose(1, 2, 3, 0)
            layer["bias"] = bias if bias is not None else np.zeros(kernel.shape[0], np.float32)
    return weights


def _load_layers(generator, weights: dict) -> list:
    """Copy ``weights`` into ``generator``; the batch-norm layers, set to the identity plus
    their folded bias, are returned for :func:`_fit_batch_norm`."""
    layers = {layer.name: layer for layer in generator.layers}
    expected = sorted(name for name, layer in layers.items() if name.endswith("_conv"))
    if sorted(weights) != expected:
        raise UserError("the file's convolutions do not match the generator's layers "
                        f"(file: {', '.join(sorted(weights))})")
    norms = []
    for name, values in weights.items():
        layer = layers[name]
        bias = values["bias"]
        kernels = [values["kernel"]]
        if "depthwise" in values:
            kernels = [values["depthwise"], values["kernel"]]
            if values["depthwise_bias"] is not None:  # a shift before the 1 x 1 mixing: fold it after
                bias = bias + np.tensordot(values["depthwise_bias"], values["kernel"][0, 0], axes=1)
        norm = layers.get(name.replace("_conv", "_norm"))
        try:
            if norm is None:
                layer.set_weights(kernels + [bias])
                continue
            layer.set_weights(kernels)
            ones = np.ones_like(bias)
            norm.set_weights([ones, bias, np.zeros_like(bias), ones - norm.epsilon])
        except ValueError as error:
            raise UserError(f"the file's layer {name} does not fit this generator ({error})") from None
        norms.append(norm)
    return norms


def _fit_batch_norm(generator, norms: list, frames: FrameArrays) -> None:
    """Give each recovered batch norm the mean and variance its input has on ``frames``,
    keeping its inference output as it was (gamma = sqrt(var + eps), beta += mean)."""
    import keras

    probe = keras.Model(generator.inputs, [norm.input for norm in norms])
    count = min(STATISTICS_FRAMES, len(frames))
    order = np.random.default_rng(0).permutation(len(frames))[:count]
    sums = [0.0] * len(norms)
    squares = [0.0] * len(norms)
    seen = 0
    firsts = first_of_clip(frames) if len(generator.inputs) == 2 else None  # an appearance generator's photos
    for start in range(0, count, 8):
        chosen = order[start:start + 8]
        inputs = network_inputs(frames, chosen, firsts)
        outputs = probe(inputs if len(inputs) == 2 else inputs[0], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for index, output in enumerate(outputs):
            output = np.asarray(output, np.float64)
            sums[index] = sums[index] + output.sum(axis=(0, 1, 2))
            squares[index] = squares[index] + (output ** 2).sum(axis=(0, 1, 2))
        seen += len(chosen)
    for norm, total, square in zip(norms, sums, squares):
        pixels = seen * np.prod(norm.input.shape[1:3])
        mean = total / pixels
        variance = np.maximum(square / pixels - mean ** 2, 0.0)
        gamma, beta, _, _ = norm.get_weights()
        scale = np.sqrt(variance + norm.epsilon)
        norm.set_weights([(gamma * scale).astype(np.float32), (beta + mean).astype(np.float32),
                          mean.astype(np.float32), variance.astype(np.float32)])


def read_start(path) -> tuple[bytes, GeneratorMetadata]:
    """A re-enactment generator file to start from; UserError for anything else."""
    model_bytes, metadata = load_generator_file(path)
    if metadata.mode != "reenact":
        raise UserError(f"{path}: a {metadata.mode} model; training starts only from a re-enactment generator")
    missing = [key for key in ARCHITECTURE_KEYS if key not in metadata.architecture]
    if missing:
        raise UserError(f"{path}: its metadata does not say its {', '.join(missing)}; export it again")
    return model_bytes, metadata


def warm_start(generator, model_bytes: bytes, frames: FrameArrays) -> None:
    """Load a generator file's weights into ``generator`` (built with the file's architecture),
    with batch-norm statistics measured on ``frames`` (the new target's training frames)."""
    norms = _load_layers(generator, file_weights(model_bytes))
    _fit_batch_norm(generator, norms, frames)
