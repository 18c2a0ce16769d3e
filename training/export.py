"""``reenact export``: a trained run to a self-describing TFLite generator.

Phases: restore the generator from the run, trace an inference function
(``training=False``: no dropout, batch normalisation on its moving statistics), convert
it with ``tf.lite.TFLiteConverter``, embed the contract metadata (input size, sketch
version, margin, the target's neutral face and expression ranges, credit, architecture,
training summary), write the file atomically, and check it against Keras on validation
sketches.

Quantisation:
- ``fp32``: float weights and activations.
- ``fp16``: float16 weights, float activations.
- ``int8``: full-integer weights and activations, calibrated on training sketches, with
  int8 input and output tensors (the reader applies each tensor's scale and zero
  point). Dynamic-range int8 is deliberately not offered: on this CPU it made the
  transposed convolutions about thirty times slower than fp32.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from models import metrics
from models.errors import UserError
from models.files import write_bytes_atomically
from models.generator_contract import GeneratorMetadata, write_metadata
from models.generator_recipe import QUANTIZATIONS
from models.options import require
from training.dataset import load_split, read_frame, read_manifest

PARITY_WARNING_DB = 25.0  # below this the TFLite output visibly departs from Keras
# Keys of RUN/config.json that describe the network rather than how it was trained.
ARCHITECTURE_KEYS = ("size", "width", "depth", "upsample", "dropout", "appearance")


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


def read_run_config(run_dir: Path) -> dict:
    """RUN/config.json as a dictionary; UserError when the folder is not a training run."""
    config_path = run_dir / "config.json"
    if not run_dir.is_dir():
        raise UserError(f"run {run_dir}: no such folder (train one with `reenact train`)")
    if not config_path.is_file():
        raise UserError(f"run {run_dir}: no config.json, not a training run folder")
    try:
        return json.loads(config_path.read_text())
    except ValueError as error:
        raise UserError(f"run {run_dir}: config.json is not valid JSON ({error})") from None


def resolve_data_dir(run_config: dict, data_dir) -> Path:
    """The data set: ``--data`` if given, else the one the run was trained on."""
    if data_dir is None:
        data_dir = run_config.get("data")
    if not data_dir:
        raise UserError("the run's config.json names no data set: pass --data DATA")
    return Path(data_dir)


def read_target_profile(run_dir: Path, data_dir: Path) -> dict:
    """RUN/target_profile.json, or the data set's when the run has no copy."""
    for path in (run_dir / "target_profile.json", data_dir / "target_profile.json"):
        if path.is_file():
            profile = json.loads(path.read_text())
            if np.asarray(profile.get("neutral_landmarks")).shape != (478, 3):
                raise UserError(f"{path}: neutral landmarks missing or not (478, 3); rerun `reenact prepare`")
            return profile
    raise UserError(f"no target_profile.json in {run_dir} or {data_dir}; rerun `reenact prepare`")


def takes_appearance(model) -> bool:
    """Whether a Keras generator takes an appearance photo besides the sketch."""
    return len(model.inputs) == 2


def choose_appearance(data_dir: Path, manifest: dict, profile: dict) -> tuple[str, np.ndarray]:
    """(frame id, crop) of the training frame nearest the target's neutral face: the photo
    the live loop gives an appearance generator. Near-neutral, so the driver's expression is
    what changes it, and the retargeted sketches (built on that neutral) fit it."""
    from tqdm import tqdm

    neutral = np.asarray(profile["neutral_landmarks"], np.float32)
    ids = [frame["id"] for frame in manifest["frames"] if frame["split"] == "train"]
    distances = [float(np.mean(np.linalg.norm(read_frame(data_dir, frame_id, ("landmarks",))["landmarks"][:, :2]
                                              - neutral[:, :2], axis=1)))
                 for frame_id in tqdm(ids, desc="choosing the appearance photo", unit="frame", leave=False)]
    best = ids[int(np.argmin(distances))]
    return best, read_frame(data_dir, best, ("crop",))["crop"]


def clip_first_photos(data_dir: Path, manifest: dict, split: str, limit: int) -> np.ndarray:
    """For at most ``limit`` frames of a split (spread as :func:`network_sketches` picks them),
    the first frame of each one's clip, as the network's float32 [-1, 1] appearance input."""
    from models.sampling import spread

    entries = [frame for frame in manifest["frames"] if frame["split"] == split]
    first: dict[str, str] = {}
    for frame in entries:
        first.setdefault(str(frame.get("source", "")), frame["id"])
    chosen = [entries[i] for i in spread(len(entries), limit)]
    photos = np.stack([read_frame(data_dir, first[str(frame.get("source", ""))], ("crop",))["crop"]
                       for frame in chosen])
    return photos.astype(np.float32) / 127.5 - 1.0


def build_metadata(run_dir: Path, run_config: dict, manifest: dict, profile: dict, input_size: int,
                   quantization: str, appearance_image: str | None = None) -> GeneratorMetadata:
    """The contract document embedded in the exported file."""
    architecture = {key: run_config[key] for key in ARCHITECTURE_KEYS if key in run_config}
    architecture["appearance"] = appearance_image is not None  # what the network takes, whatever the config said
    training = {key: value for key, value in run_config.items()
                if key not in ARCHITECTURE_KEYS and isinstance(value, (int, float, str, bool))}
    training["run"] = run_dir.name
    if "data" in training:  # the data set's name, not a path on the machine that trained it
        training["data"] = Path(str(training["data"])).name
    return GeneratorMetadata(
        input_size=input_size,
        sketch_version=manifest["sketch_version"],
        margin=float(manifest["margin"]),
        neutral_landmarks=profile["neutral_landmarks"],
        expression_ranges=profile["expression_ranges"],
        shape_space=profile.get("shape_space"),
        credit=manifest.get("credit", ""),
        quantization=quantization,
        architecture=architecture,
        training=training,
        appearance_image=appearance_image,
    )


def network_sketches(data_dir: Path, manifest: dict, split: str, limit: int) -> np.ndarray:
    """At most ``limit`` sketches of a split, evenly spread over it, as the network's
    (N, S, S, 3) float32 input in [-1, 1]."""
    sketches = load_split(data_dir, manifest, split, limit=limit).sketches
    return sketches.astype(np.float32) / 127.5 - 1.0


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


def export_generator(run_dir, out_path, data_dir=None, options: ExportOptions = ExportOptions(),
                     log: Callable[[str], None] = print) -> ExportReport:
    """Export the latest checkpoint of a training run (pix2pix or face swap) to ``out_path``."""
    run_dir = Path(run_dir)
    run_config = read_run_config(run_dir)
    if run_config.get("mode") == "enhance":  # a face-enhancer run (reenact train-enhancer)
        from training.enhance_export import export_enhancer

        return export_enhancer(run_dir, out_path, options, log)
    if run_config.get("mode") == "swap":  # a face-swap run (reenact train-swap): its own data sets
        from training.swap_export import export_swap

        return export_swap(run_dir, out_path, options, log)
    data_dir = resolve_data_dir(run_config, data_dir)
    read_manifest(data_dir)  # fail on a missing data set before the slow restore
    log(f"loading the generator from {run_dir}")
    from training.train import load_generator

    model, _ = load_generator(run_dir)
    return export_model(model, out_path, data_dir, run_dir, run_config, options, log)


def export_model(model, out_path, data_dir, run_dir, run_config: dict,
                 options: ExportOptions = ExportOptions(), log: Callable[[str], None] = print) -> ExportReport:
    """Convert a restored Keras generator, embed the run's metadata and check parity."""
    out_path, data_dir, run_dir = Path(out_path), Path(data_dir), Path(run_dir)
    model = float32_copy(model)
    manifest = read_manifest(data_dir)  # checks the sketch version too
    input_size = int(model.inputs[0].shape[1])
    if input_size != manifest.get("size"):
        raise UserError(f"run {run_dir} takes {input_size}-pixel sketches but data {data_dir} holds "
                        f"{manifest.get('size')}-pixel frames")
    profile = read_target_profile(run_dir, data_dir)

    appearance = takes_appearance(model)
    appearance_image = None
    if appearance:
        appearance_id, appearance_crop = choose_appearance(data_dir, manifest, profile)
        log(f"appearance photo: training frame {appearance_id}, the nearest to the neutral face")
        appearance_image = GeneratorMetadata.encode_appearance(appearance_crop)

    def inputs(split: str, limit: int) -> list[np.ndarray]:
        sketches = network_sketches(data_dir, manifest, split, limit)
        return [sketches, clip_first_photos(data_dir, manifest, split, limit)] if appearance else [sketches]

    representative = None
    if options.quantization == "int8":
        representative = inputs("train", options.representative_count)
        log(f"converting to TFLite (int8, calibrated on {len(representative[0])} training sketches)")
    else:
        log(f"converting to TFLite ({options.quantization})")
    model_bytes = convert(model, options.quantization, representative)

    log("embedding metadata")
    metadata = build_metadata(run_dir, run_config, manifest, profile, input_size, options.quantization,
                              appearance_image)
    model_bytes = write_metadata(model_bytes, metadata)
    write_bytes_atomically(out_path, model_bytes)

    # Validation sketches, or training ones for a data set too small to hold any out.
    split = "val" if any(frame["split"] == "val" for frame in manifest["frames"]) else "train"
    parity_inputs = inputs(split, options.parity_count)
    log(f"checking TFLite against Keras on {len(parity_inputs[0])} {split} sketches")
    parity = parity_psnr(model, model_bytes, parity_inputs[0], options.threads,
                         parity_inputs[1] if appearance else None)
    return ExportReport(out_path, len(model_bytes), options.quantization, parity, len(parity_inputs[0]),
                        f"{split} sketches")
