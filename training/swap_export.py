"""Export of a face-swap run: the shared encoder with B's decoder, as one TFLite model.

The same file format as a re-enactment generator, with metadata mode "swap": input and
output are aligned faces at the run's size, in [-1, 1] BGR; ``identities`` names A and B
(data set and credit); the target profile (neutral face, expression ranges) is B's, at
the model's size. int8 calibrates on A's faces, which is what the model sees live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from models.files import write_bytes_atomically
from models.generator_contract import GeneratorMetadata, write_metadata
from models.sampling import spread
from models.swap_mask import CROP_INPUT, FACE_INPUT
from training.config import SwapConfig
from training.dataset import read_manifest


def _identity(data_dir: Path, manifest: dict) -> dict:
    return {"data": data_dir.name, "credit": manifest.get("credit", "")}


def swap_metadata(run_dir: Path, config: SwapConfig, quantization: str) -> GeneratorMetadata:
    """The contract document of a swap run's export."""
    from training.dataset import read_target_profile

    data_a, data_b = Path(config.data_a), Path(config.data_b)
    manifest_a, manifest_b = read_manifest(data_a), read_manifest(data_b)
    profile = read_target_profile(run_dir, data_b)
    scale = config.size / int(manifest_b["size"])
    neutral = (np.asarray(profile["neutral_landmarks"], np.float64) * scale).round(3).tolist()
    credits = [f"Target (B): {manifest_b.get('credit') or data_b.name}",
               f"source side (A): {manifest_a.get('credit') or data_a.name}"]
    architecture = {"size": config.size, "width": config.width, "decoder_width": config.decoder_width or config.width,
                    "code": config.code, "network": "swap-autoencoder",
                    "input": FACE_INPUT if config.face_only else CROP_INPUT}
    # face_only is recorded as the architecture's "input", not twice.
    training = {key: value for key, value in vars(config).items()
                if key not in architecture and key != "face_only" and isinstance(value, (int, float, str, bool))}
    training.update(run=run_dir.name, data_a=data_a.name, data_b=data_b.name)
    return GeneratorMetadata(
        input_size=config.size, sketch_version=manifest_b["sketch_version"], margin=float(manifest_b["margin"]),
        neutral_landmarks=neutral, expression_ranges=profile["expression_ranges"], credit="; ".join(credits),
        quantization=quantization, architecture=architecture, training=training, mode="swap",
        identities={"a": _identity(data_a, manifest_a), "b": _identity(data_b, manifest_b)})


def export_swap(run_dir, out_path, options, log: Callable[[str], None] = print):
    """Export the latest checkpoint of swap run ``run_dir`` to ``out_path``; an ExportReport."""
    from models.swap_networks import build_swap
    from training.swap_data import encoder_views, load_faces
    from training.swap_train import load_swap
    from training.tflite import ExportReport, convert, parity_psnr

    run_dir, out_path = Path(run_dir), Path(out_path)
    log(f"loading the swap networks from {run_dir}")
    swap, config = load_swap(run_dir)
    model = build_swap(swap.encoder, swap.decoders[1])
    faces = load_faces(config.data_a, config.size, ("train", "val"),
                       limit=max(options.representative_count, options.parity_count), progress=False)
    inputs = encoder_views(faces, config).astype(np.float32) / 127.5 - 1.0
    if options.quantization == "int8":
        log(f"converting to TFLite (int8, calibrated on {len(inputs)} faces of A)")
    else:
        log(f"converting to TFLite ({options.quantization})")
    model_bytes = convert(model, options.quantization, [inputs[:options.representative_count]])
    log("embedding metadata")
    model_bytes = write_metadata(model_bytes, swap_metadata(run_dir, config, options.quantization))
    write_bytes_atomically(out_path, model_bytes)
    parity = inputs[spread(len(inputs), options.parity_count)]
    log(f"checking TFLite against Keras on {len(parity)} faces of A")
    psnr = parity_psnr(model, model_bytes, parity, options.threads)
    return ExportReport(out_path, len(model_bytes), options.quantization, psnr, len(parity), "faces of A")
