"""Tiny stand-in generators for the live-loop tests (a helper module, not a test file).

The shipped generator is trained elsewhere and lands later; these are a few random
convolutions with the real contract around them: a BGR [-1, 1] input of the metadata's
size, a tanh output of the same shape, exported with ``tf.lite.TFLiteConverter`` as
fp32 (float tensors) and as full-integer int8 (int8 tensors, quantisation parameters
on each), with :class:`GeneratorMetadata` embedded by ``write_metadata``.

TensorFlow is only ever imported here, and the tests run this module in a subprocess
(``python tests/tiny_generator.py OUT_DIR NEUTRAL.npy``) so that the test process, like
the live loop, never loads it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from models.alignment import DEFAULT_MARGIN  # noqa: E402
from models.face_topology import eye_opening, mouth_opening  # noqa: E402
from models.generator_contract import GeneratorMetadata, write_metadata  # noqa: E402
from models.sketch import SKETCH_VERSION  # noqa: E402

TINY_SIZE = 256
VARIANTS = ("fp32", "int8")


def tiny_metadata(neutral: np.ndarray, size: int = TINY_SIZE, quantization: str = "fp32",
                  sketch_version: str = SKETCH_VERSION) -> GeneratorMetadata:
    """Metadata for a tiny model whose target is the face of ``neutral`` (aligned, (478, 3)).

    The expression ranges are plausible spans around the neutral face's own measures: a
    closed mouth that opens to a third of the inter-ocular distance, eyes from nearly shut
    to a little wider than neutral.
    """
    mouth, eyes = mouth_opening(neutral), eye_opening(neutral)
    return GeneratorMetadata(
        input_size=size, sketch_version=sketch_version, margin=DEFAULT_MARGIN,
        neutral_landmarks=np.asarray(neutral, np.float32).round(3).tolist(),
        expression_ranges={"mouth_open": [mouth, mouth + 0.35], "eye_open": [0.3 * eyes, 1.15 * eyes]},
        credit="tiny test generator (random weights)", quantization=quantization,
        architecture={"name": "tiny-test", "size": size})


def _build_keras(size: int):
    import keras
    from keras import layers

    keras.utils.set_random_seed(7)
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)  # (b, s/2, s/2, 8)
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(x)  # (b, s/2, s/2, 8)
    x = layers.UpSampling2D(2, interpolation="nearest")(x)  # (b, s, s, 8)
    x = layers.Concatenate()([x, inputs])  # (b, s, s, 11)
    outputs = layers.Conv2D(3, 3, padding="same", activation="tanh")(x)  # (b, s, s, 3)
    return keras.Model(inputs, outputs)


def _convert(model, size: int, quantization: str) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantization == "int8":
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(8):
                yield [rng.uniform(-1, 1, (1, size, size, 3)).astype(np.float32)]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def build_tiny_generators(out_dir: Path, neutral: np.ndarray, size: int = TINY_SIZE) -> dict[str, Path]:
    """Write ``tiny_fp32.tflite`` and ``tiny_int8.tflite`` into ``out_dir`` (imports TensorFlow)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = _build_keras(size)
    paths = {}
    for quantization in VARIANTS:
        path = out_dir / f"tiny_{quantization}.tflite"
        path.write_bytes(write_metadata(_convert(model, size, quantization),
                                        tiny_metadata(neutral, size, quantization)))
        paths[quantization] = path
    return paths


def neutral_landmarks(size: int = TINY_SIZE) -> np.ndarray:
    """A real face's aligned landmarks: the first frame of the built-in ``sample`` driver."""
    from models.alignment import Alignment
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from realtime.sources import open_source

    with open_source("sample") as source, FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        face = landmarker.detect(source.read().image)
    if face is None:
        raise RuntimeError("no face found in the first frame of the sample driver")
    return Alignment.from_landmarks(face.points, size, DEFAULT_MARGIN).apply(face.points)


@pytest.fixture(scope="session")
def tiny_generators(tmp_path_factory) -> dict[str, Path]:
    """``{"fp32": path, "int8": path}``, built once per test session.

    Test modules import this fixture; the files are kept in the session's base temporary
    folder, so every module that uses it shares one build.
    """
    out_dir = tmp_path_factory.getbasetemp() / "tiny_generators"
    paths = {quantization: out_dir / f"tiny_{quantization}.tflite" for quantization in VARIANTS}
    if not all(path.is_file() for path in paths.values()):
        build_in_subprocess(out_dir, neutral_landmarks())
    return paths


def build_in_subprocess(out_dir: Path, neutral: np.ndarray, timeout_s: float = 300.0) -> dict[str, Path]:
    """:func:`build_tiny_generators` in a child process, keeping TensorFlow out of this one."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    neutral_path = out_dir / "neutral.npy"
    np.save(neutral_path, np.asarray(neutral, np.float32))
    result = subprocess.run([sys.executable, __file__, str(out_dir), str(neutral_path)],
                            capture_output=True, text=True, timeout=timeout_s)
    if result.returncode != 0:
        raise RuntimeError(f"building the tiny generators failed:\n{result.stderr[-3000:]}")
    return {quantization: out_dir / f"tiny_{quantization}.tflite" for quantization in VARIANTS}


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    build_tiny_generators(Path(sys.argv[1]), np.load(sys.argv[2]))
