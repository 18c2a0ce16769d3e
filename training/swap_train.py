"""The face-swap autoencoder on two prepared data sets, resumable (``reenact train-swap``).

One shared encoder and a decoder per identity, trained together by one Adam optimiser:
each step reconstructs a batch of A's faces through A's decoder and a batch of B's
through B's, from randomly warped inputs, with L1 plus SSIM inside the face mask and
extra weight on eyes, brows and lips. The run folder is the pix2pix trainer's:
``config.json`` (the resolved :class:`SwapConfig`), ``target_profile.json`` (B's, for
export), ``checkpoints/`` (complete ones only), ``logs/`` (TensorBoard) and
``preview.jpg`` (A's faces above, swapped to B below, rewritten at every validation).
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import metrics
from models.errors import UserError
from models.files import write_bytes_atomically
from models.sampling import spread
from training.checkpoints import (
    checkpoint_to_load,
    latest_checkpoint,
    restore,
    weights_fingerprint,
)
from training.config import SwapConfig
from training.monitor import checkpointed, run_steps
from training.swap_data import Faces, batch, encoder_views, load_faces
from training.train import TrainResult

B_LIMIT = 4000  # B's training faces held in memory, spread over its data set
PREVIEW_FACES = 8
VALIDATION_FACES = 64


class FaceSwap:
    """The shared encoder, both decoders and their optimiser, with one training step."""

    def __init__(self, config: SwapConfig):
        import keras

        from models.swap_networks import build_decoder, build_encoder

        keras.utils.set_random_seed(config.seed)
        self.config = config
        self.encoder = build_encoder(config.size, config.width, config.code)
        self.decoders = tuple(build_decoder(config.size, config.width, f"decoder_{side}", config.decoder_width)
                              for side in "ab")
        self.optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=0.5, beta_2=0.999)
        self.optimizer.build(self.variables)

    @property
    def variables(self) -> list:
        return self.encoder.trainable_variables + [v for d in self.decoders for v in d.trainable_variables]

    def face_loss(self, decoder, inputs, targets, weights) -> dict:
        """L1 and SSIM terms of one identity's batch, inside its face masks."""
        import tensorflow as tf

        drawn = decoder(self.encoder(inputs, training=True), training=True)
        l1 = tf.reduce_sum(tf.abs(drawn - targets) * weights) / (3.0 * tf.reduce_sum(weights) + 1.0)
        # SSIM of the face alone: outside the mask the drawn image is replaced by the target.
        inside = tf.minimum(weights, 1.0)
        ssim = tf.reduce_mean(tf.image.ssim(targets + (drawn - targets) * inside, targets, max_val=2.0))
        return {"l1": l1, "ssim": ssim, "total": l1 + self.config.ssim_weight * (1.0 - ssim) / 2.0}

    def train_step(self, a_inputs, a_targets, a_weights, b_inputs, b_targets, b_weights) -> dict:
        import tensorflow as tf

        with tf.GradientTape() as tape:
            a = self.face_loss(self.decoders[0], a_inputs, a_targets, a_weights)
            b = self.face_loss(self.decoders[1], b_inputs, b_targets, b_weights)
            total = a["total"] + b["total"]
        variables = self.variables
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        return {"a_l1": a["l1"], "a_ssim": a["ssim"], "b_l1": b["l1"], "b_ssim": b["ssim"], "total": total}

    def swap(self, faces: np.ndarray, decoder: int = 1) -> np.ndarray:
        """uint8 faces (N, S, S, 3) drawn by one decoder (1: B's) in inference mode."""
        outputs = []
        for start in range(0, len(faces), 16):
            x = faces[start:start + 16].astype(np.float32) / 127.5 - 1.0
            outputs.append(np.asarray(self.decoders[decoder](self.encoder(x, training=False), training=False)))
        return np.clip(np.round((np.concatenate(outputs) + 1.0) * 127.5), 0, 255).astype(np.uint8)

    def checkpoint(self, step):
        import tensorflow as tf

        return tf.train.Checkpoint(step=step, encoder=self.encoder, decoder_a=self.decoders[0],
                                   decoder_b=self.decoders[1], optimizer=self.optimizer)


def load_swap(run_dir) -> tuple[FaceSwap, SwapConfig]:
    """The networks of a swap run with its latest checkpoint restored; UserError otherwise."""
    import tensorflow as tf

    config, path = checkpoint_to_load(run_dir, SwapConfig, "train-swap")
    swap = FaceSwap(config)
    restore(tf.train.Checkpoint(encoder=swap.encoder, decoder_a=swap.decoders[0], decoder_b=swap.decoders[1]),
            path, run_dir)
    return swap, config


@dataclass(frozen=True)
class SwapValidation:
    """B's held-out faces, reconstructed, and A's faces for the preview."""

    b_faces: Faces
    a_faces: Faces

    def measure(self, swap: FaceSwap) -> tuple[dict, np.ndarray]:
        """PSNR (over the face's pixels) and SSIM (of the face on the real background) of B's
        reconstructions, and the preview (A above, as B below)."""
        from models.swap_mask import face_mask

        drawn = swap.swap(encoder_views(self.b_faces, swap.config))
        psnrs, ssims = [], []
        for face, real, points in zip(drawn, self.b_faces.crops, self.b_faces.points):
            mask = face_mask(points, face.shape[0])[:, :, None]
            inside = mask[:, :, 0] == 1
            psnrs.append(metrics.psnr(face[inside], real[inside]))
            ssims.append(metrics.ssim(np.where(mask, face, real), real))
        swapped = swap.swap(encoder_views(self.a_faces, swap.config))
        preview = np.vstack([np.hstack(list(self.a_faces.crops)), np.hstack(list(swapped))])
        return {"b_psnr": float(np.mean(psnrs)), "b_ssim": float(np.mean(ssims))}, preview


def _prepare_run_folder(config: SwapConfig, run_dir: Path, resume: bool) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(run_dir / "config.json", (config.to_json() + "\n").encode("utf-8"))
    profile = Path(config.data_b) / "target_profile.json"
    if profile.is_file() and (not resume or not (run_dir / "target_profile.json").is_file()):
        shutil.copyfile(profile, run_dir / "target_profile.json")


def train_swap(config: SwapConfig, run_dir, resume: bool = False) -> TrainResult:
    """Train (or resume) the swap run in ``run_dir`` up to ``config.steps``; returns where it stopped
    (its fingerprint is the encoder's)."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    if resume and latest_checkpoint(run_dir) is None:
        raise UserError(f"run {run_dir}: no checkpoint to resume from; start it without --resume")
    # A is the user's footage: every frame of it counts. B keeps its held-out clips for validation.
    a_faces = load_faces(config.data_a, config.size, ("train", "val"))
    b_faces = load_faces(config.data_b, config.size, ("train",), limit=B_LIMIT)
    try:
        b_held_out = load_faces(config.data_b, config.size, ("val",), limit=VALIDATION_FACES)
    except UserError:
        b_held_out = Faces(b_faces.crops[:VALIDATION_FACES], b_faces.points[:VALIDATION_FACES],
                           b_faces.ids[:VALIDATION_FACES])
    chosen = spread(len(a_faces), PREVIEW_FACES)
    validation = SwapValidation(b_held_out, Faces(a_faces.crops[chosen], a_faces.points[chosen],
                                                  tuple(a_faces.ids[i] for i in chosen)))
    _prepare_run_folder(config, run_dir, resume)

    swap = FaceSwap(config)
    step, manager, first_step = checkpointed(swap.checkpoint, run_dir, resume)
    spec = [tf.TensorSpec((config.batch, config.size, config.size, channels), tf.float32)
            for channels in (3, 3, 1) * 2]
    train_step = tf.function(swap.train_step, input_signature=spec, autograph=False)

    print(f"training swap {run_dir} from step {first_step} to {config.steps}: {len(a_faces)} faces of A, "
          f"{len(b_faces)} of B ({len(b_held_out)} held out), encoder {swap.encoder.count_params():,} "
          f"and decoders {swap.decoders[0].count_params():,} parameters each", file=sys.stderr)
    current, stopped_by, measured = run_steps(
        config, run_dir, first_step, step, manager,
        lambda at: train_step(*batch(a_faces, config, 0, at), *batch(b_faces, config, 1, at)),
        lambda: validation.measure(swap), "val/a_swapped_to_b")
    fingerprint = weights_fingerprint(swap.encoder)
    print(f"finished at step {current}; encoder weights fingerprint {fingerprint}", file=sys.stderr)
    return TrainResult(current, stopped_by, fingerprint, measured)
