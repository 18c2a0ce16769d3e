"""``reenact export``: any trained run to a self-describing TFLite file, and the generator's own export.

The run's ``config.json`` says its kind (:data:`EXPORTERS`): a pix2pix generator (here), a
face-swap autoencoder (:mod:`training.swap_export`) or a face enhancer
(:mod:`training.enhance_export`). The generator's phases: restore it from the run, trace
an inference function (``training=False``: no dropout, batch normalisation on its moving
statistics), convert it (:mod:`training.tflite`), embed the contract metadata (input
size, sketch version, margin, the target's neutral face and expression ranges, credit,
architecture, training summary), write the file atomically, and check it against Keras on
validation sketches.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Callable

import numpy as np

from models.errors import UserError
from models.files import write_bytes_atomically
from models.generator_contract import GeneratorMetadata, write_metadata
from training.dataset import load_split, read_frame, read_manifest, read_target_profile, recorded_outside_share
from training.tflite import ExportOptions, ExportReport, convert, float32_copy, parity_psnr

# A run's kind (config.json "mode") -> (module, function) of its exporter; "reenact" is this module's.
EXPORTERS = {"reenact": ("training.export", "export_generator"), "swap": ("training.swap_export", "export_swap"),
             "enhance": ("training.enhance_export", "export_enhancer")}
# Keys of RUN/config.json that describe the network rather than how it was trained.
ARCHITECTURE_KEYS = ("size", "width", "depth", "upsample", "dropout", "appearance")


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


def takes_appearance(model) -> bool:
    """Whether a Keras generator takes an appearance photo besides the sketch."""
    return len(model.inputs) == 2


def choose_appearance(data_dir: Path, manifest: dict, profile: dict) -> tuple[str, np.ndarray]:
    """(frame id, crop) of the training frame nearest the target's neutral face: the photo
    the live loop gives an appearance generator. Near-neutral, so the driver's expression is
    what changes it, and the retargeted sketches (built on that neutral) fit it. Only frames
    whose crop lies within the picture are candidates where there are any: a photo with a
    mirrored-in edge would put that edge into every live frame."""
    from tqdm import tqdm

    from training.coverage import EDGE_SHARE

    neutral = np.asarray(profile["neutral_landmarks"], np.float32)
    ids = [frame["id"] for frame in manifest["frames"] if frame["split"] == "train"]
    inside = [frame_id for frame_id in ids if not recorded_outside_share(data_dir, frame_id) > EDGE_SHARE]
    ids = inside or ids
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


def export_generator(run_dir, out_path, data_dir=None, options: ExportOptions = ExportOptions(),
                     log: Callable[[str], None] = print) -> ExportReport:
    """Export the latest checkpoint of a training run (pix2pix or face swap) to ``out_path``."""
    run_dir = Path(run_dir)
    run_config = read_run_config(run_dir)
    kind = run_config.get("mode", "reenact")
    if kind not in EXPORTERS:
        raise UserError(f"run {run_dir}: a {kind!r} run, which this version cannot export (kinds: "
                        f"{', '.join(EXPORTERS)})")
    if kind != "reenact":  # each other kind reads its own data sets from its run
        module, function = EXPORTERS[kind]
        return getattr(importlib.import_module(module), function)(run_dir, out_path, options, log)
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
