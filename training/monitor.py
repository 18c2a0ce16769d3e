"""The step loop the face-swap and enhancer trainers share: logs, validation, checkpoints, a clean stop.

Every ``log_every`` steps the losses go to TensorBoard and a log line; every
``validate_every`` steps the validation figures too, with the preview image written to
TensorBoard and ``RUN/preview.jpg``; every ``save_every`` steps, at the end and on
SIGINT/SIGTERM (after the current step) a checkpoint. (The pix2pix trainer,
:mod:`training.train`, runs on several devices and keeps its own loop.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from models.files import write_bytes_atomically
from training.train import Progress, StopRequest, write_image, write_scalar


def checkpointed(make_checkpoint, run_dir: Path, resume: bool):
    """(step counter, checkpoint manager, first step) for ``make_checkpoint(step)``: restored from the
    run's latest checkpoint with ``resume``, at step 0 otherwise."""
    import tensorflow as tf

    from training.checkpoints import CHECKPOINTS, CHECKPOINTS_KEPT, latest_checkpoint, restore

    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = make_checkpoint(step)
    if resume:
        restore(checkpoint, latest_checkpoint(run_dir), run_dir)
    manager = tf.train.CheckpointManager(checkpoint, str(Path(run_dir) / CHECKPOINTS), max_to_keep=CHECKPOINTS_KEPT,
                                         checkpoint_name="ckpt")
    return step, manager, int(step.numpy())


def run_steps(config, run_dir: Path, first_step: int, step_variable, manager,
              train_step: Callable[[int], dict], validate: Callable[[], tuple[dict, np.ndarray]],
              preview_tag: str) -> tuple[int, int | None, dict]:
    """Train from ``first_step`` to ``config.steps``; (the step reached, the signal that stopped it or None,
    the last validation figures).

    ``train_step(step)`` runs one step and returns its named losses; ``validate()`` returns
    (figures, preview image, BGR). ``step_variable`` is the checkpoint's step counter.
    """
    import tensorflow as tf

    writer = tf.summary.create_file_writer(str(Path(run_dir) / "logs"))
    progress = Progress(first_step, config.steps, enabled=True)
    stop = StopRequest()
    current, stopped_by, measured = first_step, None, {}
    try:
        with stop.installed(), writer.as_default():
            while current < config.steps:
                losses = train_step(current)
                current += 1
                step_variable.assign(current)
                stopping = stop.signal_number is not None
                logged = None
                if current % config.log_every == 0 or current == config.steps:
                    logged = {name: float(value) for name, value in losses.items()}
                    for name, value in logged.items():
                        write_scalar(f"loss/{name}", value, current)
                if current % config.validate_every == 0 or current == config.steps:
                    measured, preview = validate()
                    for name, value in measured.items():
                        write_scalar(f"val/{name}", value, current)
                    write_image(preview_tag, np.ascontiguousarray(preview[:, :, ::-1]), current)
                    encoded = cv2.imencode(".jpg", preview, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
                    write_bytes_atomically(Path(run_dir) / "preview.jpg", encoded)
                    progress.write(f"step {current}: validation " +
                                   " ".join(f"{name} {value:.4f}" for name, value in measured.items()))
                progress.step(current, logged)
                if stopping or current % config.save_every == 0 or current == config.steps:
                    manager.save(checkpoint_number=current)
                if stopping:
                    stopped_by = stop.signal_number
                    break
    finally:
        progress.close()
        writer.flush()
    return current, stopped_by, measured
