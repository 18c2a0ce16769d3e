"""pix2pix on a prepared data set, resumable, on one or many devices.

Phases: resolve the configuration (new run, or ``--resume`` from ``RUN/config.json``);
pick a tf.distribute strategy; build the networks and optimisers in its scope; restore
the latest checkpoint; then loop over a data order that is a pure function of
(seed, step), saving every ``save_every`` steps and when SIGINT or SIGTERM arrives.
Before each validation and checkpoint the generator's batch-norm moving statistics are
recalibrated for inference (see :func:`recalibrate_batch_norm`).

The run folder:
- ``config.json``: the resolved TrainConfig (rebuilds the generator without flags);
- ``target_profile.json``: copied from the data set, for ``reenact export``;
- ``checkpoints/``: ``tf.train.CheckpointManager`` files (step, both networks, both
  optimisers). A checkpoint becomes the latest only once fully written, so killing the
  process at any moment leaves the previous one intact;
- ``logs/``: TensorBoard (losses, validation L1/PSNR/SSIM, sketch | generated | real).

TensorFlow is imported inside functions only, so ``reenact --help`` stays instant.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models import metrics
from models.errors import UserError
from models.files import write_bytes_atomically
from training.checkpoints import (
    CHECKPOINTS,
    CHECKPOINTS_KEPT,
    latest_checkpoint,
    load_generator,
    recalibrate_batch_norm,
    restore,
    weights_fingerprint,
)
from training.config import TrainConfig
from training.dataset import FrameArrays, first_of_clip, load_split, network_inputs, read_manifest, training_dataset
from training.warm_start import read_start, warm_start

__all__ = ["train", "load_generator", "make_strategy", "Pix2Pix", "TrainResult"]

GRID_ROWS = 4  # validation frames shown in the TensorBoard image grid
VALIDATION_BATCH = 8
VALIDATION_LIMIT = 240  # validation frames, spread over the split: enough for stable means, quick


def make_strategy():
    """MultiWorkerMirrored when TF_CONFIG is set, Mirrored on several GPUs, else the default."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def is_chief(strategy) -> bool:
    """Whether this process writes the run folder (the only one, unless multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    return resolver.task_type == "worker" and resolver.task_id == 0 and \
        "chief" not in resolver.cluster_spec().as_dict()


# ---------------------------------------------------------------------------- the GAN

class Pix2Pix:
    """Generator, discriminator and their Adam optimisers, with one training step.

    Build it inside the strategy's scope. ``train_step`` runs on one replica and returns
    named losses already divided by the global batch, so summing over replicas gives
    the global mean.
    """

    def __init__(self, config: TrainConfig):
        import keras
        import tensorflow as tf

        from models.networks import build_discriminator, build_generator

        keras.utils.set_random_seed(config.seed)
        self.config = config
        synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
        self.generator = build_generator(**config.generator_options(), dtype=config.precision,
                                         synchronized_norm=synchronized)
        self.discriminator = build_discriminator(config.size, config.discriminator_width,
                                                 dtype=config.precision, synchronized_norm=synchronized)
        self.generator_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta1)
        self.discriminator_optimizer = keras.optimizers.Adam(config.learning_rate, beta_1=config.beta1)
        # Build the optimiser slots now, so a checkpoint restores into them immediately.
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def train_step(self, sketch, photo, mouth, mouth_weight, appearance=None) -> dict:
        """One pix2pix update of both networks; returns the named losses.

        ``mouth_weight`` is the lip term's weight for this step (a tensor, so that the
        schedule of :meth:`TrainConfig.mouth_weight_at` does not retrace the step).
        ``appearance`` is the batch's appearance photos, for a generator that takes them.
        (The discriminator judges the pair sketch and photo either way.)
        """
        import tensorflow as tf

        def patch_loss(logits, label):  # per example: mean over the PatchGAN's patches
            labels = tf.fill(tf.shape(logits), label)
            return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits), axis=[1, 2, 3])

        with tf.GradientTape() as generator_tape, tf.GradientTape() as discriminator_tape:
            fake = self.generator(sketch if appearance is None else [sketch, appearance], training=True)
            real_logits = self.discriminator([sketch, photo], training=True)
            fake_logits = self.discriminator([sketch, fake], training=True)
            generator_gan = patch_loss(fake_logits, 1.0)
            error = tf.abs(photo - fake)
            generator_l1 = tf.reduce_mean(error, axis=[1, 2, 3])
            # Mean error inside the lip mask (mouth: (batch, S, S, 1) of 0/1).
            mouth_l1 = tf.reduce_sum(error * mouth, axis=[1, 2, 3]) / (
                3.0 * tf.reduce_sum(mouth, axis=[1, 2, 3]) + 1.0)
            discriminator = patch_loss(real_logits, 1.0) + patch_loss(fake_logits, 0.0)
            generator_total = tf.nn.compute_average_loss(
                generator_gan + self.config.l1_weight * (generator_l1 + mouth_weight * mouth_l1))
            discriminator_total = tf.nn.compute_average_loss(discriminator)

        for tape, loss, network, optimizer in (
                (generator_tape, generator_total, self.generator, self.generator_optimizer),
                (discriminator_tape, discriminator_total, self.discriminator, self.discriminator_optimizer)):
            gradients = tape.gradient(loss, network.trainable_variables)
            optimizer.apply_gradients(zip(gradients, network.trainable_variables))
        return {
            "generator_gan": tf.nn.compute_average_loss(generator_gan),
            "generator_l1": tf.nn.compute_average_loss(generator_l1),
            "generator_mouth_l1": tf.nn.compute_average_loss(mouth_l1),
            "generator_total": generator_total,
            "discriminator": discriminator_total,
        }

    def checkpoint(self, step):
        """The tf.train.Checkpoint of everything a resumed run needs."""
        import tensorflow as tf

        return tf.train.Checkpoint(step=step, generator=self.generator, discriminator=self.discriminator,
                                   generator_optimizer=self.generator_optimizer,
                                   discriminator_optimizer=self.discriminator_optimizer)


def _prepare_run_folder(config: TrainConfig, run_dir: Path, resume: bool) -> None:
    """Create RUN with its config and the target profile (chief only)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(run_dir / "config.json", (config.to_json() + "\n").encode("utf-8"))
    profile = Path(config.data) / "target_profile.json"
    if profile.is_file():
        if not resume or not (run_dir / "target_profile.json").is_file():
            shutil.copyfile(profile, run_dir / "target_profile.json")
    else:
        print(f"warning: {profile} is missing; `reenact export` will need it", file=sys.stderr)


# --------------------------------------------------------------------- monitoring

def _to_uint8(images: np.ndarray) -> np.ndarray:
    return np.clip(np.round((images + 1.0) * 127.5), 0, 255).astype(np.uint8)


def validate(generate, frames: FrameArrays, appearance: bool = False) -> tuple[dict, np.ndarray]:
    """Validation metrics (as ``reenact eval`` defines them) and the generated uint8 images.

    A ``appearance`` generator gets each clip's first frame as its appearance photo, and
    that frame is left out of the means (it would only measure copying).
    """
    appearances = first_of_clip(frames)
    outputs = []
    for start in range(0, len(frames), VALIDATION_BATCH):
        inputs = network_inputs(frames, slice(start, start + VALIDATION_BATCH), appearances if appearance else None)
        outputs.append(_to_uint8(np.asarray(generate(*inputs))))
    generated = np.concatenate(outputs)
    scored = [index for index in range(len(frames)) if not appearance or appearances[index] != index]
    pairs = [(generated[index], frames.photos[index]) for index in scored or range(len(frames))]
    values = {
        "l1": float(np.mean([metrics.l1(a, b) for a, b in pairs])),
        "psnr": float(np.mean([metrics.psnr(a, b) for a, b in pairs])),
        "ssim": float(np.mean([metrics.ssim(a, b) for a, b in pairs])),
    }
    return values, generated


def image_grid(frames: FrameArrays, generated: np.ndarray) -> np.ndarray:
    """Rows of sketch | generated | real, RGB for TensorBoard, (H, W, 3) uint8."""
    rows = [np.hstack([frames.sketches[i], generated[i], frames.photos[i]]) for i in range(len(generated))]
    return np.ascontiguousarray(np.vstack(rows)[:, :, ::-1])


def _summary_metadata(plugin_name: str) -> bytes:
    from tensorflow.core.framework import summary_pb2

    plugin = summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name)
    return summary_pb2.SummaryMetadata(plugin_data=plugin).SerializeToString()


# tf.summary.scalar and .image live in the tensorboard package, which training does not
# need otherwise; tf.summary.write with the plugins' own formats makes the same events.
def write_scalar(tag: str, value: float, step: int) -> None:
    """A TensorBoard scalar in the default summary writer."""
    import tensorflow as tf

    tf.summary.write(tag, tf.constant(value, tf.float32), step=step, metadata=_summary_metadata("scalars"))


def write_image(tag: str, image: np.ndarray, step: int) -> None:
    """One (H, W, 3) uint8 RGB TensorBoard image in the default summary writer."""
    import tensorflow as tf

    height, width = image.shape[:2]
    tensor = tf.stack([tf.as_string(width), tf.as_string(height), tf.io.encode_png(image)])
    tf.summary.write(tag, tensor, step=step, metadata=_summary_metadata("images"))


class StopRequest:
    """Records SIGINT/SIGTERM so the loop can save and stop after the current step.

    A second signal gets the default behaviour (stop at once).
    """

    def __init__(self):
        self.signal_number = None

    def __call__(self, signal_number, frame):
        self.signal_number = signal_number
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    @contextlib.contextmanager
    def installed(self):
        import threading

        if threading.current_thread() is not threading.main_thread():
            yield self  # signals reach only the main thread; nothing to install
            return
        previous = {number: signal.signal(number, self) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)


class Progress:
    """A tqdm bar plus a plain log line every few steps (readable in a nohup log).

    The remaining time is the steps left at the run's average pace since its first logged
    step, so the checkpoints, batch-norm recalibrations and validations that come every few
    hundred steps are counted in it (a pace from the last few steps alone left them out and
    promised half the time they took); the first steps, which trace the graph, are not.
    """

    def __init__(self, first_step: int, total_steps: int, enabled: bool):
        from tqdm import tqdm

        self.enabled = enabled
        interactive = sys.stderr.isatty()
        self.bar = tqdm(total=total_steps, initial=first_step, unit="step", dynamic_ncols=True,
                        disable=not enabled or not interactive, mininterval=1.0, smoothing=0.0)
        self.total = total_steps
        self.mark = (first_step, time.perf_counter())
        self.pace_from: tuple[int, float] | None = None  # (step, time) of the first logged step

    def step(self, step: int, losses: dict | None) -> None:
        self.bar.update(1)
        if losses is None or not self.enabled:
            return
        self.bar.set_postfix({name: f"{value:.3f}" for name, value in losses.items()}, refresh=False)
        now = time.perf_counter()
        first, started = self.mark
        seconds_per_step = (now - started) / max(1, step - first)
        self.mark = (step, now)
        if self.pace_from is None:
            self.pace_from = (step, now)
            average = seconds_per_step
        else:
            average = (now - self.pace_from[1]) / max(1, step - self.pace_from[0])
        remaining = (self.total - step) * average / 60
        text = " ".join(f"{name} {value:.4f}" for name, value in losses.items())
        self.write(f"step {step}/{self.total}: {text} | {seconds_per_step:.2f} s/step, ETA {remaining:.0f} min")

    def write(self, text: str) -> None:
        if self.enabled:
            self.bar.write(text, file=sys.stderr)
            sys.stderr.flush()

    def close(self) -> None:
        self.bar.close()


# --------------------------------------------------------------------------- the loop

@dataclass(frozen=True)
class TrainResult:
    """Where a call to :func:`train` stopped."""

    step: int
    stopped_by: int | None  # the signal number when SIGINT/SIGTERM ended it early
    fingerprint: str  # weights_fingerprint of the generator
    validation: dict  # the last validation metrics (empty without a validation split)


def train(config: TrainConfig, run_dir, resume: bool = False, strategy=None) -> TrainResult:
    """Train (or resume) the run in ``run_dir`` up to ``config.steps``."""
    import tensorflow as tf

    run_dir = Path(run_dir)
    strategy = strategy or tf.distribute.get_strategy()
    chief = is_chief(strategy)
    manifest = read_manifest(Path(config.data))
    if int(manifest["size"]) != config.size:
        raise UserError(f"data {config.data} holds {manifest['size']}-pixel frames, got --size {config.size}; "
                        f"rerun `reenact prepare` with --size {config.size}")
    if resume and latest_checkpoint(run_dir) is None:
        raise UserError(f"run {run_dir}: no checkpoint to resume from; start it without --resume")
    training_frames = load_split(Path(config.data), manifest, "train")
    validation_frames = load_split(Path(config.data), manifest, "val", limit=VALIDATION_LIMIT)
    if chief:
        _prepare_run_folder(config, run_dir, resume)

    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    with strategy.scope():
        gan = Pix2Pix(config)
    checkpoint = gan.checkpoint(step)
    if resume:
        restore(checkpoint, latest_checkpoint(run_dir), run_dir)
    elif config.init:
        warm_start(gan.generator, read_start(config.init)[0], training_frames)
    # Every worker saves (saving may need collectives); only the chief's copy is kept.
    task_id = getattr(getattr(strategy, "cluster_resolver", None), "task_id", 0) or 0
    save_dir = run_dir / CHECKPOINTS if chief else run_dir / f".worker-{task_id}-{CHECKPOINTS}"
    manager = tf.train.CheckpointManager(checkpoint, str(save_dir), max_to_keep=CHECKPOINTS_KEPT,
                                         checkpoint_name="ckpt")
    first_step = int(step.numpy())

    dataset = strategy.distribute_datasets_from_function(
        lambda context: training_dataset(training_frames, config.seed, config.batch, first_step,
                                         config.steps, config.flip, context, config.appearance))

    # autograph=False: these functions have no tensor-dependent Python control flow, and
    # autograph would re-read this file's source whenever they are traced, so editing
    # the file during a long run would break the run's first validation.
    @tf.function(autograph=False)
    def distributed_step(batch, stop_vote, mouth_weight):
        def replica_step(*batch_and_vote):
            *batch, vote = batch_and_vote
            sketch, photo, mouth, *appearance = batch
            losses = gan.train_step(sketch, photo, mouth, mouth_weight, *appearance)
            # Every worker learns whether any was asked to stop, so all stop together. The
            # identity places the vote on this replica's device, as all_reduce requires.
            losses["stop"] = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.identity(vote))
            return losses

        per_replica = strategy.run(replica_step, args=(*batch, stop_vote))
        return {name: strategy.reduce(tf.distribute.ReduceOp.SUM if name != "stop" else
                                      tf.distribute.ReduceOp.MEAN, value, axis=None)
                for name, value in per_replica.items()}

    image_spec = tf.TensorSpec((None, config.size, config.size, 3), tf.float32)

    @tf.function(autograph=False, input_signature=[image_spec] * (2 if config.appearance else 1))
    def generate(*inputs):
        return gan.generator(list(inputs) if config.appearance else inputs[0], training=False)

    writer = tf.summary.create_file_writer(str(run_dir / "logs")) if chief else tf.summary.create_noop_writer()
    progress = Progress(first_step, config.steps, enabled=chief)
    start = "resumed" if resume else f"from {config.init}" if config.init else "random weights"
    progress.write(f"training {run_dir} from step {first_step} to {config.steps} ({start}): "
                   f"{len(training_frames)} training and {len(validation_frames)} validation frames, "
                   f"{strategy.num_replicas_in_sync} replica(s), generator {gan.generator.count_params():,} "
                   f"and discriminator {gan.discriminator.count_params():,} parameters")
    validation: dict = {}
    stop = StopRequest()
    current = first_step
    stopped_by = None
    try:
        with stop.installed(), writer.as_default():
            for batch in dataset:
                vote = tf.constant(0.0 if stop.signal_number is None else 1.0)
                losses = distributed_step(batch, vote, tf.constant(config.mouth_weight_at(current + 1)))
                current += 1
                step.assign(current)
                stopping = float(losses.pop("stop")) > 0
                validating = (current % config.validate_every == 0 or current == config.steps) \
                    and len(validation_frames) > 0
                saving = stopping or current % config.save_every == 0 or current == config.steps
                if validating or saving:
                    recalibrate_batch_norm(gan.generator, training_frames, config.batch, config.seed)
                logged = None
                if current % config.log_every == 0 or current == config.steps:
                    logged = {name: float(value) for name, value in losses.items()}
                    for name, value in logged.items():
                        write_scalar(f"loss/{name}", value, current)
                if validating:
                    validation, generated = validate(generate, validation_frames, config.appearance)
                    for name, value in validation.items():
                        write_scalar(f"val/{name}", value, current)
                    rows = min(GRID_ROWS, len(validation_frames))
                    write_image("val/sketch_generated_real", image_grid(validation_frames, generated[:rows]), current)
                    progress.write(f"step {current}: validation " +
                                   " ".join(f"{name} {value:.4f}" for name, value in validation.items()))
                progress.step(current, logged)
                if saving:
                    manager.save(checkpoint_number=current)
                if stopping:
                    # A worker stopped by another's vote reports SIGTERM, as a cluster would.
                    stopped_by = stop.signal_number or signal.SIGTERM
                    break
    finally:
        progress.close()
        writer.flush()
    if not chief:
        shutil.rmtree(save_dir, ignore_errors=True)
    fingerprint = weights_fingerprint(gan.generator)
    # Every worker prints this line: equal fingerprints show that the workers agree.
    print(f"finished at step {current}; generator weights fingerprint {fingerprint}", file=sys.stderr)
    return TrainResult(current, stopped_by, fingerprint, validation)
