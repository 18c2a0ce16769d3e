"""TFLite conversion, the parity check against Keras and the export report: what every exporter shares.

``reenact export`` (:mod:`training.export`) picks the exporter by the run's kind: the
pix2pix generator (:mod:`training.export`), the face-swap autoencoder
(:mod:`training.swap_export`) or the face enhancer (:mod:`training.enhance_export`); each
converts with :func:`convert`, checks with :func:`parity_psnr` and reports an
:class:`ExportReport`.

Quantisation:
- ``fp32``: float weights and activations.
- ``fp16``: float16 weights, float activations.
- ``int8``: full-integer weights and activations, calibrated on training inputs, with
  int8 input and output tensors (the reader applies each tensor's scale and zero
  point). Dynamic-range int8 is deliberately not offered: on this CPU it made the
  transposed convolutions about thirty times slower than fp32.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import metrics
from models.errors import UserError
from models.generator_recipe import QUANTIZATIONS
from models.options import require

PARITY_WARNING_DB = 25.0  # below this the TFLite output visibly departs from Keras


@dataclass(frozen=True)
class ExportOptions:
    """How ``export`` converts and checks a generator."""

    quantization: str = "fp32"
    representative_count: int = 100  # training sketches that calibrate int8 ranges
    parity_count: int = 8  # validation sketches compared between Keras and TFLite
    threads: int = 2

    def __post_init__(self):
        require(self.quantization in QUANTIZATIONS, f"--quant {self.quantization}",
                f"one of {', '.join(QUANTIZATIONS)}")
        require(self.representative_count >= 1 and self.parity_count >= 1,
                f"{self.representative_count} representative and {self.parity_count} parity sketches",
                "at least 1 of each")


@dataclass(frozen=True)
class ExportReport:
    """What ``export`` wrote and how closely it matches the Keras model."""

    path: Path
    size_bytes: int
    quantization: str
    parity_psnr: float  # dB, TFLite output against Keras output on the 0-255 scale
    parity_frames: int
    parity_inputs: str = "val sketches"  # what the parity check ran on

    def summary(self) -> str:
        return (f"wrote {self.path} ({self.size_bytes / 1e6:.2f} MB, {self.quantization}); TFLite vs Keras "
                f"PSNR {self.parity_psnr:.1f} dB over {self.parity_frames} {self.parity_inputs}")


def float32_copy(model):
    """The model itself when it computes in float32, else a float32 copy with its weights.

    A network trained with a mixed policy (e.g. ``mixed_bfloat16``) computes in
    bfloat16, which the TFLite converter cannot translate; its variables are float32
    already, so rebuilding the same graph in float32 loses nothing.
    """
    import keras

    if all(layer.dtype_policy.compute_dtype == "float32" for layer in model.layers):
        return model
    config = model.get_config()
    for layer in config["layers"]:
        layer["config"]["dtype"] = "float32"
    copy = keras.Model.from_config(config)
    copy.set_weights(model.get_weights())
    return copy


def convert(model, quantization: str, representative: list[np.ndarray] | None = None) -> bytes:
    """A float32 Keras generator as TFLite flatbuffer bytes (no metadata yet).

    ``representative``, required for ``int8``: one (N, S, S, 3) float32 array per model
    input (the sketches, and for an appearance generator the appearance photos).
    """
    import tensorflow as tf

    size = int(model.inputs[0].shape[1])
    names = ("sketch", "appearance")[:len(model.inputs)]
    signature = [tf.TensorSpec((1, size, size, 3), tf.float32, name=name) for name in names]

    @tf.function(input_signature=signature)
    def infer(*inputs):
        return model(list(inputs) if len(inputs) > 1 else inputs[0], training=False)

    # Keras 3 wraps its weights in its own variable type, which the converter does not
    # find on the model: it then leaves them as uninitialised resource variables (the
    # file runs and outputs NaN). A tf.Module holding the underlying tf.Variables lets
    # it freeze them into constants and fold batch normalisation into the convolutions.
    holder = tf.Module()
    holder.weights = [variable.value for variable in model.variables]
    converter = tf.lite.TFLiteConverter.from_concrete_functions([infer.get_concrete_function()], holder)
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        if representative is None or len(representative[0]) == 0:
            raise UserError("int8 export needs training sketches to calibrate on; pass --data DATA")

        def representative_dataset():
            for inputs in zip(*representative):
                yield [array[None] for array in inputs]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative_dataset
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


class TFLiteGenerator:
    """A generator file on LiteRT in [-1, 1] floats, for parity with Keras before rounding.

    Float and quantised (int8/uint8) input and output tensors alike: quantised ones are
    converted with each tensor's own scale and zero point. (The live loop's
    ``realtime.generator_runner.GeneratorRunner`` works in uint8 images instead.)
    """

    def __init__(self, model_content: bytes, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        self._interpreter = Interpreter(model_content=model_content, num_threads=threads)
        self._interpreter.allocate_tensors()
        # The sketch first, then an appearance generator's photo (LiteRT's order may differ).
        self._inputs = sorted(self._interpreter.get_input_details(), key=lambda detail: "appearance" in detail["name"])
        self._input = self._inputs[0]
        (self._output,) = self._interpreter.get_output_details()
        _, height, width, _ = self._input["shape"]
        if height != width:
            raise UserError(f"generator input is {height}x{width}, expected a square")
        self.size = int(height)
        self.input_type = np.dtype(self._input["dtype"]).name
        self.output_type = np.dtype(self._output["dtype"]).name

    def predict(self, sketch: np.ndarray, appearance: np.ndarray | None = None) -> np.ndarray:
        """(S, S, 3) float in [-1, 1] (and an appearance generator's photo, the same) to
        (S, S, 3) float32 in [-1, 1]."""
        arrays = (sketch,) if appearance is None else (sketch, appearance)
        if len(arrays) != len(self._inputs):
            raise UserError(f"the generator takes {len(self._inputs)} inputs, got {len(arrays)}")
        for detail, array in zip(self._inputs, arrays):
            batch = np.asarray(array, np.float32)[None]
            scale, zero_point = detail["quantization"]
            if scale:  # quantised input
                limits = np.iinfo(detail["dtype"])
                batch = np.clip(np.round(batch / scale) + zero_point, limits.min, limits.max)
            self._interpreter.set_tensor(detail["index"], batch.astype(detail["dtype"]))
        self._interpreter.invoke()
        result = self._interpreter.get_tensor(self._output["index"])[0]
        scale, zero_point = self._output["quantization"]
        if scale:
            result = (result.astype(np.float32) - zero_point) * scale
        return result.astype(np.float32)


def parity_psnr(model, model_bytes: bytes, sketches: np.ndarray, threads: int = 2,
                appearances: np.ndarray | None = None) -> float:
    """Mean PSNR (0-255 scale, unrounded) of TFLite against Keras outputs on the same sketches
    (and, for an appearance generator, the same appearance photos)."""
    runner = TFLiteGenerator(model_bytes, threads)
    values = []
    for index, sketch in enumerate(sketches):
        if appearances is None:
            expected = np.asarray(model(sketch[None], training=False))[0]
            actual = runner.predict(sketch)
        else:
            expected = np.asarray(model([sketch[None], appearances[index][None]], training=False))[0]
            actual = runner.predict(sketch, appearances[index])
        values.append(metrics.psnr((actual + 1.0) * 127.5, (expected + 1.0) * 127.5))
    return float(np.mean(values))
