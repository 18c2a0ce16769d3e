"""``reenact eval --enhancer --data FOLDER``: an enhancer on sharp faces, beside bicubic enlargement.

Each face of the folder is aligned, degraded the project's stated way
(``models.degradation.STATED``), restored by the exported enhancer on LiteRT as the loop
runs it, and measured against the sharp face (``training.restoration_figures``): PSNR,
SSIM, the sharpness ratio and, where dlib's recognizer is installed, the identity
distance; bicubic enlargement of the same degraded face beside each. On the folder the
enhancer was trained on, only the people it held out are measured.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from evaluation.identity import recognizer
from models.errors import UserError
from models.files import write_json
from realtime.enhancer_runner import EnhancerRunner
from training.restoration_figures import measure, summary
from training.sharp_faces import align_folder


def evaluate_enhancer(enhancer: Path, folder: Path, json_out: Path, sheet: Path | None = None) -> dict:
    """Measure ``enhancer`` on the faces of ``folder``; write the figures (and a sheet) and return them."""
    runner = EnhancerRunner.from_file(Path(enhancer))
    faces = align_folder(folder, runner.output_size)
    note = "every face of the folder"
    if Path(folder).resolve().name == runner.metadata.training.get("data") and runner.metadata.held_out:
        held = set(runner.metadata.held_out)
        keep = [person in held for person in faces.people]
        if not any(keep):
            raise UserError(f"{folder}: none of the {len(held)} people the enhancer held out is here")
        note = f"the {sum(keep)} faces of the {len(held)} people held out of training ({len(faces) - sum(keep)} " \
               "training faces left out)"
        faces = faces.subset(keep)
    identity = recognizer()
    figures, grid = measure(runner.enhance, faces, identity)
    report = {"enhancer": str(enhancer), "folder": str(folder), "measured": note, **figures,
              "identity_measured": identity is not None,
              "sharpness_over_bicubic": figures["sharpness"] / figures["bicubic_sharpness"],
              "psnr_over_bicubic_db": figures["psnr"] - figures["bicubic_psnr"]}
    write_json(Path(json_out), report)
    if sheet is not None:
        Path(sheet).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(sheet), grid)
    print(summary(figures))
    if identity is None:
        print("identity not measured: pip install -e .[eval] adds dlib's face recognizer")
    return report
