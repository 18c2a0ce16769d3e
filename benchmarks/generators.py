"""Generator variants that ``reenact bench`` times beside the shipped model.

Each variant is a :class:`VariantSpec`: pix2pix's own reference size, the shipped
architecture in every quantisation, and cheaper candidates, among them a decoder that
convolves at the lower resolution and then resizes (built here, only as a timing
candidate). Building needs TensorFlow, so the bench runs this module in a child process
(``python -m benchmarks.generators --out DIR --like MODEL``) and keeps the files in a
cache folder, named by a digest of each spec: the measured process never imports
TensorFlow, and later runs build nothing.

Weights are random (timing does not depend on them). Full-integer int8 variants are
calibrated on sketches of the model's own neutral face with jittered landmarks, and have
int8 input and output tensors, like the project's int8 export. Each file carries the
shipped model's metadata with its own size, quantisation and architecture, so the live
loop's :class:`~realtime.generator_runner.GeneratorRunner` runs it unchanged.

This module imports neither TensorFlow nor Keras at import time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from models.default_model import DEFAULT_GENERATOR
from models.errors import UserError
from models.generator_contract import GeneratorMetadata, load_generator_file, write_metadata
from models.generator_recipe import QUANTIZATIONS, UPSAMPLE_MODES
from models.landmarker_asset import cache_dir

BUILD_VERSION = 3  # bump when a change here alters the files built for the same spec
CALIBRATION_SKETCHES = 16
BUILD_TIMEOUT_S = 3600.0  # pix2pix's reference size alone takes minutes on a loaded 2-core machine
REPOSITORY = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class VariantScale:
    """The size of every variant: ``full`` is what the bench reports, ``small`` checks the machinery."""

    size: int | None  # None: the shipped model's input size
    width_divisor: int


SCALES = {"full": VariantScale(size=None, width_divisor=1), "small": VariantScale(size=32, width_divisor=8)}


@dataclass(frozen=True)
class VariantSpec:
    """One network to build and time: a U-Net of ``width`` at ``size`` with a decoder kind."""

    role: str = field(compare=False)  # "reference", "shipped architecture" or "candidate"
    size: int
    width: int
    decoder: str  # build_generator's upsample mode
    quantization: str
    depth: int | None = None  # None: down to 1 x 1, as pix2pix

    def __post_init__(self):
        if self.decoder not in UPSAMPLE_MODES or self.quantization not in QUANTIZATIONS:
            raise ValueError(f"got decoder {self.decoder!r} and quantisation {self.quantization!r}, "
                             f"expected one of {UPSAMPLE_MODES} and one of {QUANTIZATIONS}")

    @property
    def name(self) -> str:
        return f"{self.role}: U-Net w{self.width} {self.decoder} {self.size}px {self.quantization}"

    @property
    def file_name(self) -> str:
        network = {key: value for key, value in asdict(self).items() if key != "role"}
        digest = hashlib.sha256(json.dumps({**network, "build": BUILD_VERSION}, sort_keys=True).encode())
        return f"unet-w{self.width}-{self.decoder}-{self.size}-{self.quantization}-{digest.hexdigest()[:10]}.tflite"


def bench_cache_dir() -> Path:
    """Where built variants are kept: ``<reenact cache>/bench_models``."""
    return cache_dir() / "bench_models"


def shipped_architecture(metadata: GeneratorMetadata) -> dict | None:
    """``{"width", "upsample", "depth"}`` of a model built by ``build_generator``, else None.

    Exports record the training run's architecture keys; a model made another way (a
    test's stand-in) names none, and then has no "same architecture" variants.
    """
    architecture = metadata.architecture or {}
    if not isinstance(architecture.get("width"), int) or architecture.get("upsample") not in UPSAMPLE_MODES:
        return None
    return {"width": architecture["width"], "upsample": architecture["upsample"], "depth": architecture.get("depth")}


def standard_variants(metadata: GeneratorMetadata, scale: str = "full") -> list[VariantSpec]:
    """The variants the bench times, in the order it reports them."""
    if scale not in SCALES:
        raise UserError(f"got variant scale {scale!r}, expected one of {', '.join(SCALES)}")
    chosen = SCALES[scale]
    size = chosen.size or metadata.input_size

    def spec(role: str, width: int, decoder: str, quantization: str, depth: int | None = None) -> VariantSpec:
        return VariantSpec(role, size, max(2, width // chosen.width_divisor), decoder, quantization,
                           depth if chosen.size is None else None)

    # pix2pix's generator: base width 64, transposed convolutions, 256 x 256, float32.
    specs = [VariantSpec("reference", chosen.size or 256, 64 // chosen.width_divisor, "transpose", "fp32")]
    architecture = shipped_architecture(metadata)
    if architecture is not None:
        specs += [spec("shipped architecture", architecture["width"], architecture["upsample"], quantization,
                       architecture["depth"]) for quantization in QUANTIZATIONS]
    specs += [spec("candidate", 16, "resize", "int8"), spec("candidate", 24, "resize", "int8"),
              spec("candidate", 16, "low-resolution", "int8"), spec("candidate", 32, "low-resolution", "int8")]
    return specs


def variant_paths(specs: list[VariantSpec], folder: Path) -> dict[VariantSpec, Path]:
    return {spec: folder / spec.file_name for spec in specs}


# ------------------------------------------------------------------ the parent's side: no TensorFlow


def ensure_variants(model_path: Path, scale: str = "full", folder: Path | None = None,
                    timeout_s: float = BUILD_TIMEOUT_S) -> dict[VariantSpec, Path]:
    """The standard variants for ``model_path``, building missing ones in a child process."""
    folder = Path(folder or bench_cache_dir()).resolve()
    _, metadata = load_generator_file(model_path)
    paths = variant_paths(standard_variants(metadata, scale), folder)
    missing = [spec for spec, path in paths.items() if not path.is_file()]
    if not missing:
        return paths
    if importlib.util.find_spec("tensorflow") is None:
        raise UserError(f"{len(missing)} benchmark variants are not built yet and building them needs "
                        "TensorFlow: install the training extra (pip install -e '.[train]') or pass --variants none")
    print(f"building {len(missing)} benchmark variants into {folder} (once; TensorFlow in a child process)",
          file=sys.stderr)
    command = [sys.executable, "-m", "benchmarks.generators", "--out", str(folder),
               "--like", str(Path(model_path).resolve()), "--scale", scale]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY),
                                                                              os.environ.get("PYTHONPATH")]))}
    try:
        result = subprocess.run(command, cwd=REPOSITORY, env=environment, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"building the benchmark variants took over {timeout_s:.0f} s; run "
                        f"`{' '.join(command[1:])}` on its own, or pass --variants none") from None
    still_missing = [spec.name for spec in missing if not paths[spec].is_file()]
    if result.returncode != 0 or still_missing:
        raise UserError(f"building the benchmark variants failed (exit {result.returncode}, not built: "
                        f"{', '.join(still_missing)}); its messages are above; pass --variants none to skip them")
    return paths


# ------------------------------------------------------------------ the child's side: TensorFlow


def build_keras(spec: VariantSpec):
    """The Keras network of ``spec``, random weights (imports TensorFlow)."""
    import keras

    from models.networks import build_generator

    keras.utils.set_random_seed(0)
    return build_generator(spec.size, spec.width, spec.depth, upsample=spec.decoder, dropout=0.0)


def calibration_sketches(metadata: GeneratorMetadata, size: int, count: int = CALIBRATION_SKETCHES) -> np.ndarray:
    """(count, size, size, 3) float32 in [-1, 1]: the model's neutral face, landmarks jittered."""
    from models.sketch import render_sketch

    neutral = metadata.neutral * (size / metadata.input_size)
    rng = np.random.default_rng(0)
    sketches = [render_sketch(neutral + rng.normal(0.0, 0.01 * size, neutral.shape).astype(np.float32), size)
                for _ in range(count)]
    return np.stack(sketches).astype(np.float32) / 127.5 - 1.0


def variant_metadata(metadata: GeneratorMetadata, spec: VariantSpec) -> GeneratorMetadata:
    """The shipped model's contract, restated for the variant's size, quantisation and network."""
    neutral = metadata.neutral * (spec.size / metadata.input_size)
    return replace(metadata, input_size=spec.size, quantization=spec.quantization,
                   neutral_landmarks=neutral.round(3).tolist(), credit="benchmark variant, random weights",
                   architecture={"size": spec.size, "width": spec.width, "depth": spec.depth,
                                 "decoder": spec.decoder, "role": spec.role}, training={},
                   appearance_image=None)  # sketch-only networks, whatever the shipped one takes


def build_variants(specs: list[VariantSpec], folder: Path, like_model: Path) -> list[Path]:
    """Build every spec whose file is missing from ``folder`` (imports TensorFlow)."""
    from training.tflite import convert

    _, metadata = load_generator_file(like_model)
    folder.mkdir(parents=True, exist_ok=True)
    built = []
    for spec, path in variant_paths(specs, folder).items():
        if path.is_file():
            continue
        print(f"building {spec.name}", file=sys.stderr, flush=True)
        representative = [calibration_sketches(metadata, spec.size)] if spec.quantization == "int8" else None
        model_bytes = write_metadata(convert(build_keras(spec), spec.quantization, representative),
                                     variant_metadata(metadata, spec))
        partial = path.with_suffix(".part")
        partial.write_bytes(model_bytes)
        os.replace(partial, path)  # atomic: an interrupted build never leaves a half file behind
        built.append(path)
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False,
                                     description="Build the generator variants that `reenact bench` times.")
    parser.add_argument("--out", type=Path, default=None, help=f"folder for the files (default {bench_cache_dir()})")
    parser.add_argument("--like", type=Path, default=DEFAULT_GENERATOR, metavar="MODEL",
                        help="the model whose metadata and architecture the variants follow (default: the shipped one)")
    parser.add_argument("--scale", choices=tuple(SCALES), default="full")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        _, metadata = load_generator_file(args.like)
        built = build_variants(standard_variants(metadata, args.scale), args.out or bench_cache_dir(), args.like)
    except UserError as error:
        print(f"benchmarks.generators: error: {error}", file=sys.stderr)
        return 2
    print(f"built {len(built)} variants", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
