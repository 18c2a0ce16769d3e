"""Test doubles and shared fixtures (a helper module, not a test file; registered by ``tests/conftest.py``).

* Frame sources: :class:`ListSource` (images in memory, played like a file),
  :class:`CameraLikeSource` (a webcam that paces itself in real time, may drop out) and
  :class:`SteppedCamera` (a webcam whose every frame the test releases by hand).
* :class:`RecordingSink`: keeps every frame it is sent; can be slow, or fail.
* :func:`write_synthetic_dataset`: a data set in ``reenact prepare``'s format, random
  photos and drawn sketches, for training tests (with :data:`TINY_TRAIN_FLAGS`).
* Tiny stand-in generators: a few random convolutions with the real contract around
  them: a BGR [-1, 1] input of the metadata's size, a tanh output of the same shape,
  exported with ``tf.lite.TFLiteConverter`` as fp32 (float tensors) and as full-integer
  int8 (int8 tensors, quantisation parameters on each), with :class:`GeneratorMetadata`
  embedded by ``write_metadata``.
* Fixtures, one build per test session: ``tiny_generators``, ``sample_images`` (the first
  frames of the built-in ``sample`` driver) and ``sample_video`` (an mp4 of them, a short
  clip of a real-looking face for ``reenact prepare``).

TensorFlow is only ever imported when this module runs as a script, and the tests run it
so in a subprocess (``python tests/fakes.py OUT_DIR NEUTRAL.npy``), so that the test
process, like the live loop, never loads it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:  # run as a script: the project's packages are beside tests/
    sys.path.insert(0, str(REPOSITORY))

from media.sources import Frame, FrameSource, open_source  # noqa: E402
from models.alignment import DEFAULT_MARGIN  # noqa: E402
from models.face_topology import eye_opening, mouth_opening  # noqa: E402
from models.generator_contract import GeneratorMetadata, write_metadata  # noqa: E402
from models.sketch import SKETCH_VERSION, render_sketch  # noqa: E402
from realtime.sinks import Sink  # noqa: E402

TINY_SIZE = 256
VARIANTS = ("fp32", "int8")
SAMPLE_IMAGES = 36  # frames of the sample driver in the ``sample_images`` fixture
SAMPLE_VIDEO_FRAMES = 75  # 2.5 s of the sample: the mouth opens wide, then half; every 5th frame gives 15


# ------------------------------------------------------------------ frame sources


class ListSource(FrameSource):
    """Frames from images in memory, like a file (in order, media timestamps)."""

    def __init__(self, images, fps=30.0, name="images"):
        self.images, self.fps, self.name, self.frame_count = list(images), fps, name, len(images)
        self._index = 0

    def read(self):
        if self._index >= len(self.images):
            return None
        frame = Frame(self._index, self._index * 1000.0 / self.fps, time.perf_counter(), self.images[self._index])
        self._index += 1
        return frame


class CameraLikeSource(FrameSource):
    """A fake webcam: delivers images in real time at ``fps``, then stops delivering.

    ``gaps`` maps a frame index to a number of failed reads before it (a brief dropout);
    ``on_end`` is called when the images run out (else the camera simply goes silent).
    """

    is_live = True

    def __init__(self, images, fps=30.0, gaps=None, on_end=None):
        self.images, self.fps, self.name = list(images), fps, "fake camera"
        self.gaps, self.on_end = dict(gaps or {}), on_end
        self._index, self._start = 0, None

    def read(self):
        if self._start is None:
            self._start = time.perf_counter()
        if self.gaps.get(self._index, 0) > 0:
            self.gaps[self._index] -= 1
            return None
        if self._index >= len(self.images):
            if self.on_end is not None:
                self.on_end()
            return None
        delay = self._start + self._index / self.fps - time.perf_counter()
        if delay > 0:
            time.sleep(delay)  # a camera's read blocks until its next frame
        now = time.perf_counter()
        frame = Frame(self._index, (now - self._start) * 1000.0, now, self.images[self._index])
        self._index += 1
        return frame


class SteppedCamera(FrameSource):
    """A live source that delivers frame n only once the test releases it (no timing races)."""

    is_live = True
    name = "stepped camera"
    fps = 1.0  # one period is a generous second, so a loaded machine cannot blur the test

    def __init__(self):
        self.release = threading.Semaphore(0)
        self._index = 0

    def read(self):
        while not self.release.acquire(timeout=0.05):
            pass
        frame = Frame(self._index, 0.0, time.perf_counter(), np.zeros((4, 4, 3), np.uint8))
        self._index += 1
        return frame


# ------------------------------------------------------------------ sinks


class RecordingSink(Sink):
    """Keeps a copy of every frame; sleeps ``delay_s`` per frame to play a slow stage; fails on frame
    ``fail_at`` (0-based) with an ``OSError`` when given; stops the loop (``controls``) after
    ``stop_after`` frames when given."""

    def __init__(self, name="recorder", delay_s=0.0, fail_at=None, stop_after=None, controls=None):
        self.name, self.delay_s, self.fail_at = name, delay_s, fail_at
        self.stop_after, self.controls = stop_after, controls
        self.frames, self.size, self.closed = [], None, False

    def open(self, width, height, fps):
        self.size = (width, height)

    def send(self, frame):
        if self.delay_s:
            time.sleep(self.delay_s)
        if self.fail_at is not None and len(self.frames) == self.fail_at:
            raise OSError("device went away")
        self.frames.append(frame.copy())
        if self.stop_after is not None and len(self.frames) >= self.stop_after:
            self.controls.stop.set()

    def close(self):
        self.closed = True


# ------------------------------------------------------------------ the sample driver


def read_sample(count: int) -> list[np.ndarray]:
    """The first ``count`` frames of the built-in ``sample`` driver (384 x 384 BGR)."""
    with open_source("sample") as source:
        return [source.read().image for _ in range(count)]


def decode_video(path) -> list[np.ndarray]:
    """Every frame of a video file that FFmpeg (in OpenCV) can decode, as a player would read it."""
    import cv2

    capture, frames = cv2.VideoCapture(str(path)), []
    while (result := capture.read())[0]:
        frames.append(result[1])
    capture.release()
    return frames


def write_video(path: Path, images, fps: float = 30.0) -> Path:
    """``images`` as an mp4 (OpenCV's mp4v), as a user's clip would be."""
    import cv2

    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV could not open an mp4 writer"
    for image in images:
        writer.write(image)
    writer.release()
    return path


@pytest.fixture(scope="session")
def sample_images() -> list[np.ndarray]:
    """The first 36 frames of the built-in ``sample`` driver; tests slice it, never change it."""
    return read_sample(SAMPLE_IMAGES)


@pytest.fixture(scope="session")
def sample_video(tmp_path_factory) -> Path:
    """``sample.mp4``: the first 75 frames (2.5 s at 30 fps) of the ``sample`` driver, one face in each."""
    return write_video(tmp_path_factory.mktemp("sample_video") / "sample.mp4", read_sample(SAMPLE_VIDEO_FRAMES))


# ------------------------------------------------------------------ sharp faces and a tiny enhancer


# An enhancer small enough that a training step takes milliseconds: the loop, not the model, is tested.
TINY_ENHANCER_FLAGS = ["--width", "4", "--blocks", "1", "--critic-width", "4", "--patch", "32", "--batch", "2",
                       "--log-every", "1"]


@pytest.fixture(scope="session")
def sharp_faces_folder(tmp_path_factory) -> Path:
    """Six portraits of "three people" (frames of the sample driver) named the way ``hd_faces`` names them."""
    import cv2

    folder = tmp_path_factory.mktemp("sharp_faces") / "faces"
    folder.mkdir()
    frames = read_sample(SAMPLE_IMAGES)
    for number, index in enumerate((0, 6, 12, 18, 24, 30)):
        expression = ("neutral", "smiling")[number % 2]
        cv2.imwrite(str(folder / f"{expression}_{number // 2:03d}_0{number % 2}.png"), frames[index])
    return folder


@pytest.fixture(scope="session")
def tiny_enhancer(sharp_faces_folder, tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, int8 enhancer file): a tiny enhancer trained two steps on ``sharp_faces_folder``, exported."""
    from reenact.cli import main

    folder = tmp_path_factory.mktemp("enhancer")
    run_dir, model = folder / "run", folder / "enhancer.tflite"
    assert main(["train-enhancer", str(sharp_faces_folder), "--out", str(run_dir), "--steps", "2", "--save-every", "2",
                 "--validate-every", "2", "--holdout", "0.34", *TINY_ENHANCER_FLAGS]) == 0
    assert main(["export", str(run_dir), "--out", str(model), "--quant", "int8"]) == 0
    return run_dir, model


# ------------------------------------------------------------------ a synthetic training set


# A network small enough that a training step takes milliseconds: the loop, not the model, is tested.
TINY_TRAIN_FLAGS = ["--init", "none", "--width", "4", "--discriminator-width", "4", "--batch", "2", "--log-every", "1"]


def random_landmarks(generator: np.random.Generator, size: int) -> np.ndarray:
    """478 points scattered over the crop's centre, with a plausible depth column."""
    points = generator.uniform(0.2 * size, 0.8 * size, (478, 3)).astype(np.float32)
    points[:, 2] = generator.normal(0.0, 2.0, 478)
    return points


def write_synthetic_dataset(folder: Path, train_frames: int = 6, val_frames: int = 2, size: int = 64,
                            seed: int = 0) -> Path:
    """A prepared data set in `reenact prepare`'s format: random photos, drawn sketches."""
    generator = np.random.default_rng(seed)
    (folder / "frames").mkdir(parents=True)
    frames = []
    for index in range(train_frames + val_frames):
        landmarks = random_landmarks(generator, size)
        frame_id = f"synthetic_{index:04d}"
        crop = generator.integers(0, 256, (size, size, 3), dtype=np.uint8)
        np.savez(folder / "frames" / f"{frame_id}.npz", crop=crop, sketch=render_sketch(landmarks, size),
                 landmarks=landmarks)
        frames.append({"id": frame_id, "source": "synthetic", "frame_index": index,
                       "split": "train" if index < train_frames else "val"})
    manifest = {"sketch_version": SKETCH_VERSION, "size": size, "margin": 0.15, "credit": "synthetic",
                "sources": [{"path": "synthetic"}], "frames": frames}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    profile = {"neutral_landmarks": random_landmarks(generator, size).tolist(),
               "expression_ranges": {"mouth_open": [0.0, 0.1]}}
    (folder / "target_profile.json").write_text(json.dumps(profile))
    return folder


# ------------------------------------------------------------------ tiny generators

def spread_weights(model, seed=0):
    """He-normal kernels: an untrained pix2pix init (N(0, 0.02)) outputs a flat grey that
    any converter reproduces; these weights make the output span [-1, 1], so parity means something."""
    generator = np.random.default_rng(seed)

    def spread(variable, fan_in):
        variable.assign(generator.normal(0, np.sqrt(2 / fan_in), variable.shape).astype(np.float32))

    for layer in model.layers:
        if type(layer).__name__ == "SeparableConv2D":  # per-channel 3 x 3, then 1 x 1 across channels
            spread(layer.depthwise_kernel, np.prod(layer.depthwise_kernel.shape[:2]))
            spread(layer.pointwise_kernel, layer.pointwise_kernel.shape[-2])
        elif hasattr(layer, "kernel"):
            kernel = layer.kernel
            fan_in = np.prod(kernel.shape[:-2]) * (kernel.shape[-1] if "transpose" in layer.name else kernel.shape[-2])
            spread(kernel, fan_in)
    return model




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


def build_keras(size: int):
    """The tiny network, seeded (imports Keras: only ever in the child process)."""
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


def convert(model, size: int, quantization: str) -> bytes:
    """TFLite bytes of ``model``: fp32, or full-integer int8 calibrated on noise (imports TensorFlow)."""
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
    model = build_keras(size)
    paths = {}
    for quantization in VARIANTS:
        path = out_dir / f"tiny_{quantization}.tflite"
        path.write_bytes(write_metadata(convert(model, size, quantization),
                                        tiny_metadata(neutral, size, quantization)))
        paths[quantization] = path
    return paths


def neutral_landmarks(size: int = TINY_SIZE) -> np.ndarray:
    """A real face's aligned landmarks: the first frame of the built-in ``sample`` driver."""
    from models.alignment import Alignment
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        face = landmarker.detect(read_sample(1)[0])
    if face is None:
        raise RuntimeError("no face found in the first frame of the sample driver")
    return Alignment.from_landmarks(face.points, size, DEFAULT_MARGIN).apply(face.points)


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


@pytest.fixture(scope="session")
def tiny_generators(tmp_path_factory) -> dict[str, Path]:
    """``{"fp32": path, "int8": path}``, built once per test session in a child process.

    The files are kept in the session's base temporary folder, so every module that uses
    the fixture shares one build.
    """
    out_dir = tmp_path_factory.getbasetemp() / "tiny_generators"
    paths = {quantization: out_dir / f"tiny_{quantization}.tflite" for quantization in VARIANTS}
    if not all(path.is_file() for path in paths.values()):
        build_in_subprocess(out_dir, neutral_landmarks())
    return paths


if __name__ == "__main__":
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    build_tiny_generators(Path(sys.argv[1]), np.load(sys.argv[2]))
