"""The face enhancer on a folder of sharp portraits, resumable (``reenact train-enhancer``).

Each step degrades a batch of sharp faces a random way (``training.sharp_faces``) and
trains the enhancer to restore them: L1 against the sharp face keeps the face and its
colours, and a small PatchGAN critic, which sees the enlarged degraded patch beside a
restored or a sharp one, asks for the detail a sharp face has. What is validated and
exported is a running average of the enhancer's weights (``ema``): the adversarial game
swings the weights from step to step (sharpness 0.54, 0.27, then 0.61 of the sharp face's
at steps 800, 1200 and 1600 of one run), and their average draws the steady middle.
Validation restores the held-out people's faces degraded the stated way and measures them
beside bicubic enlargement (``training.restoration_figures``).

The run folder is the other trainers': ``config.json`` (the resolved
:class:`EnhanceConfig`), ``faces.npz`` (the aligned faces, so a resume does not find
them again), ``checkpoints/``, ``logs/`` (TensorBoard) and ``preview.jpg`` (held-out
faces: degraded | bicubic | restored | sharp, rewritten at every validation).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from models.errors import UserError
from models.files import write_bytes_atomically
from training.checkpoints import (
    checkpoint_to_load,
    latest_checkpoint,
    restore,
    weights_fingerprint,
)
from training.config import EnhanceConfig
from training.monitor import checkpointed, run_steps
from training.restoration_figures import measure
from training.sharp_faces import SharpFaces, align_folder, held_out_people, training_batch
from training.train import TrainResult

FACES_FILE = "faces.npz"
EMA_DECAY = 0.995  # the average's memory: about 200 steps


class Enhancer:
    """The enhancer, its critic and their optimisers, with one training step."""

    def __init__(self, config: EnhanceConfig):
        import keras

        from models.enhancer_network import build_critic, build_enhancer

        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.enhancer = build_enhancer(config.width, config.blocks)
        self.ema = build_enhancer(config.width, config.blocks)
        self.ema.set_weights(self.enhancer.get_weights())
        self.critic = build_critic(config.critic_width)
        self.enhancer_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
        self.critic_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.5)
        self.enhancer_optimizer.build(self.enhancer.trainable_variables)
        self.critic_optimizer.build(self.critic.trainable_variables)

    def train_step(self, soft, sharp) -> dict:
        import tensorflow as tf

        def patch_loss(logits, label):
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(tf.fill(tf.shape(logits), label), logits))

        enlarged = tf.image.resize(soft, tf.shape(sharp)[1:3], method="bilinear")
        with tf.GradientTape() as enhancer_tape, tf.GradientTape() as critic_tape:
            restored = self.enhancer(soft, training=True)
            real = self.critic(tf.concat([enlarged, sharp], -1), training=True)
            fake = self.critic(tf.concat([enlarged, restored], -1), training=True)
            l1 = tf.reduce_mean(tf.abs(restored - sharp))
            adversarial = patch_loss(fake, 1.0)
            enhancer_total = self.config.l1_weight * l1 + self.config.adversarial_weight * adversarial
            critic_total = patch_loss(real, 1.0) + patch_loss(fake, 0.0)
        for tape, loss, network, optimizer in (
                (enhancer_tape, enhancer_total, self.enhancer, self.enhancer_optimizer),
                (critic_tape, critic_total, self.critic, self.critic_optimizer)):
            optimizer.apply_gradients(zip(tape.gradient(loss, network.trainable_variables),
                                          network.trainable_variables))
        for average, weight in zip(self.ema.weights, self.enhancer.weights):
            average.assign(EMA_DECAY * average + (1.0 - EMA_DECAY) * weight)
        return {"l1": l1, "adversarial": adversarial, "critic": critic_total}

    def restore_face(self, face: np.ndarray) -> np.ndarray:
        """A (S, S, 3) uint8 face restored at twice its size, in inference mode."""
        x = face[None].astype(np.float32) / 127.5 - 1.0
        y = np.asarray(self.ema(x, training=False))[0]
        return np.clip(np.round((y + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def checkpoint(self, step):
        import tensorflow as tf

        return tf.train.Checkpoint(step=step, enhancer=self.enhancer, ema=self.ema, critic=self.critic,
                                   enhancer_optimizer=self.enhancer_optimizer, critic_optimizer=self.critic_optimizer)


def load_enhancer(run_dir) -> tuple[Enhancer, EnhanceConfig]:
    """The enhancer of a run with its latest checkpoint restored (``ema``: what ships); UserError otherwise."""
    import tensorflow as tf

    config, path = checkpoint_to_load(run_dir, EnhanceConfig, "train-enhancer")
    enhancer = Enhancer(config)
    restore(tf.train.Checkpoint(enhancer=enhancer.enhancer, ema=enhancer.ema), path, run_dir)
    return enhancer, config


def run_faces(config: EnhanceConfig, run_dir: Path) -> tuple[SharpFaces, SharpFaces]:
    """(training, held-out) faces of a run: aligned once, then read back from ``faces.npz``."""
    path = run_dir / FACES_FILE
    if path.is_file():
        faces = SharpFaces.load(path)
    else:
        faces = align_folder(config.data)
        faces.save(path)
    held = held_out_people(faces.people, config.holdout)
    held_out = np.array([person in held for person in faces.people])
    return faces.subset(~held_out), faces.subset(held_out)


def train_enhancer(config: EnhanceConfig, run_dir, resume: bool = False) -> TrainResult:
    """Train (or resume) the enhancer run in ``run_dir`` up to ``config.steps``."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    if resume and latest_checkpoint(run_dir) is None:
        raise UserError(f"run {run_dir}: no checkpoint to resume from; start it without --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(run_dir / "config.json", (config.to_json() + "\n").encode("utf-8"))
    train_faces, val_faces = run_faces(config, run_dir)

    model = Enhancer(config)
    step, manager, first_step = checkpointed(model.checkpoint, run_dir, resume)
    spec = [tf.TensorSpec((config.batch, side, side, 3), tf.float32) for side in (config.patch, 2 * config.patch)]
    train_step = tf.function(model.train_step, input_signature=spec, autograph=False)

    print(f"training enhancer {run_dir} from step {first_step} to {config.steps}: {len(train_faces)} faces of "
          f"{len(set(train_faces.people))} people ({len(val_faces)} faces of {len(set(val_faces.people))} held out), "
          f"{model.enhancer.count_params():,} parameters", file=sys.stderr)
    current, stopped_by, measured = run_steps(
        config, run_dir, first_step, step, manager,
        lambda at: train_step(*training_batch(train_faces, config.batch, config.patch, config.seed, at)),
        lambda: measure(model.restore_face, val_faces), "val/restored")
    fingerprint = weights_fingerprint(model.ema)
    print(f"finished at step {current}; enhancer weights fingerprint {fingerprint}", file=sys.stderr)
    return TrainResult(current, stopped_by, fingerprint, measured)
