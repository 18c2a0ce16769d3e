"""Export of a face-enhancer run: the enhancer at a fixed 256-px input, as TFLite with its metadata.

int8 calibrates on training faces degraded the ways training degraded them; the export
then checks the file against Keras (parity PSNR) and measures it on the held-out people
(``training.restoration_figures``), and stores those figures in the file.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np

from models.degradation import LIVE_SIZE, SHARP_SIZE, STATED, degrade, random_degradation
from models.enhancer_contract import EnhancerMetadata
from models.files import write_bytes_atomically
from models.generator_contract import write_metadata
from models.sampling import spread

HD_FACES_CREDIT = ("Face Research Lab London Set, DeBruine & Jones (2017), doi:10.6084/m9.figshare.5047666.v5, "
                   "and Young Adult White Faces, DeBruine & Jones (2017), doi:10.6084/m9.figshare.4220517.v1, "
                   "CC BY 4.0; cropped and resized.")


def export_enhancer(run_dir, out_path, options, log: Callable[[str], None] = print):
    """Export the latest checkpoint of enhancer run ``run_dir`` to ``out_path``; an ExportReport."""
    from models.enhancer_network import build_enhancer
    from training.enhance_train import load_enhancer, run_faces
    from training.restoration_figures import measure
    from training.tflite import ExportReport, TFLiteGenerator, convert, parity_psnr

    run_dir, out_path = Path(run_dir), Path(out_path)
    trained, config = load_enhancer(run_dir)
    model = build_enhancer(config.width, config.blocks, LIVE_SIZE)  # the live loop's fixed size
    model.set_weights(trained.ema.get_weights())
    train_faces, val_faces = run_faces(config, run_dir)
    rng = np.random.default_rng(0)
    calibration = np.stack([degrade(train_faces.crops[i], random_degradation(rng) if k % 2 else STATED, rng)
                            for k, i in enumerate(spread(len(train_faces), options.representative_count))])
    log(f"converting to TFLite ({options.quantization}, calibrated on {len(calibration)} degraded training faces)")
    representative = [calibration.astype(np.float32) / 127.5 - 1.0]
    model_bytes = convert(model, options.quantization, representative if options.quantization == "int8" else None)
    parity_inputs = np.stack([degrade(face) for face in val_faces.crops[:options.parity_count]])
    parity = parity_psnr(model, model_bytes, parity_inputs.astype(np.float32) / 127.5 - 1.0, options.threads)
    runner = TFLiteGenerator(model_bytes, options.threads)

    def restore(face: np.ndarray) -> np.ndarray:
        drawn = runner.predict(face.astype(np.float32) / 127.5 - 1.0)
        return np.clip(np.round((drawn + 1.0) * 127.5), 0, 255).astype(np.uint8)

    log(f"measuring on {len(val_faces)} held-out faces")
    figures, _ = measure(restore, val_faces)
    metadata = EnhancerMetadata(
        input_size=LIVE_SIZE, output_size=SHARP_SIZE, quantization=options.quantization,
        credit=f"Trained on {HD_FACES_CREDIT}" if Path(config.data).name == "hd_faces" else f"Trained on {config.data}",
        degradation=asdict(STATED), held_out=sorted(set(val_faces.people)),
        architecture={"network": "enhancer", "width": config.width, "blocks": config.blocks},
        training={key: value for key, value in vars(config).items() if key not in ("width", "blocks")}
        | {"run": run_dir.name, "data": Path(config.data).name},
        figures={name: round(value, 4) for name, value in figures.items()})
    model_bytes = write_metadata(model_bytes, metadata)
    write_bytes_atomically(out_path, model_bytes)
    log("held-out faces: " + ", ".join(f"{name} {value:.3f}" for name, value in figures.items()))
    return ExportReport(out_path, len(model_bytes), options.quantization, parity, len(parity_inputs),
                        "held-out degraded faces")
