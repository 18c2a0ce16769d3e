"""Checkpoints of a training run, and the generator that export restores from them.

A checkpoint (``RUN/checkpoints/ckpt-STEP``, written by ``tf.train.CheckpointManager``)
holds the step, both networks and both optimisers. The generator's batch-norm moving
statistics in it are recalibrated for inference before every save, so
:func:`load_generator` returns a network ready for ``training=False``.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

import numpy as np

from models.errors import UserError
from training.config import TrainConfig
from training.dataset import FrameArrays, first_of_clip, network_inputs

CHECKPOINTS = "checkpoints"  # folder inside RUN
CHECKPOINTS_KEPT = 3


def latest_checkpoint(run_dir: Path) -> str | None:
    """The path prefix of the run's latest complete checkpoint, or None."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(str(Path(run_dir) / CHECKPOINTS))


def restore(checkpoint, path: str, run_dir: Path) -> None:
    """Restore ``checkpoint`` from ``path``; UserError when it is damaged or does not fit."""
    import tensorflow as tf

    try:
        # expect_partial: load_generator reads only the generator's part.
        checkpoint.restore(path).expect_partial().assert_existing_objects_matched()
    except (tf.errors.OpError, ValueError, AssertionError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        index = Path(path).parent / "checkpoint"
        raise UserError(f"run {run_dir}: checkpoint {Path(path).name} is unreadable or does not match "
                        f"config.json ({first_line[:200]}); name an earlier ckpt-N in {index} "
                        "to fall back to it, or train a new run") from None


def checkpoint_to_load(run_dir: Path, config_class, verb: str):
    """(config, checkpoint path) of a run folder made by ``reenact VERB``; UserError otherwise."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"run {run_dir}: no such folder (train one with `reenact {verb}`)")
    config = config_class.read(run_dir / "config.json")
    path = latest_checkpoint(run_dir)
    if path is None:
        raise UserError(f"run {run_dir}: no checkpoint yet; train longer (checkpoints come every "
                        f"{config.save_every} steps and on Ctrl-C)")
    return config, path


def load_generator(run_dir):
    """(generator, config) of a training run: built from config.json, latest weights restored.

    The generator is built in float32 whatever precision trained it (the variables are
    float32 either way). Raises UserError for a folder that is not a run, a run without
    checkpoints, or a damaged checkpoint.
    """
    import tensorflow as tf

    from models.networks import build_generator

    config, path = checkpoint_to_load(run_dir, TrainConfig, "train")
    generator = build_generator(**config.generator_options())
    restore(tf.train.Checkpoint(generator=generator), path, run_dir)
    return generator, config


def weights_fingerprint(model) -> str:
    """A short hash of a model's weights: equal on every worker of a synchronous run."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight, np.float32).tobytes())
    return digest.hexdigest()[:16]


# ---------------------------------------------------- batch-norm statistics for inference

@contextlib.contextmanager
def _without_dropout_and_with_momentum(model):
    """Dropout off and batch-norm momentum settable (``set_momentum``) inside; restored after."""
    import keras

    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    momenta, rates = [layer.momentum for layer in norms], [layer.rate for layer in dropouts]

    def set_momentum(value: float) -> None:
        for layer in norms:
            layer.momentum = value

    try:
        for layer in dropouts:
            layer.rate = 0.0  # Keras reads the rate at call time (these calls run eagerly)
        yield set_momentum
    finally:
        for layer, momentum in zip(norms, momenta):
            layer.momentum = momentum
        for layer, rate in zip(dropouts, rates):
            layer.rate = rate


RECALIBRATION_FRAMES = 512  # a fixed sample: the statistics of 512 faces are settled


def recalibrate_batch_norm(generator, frames: FrameArrays, batch: int, seed: int = 0) -> None:
    """Set the generator's batch-norm moving statistics to their mean over the training frames.

    Training normalises with batch statistics taken with dropout on; inference turns dropout
    off, so the moving averages (collected with dropout, lagging behind the weights) do not
    fit it, and inference-mode faces come out washed out until they are re-estimated.
    Batches of the training size, without dropout, averaged with equal weights ("precise
    batch norm") over at most :data:`RECALIBRATION_FRAMES` frames of a fixed shuffle, which
    keeps every worker identical and the cost bounded on a large data set (every frame of
    18,000 took minutes per checkpoint). Training mode never reads the moving statistics,
    so this changes nothing else.
    """
    order = np.random.default_rng(seed).permutation(len(frames))[:RECALIBRATION_FRAMES]
    batch = min(batch, len(frames))
    firsts = first_of_clip(frames) if len(generator.inputs) == 2 else None  # an appearance generator's photos
    with _without_dropout_and_with_momentum(generator) as set_momentum:
        for count, start in enumerate(range(0, len(order) - batch + 1, batch), start=1):
            set_momentum(1.0 - 1.0 / count)  # a running mean: batch k weighs 1/k
            inputs = network_inputs(frames, order[start:start + batch], firsts)
            generator(inputs if len(inputs) == 2 else inputs[0], training=True)
