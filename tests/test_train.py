"""Training: the train verb end to end on tiny synthetic data sets (real TensorFlow)."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from models.errors import UserError
from models.sketch import mirror_permutation, render_sketch
from reenact.cli import main
from tests.fakes import TINY_TRAIN_FLAGS, random_landmarks, write_synthetic_dataset
from training.config import TrainConfig
from training.dataset import load_split, read_manifest, sample_schedule, training_dataset

SIZE = 64
REPOSITORY = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_synthetic_dataset(tmp_path_factory.mktemp("synthetic") / "data")


@pytest.fixture(scope="module")
def tiny_run(data_dir, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    code = main(["train", str(data_dir), "--out", str(run_dir), "--steps", "4", "--save-every", "2",
                 "--validate-every", "2", *TINY_TRAIN_FLAGS])
    assert code == 0
    return run_dir


def tiny_config(data_dir: Path, **changes) -> TrainConfig:
    settings = dict(data=str(data_dir.resolve()), size=SIZE, width=4, discriminator_width=4, batch=2,
                    steps=4, save_every=2, validate_every=2, log_every=1)
    settings.update(changes)
    return TrainConfig(**settings)


def checkpoint_state(run_dir: Path, config: TrainConfig) -> dict:
    """Every variable of the latest checkpoint, restored into fresh networks and optimisers."""
    import tensorflow as tf

    from training.checkpoints import latest_checkpoint, restore
    from training.train import Pix2Pix

    gan = Pix2Pix(config)
    step = tf.Variable(0, dtype=tf.int64)
    restore(gan.checkpoint(step), latest_checkpoint(run_dir), run_dir)
    state = {"step": int(step.numpy())}
    for name in ("generator", "discriminator", "generator_optimizer", "discriminator_optimizer"):
        state[name] = [variable.numpy() for variable in checkpointed_variables(getattr(gan, name))]
    return state


def checkpointed_variables(owner) -> list:
    """A network's or optimiser's variables, less dropout's random-seed state.

    The seed state is not checkpointed: a resumed run draws fresh dropout masks.
    """
    return [variable for variable in owner.variables if "seed_generator" not in variable.path]


def assert_states_close(first: dict, second: dict, tolerance: float = 0.0) -> None:
    assert first["step"] == second["step"]
    for name in ("generator", "discriminator", "generator_optimizer", "discriminator_optimizer"):
        assert len(first[name]) == len(second[name])
        for a, b in zip(first[name], second[name]):
            np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance, err_msg=name)


# ------------------------------------------------------------------------------- a run

def test_tiny_run_writes_a_complete_run_folder(tiny_run, data_dir):
    import tensorflow as tf

    from training.train import load_generator

    config = TrainConfig.read(tiny_run / "config.json")
    assert config.steps == 4 and config.width == 4 and config.size == SIZE
    assert config.data == str(data_dir.resolve())
    assert (tiny_run / "target_profile.json").read_text() == (data_dir / "target_profile.json").read_text()
    assert tf.train.latest_checkpoint(str(tiny_run / "checkpoints")).endswith("ckpt-4")

    generator, loaded_config = load_generator(tiny_run)
    assert loaded_config == config
    output = np.asarray(generator(np.zeros((1, SIZE, SIZE, 3), np.float32), training=False))
    assert output.shape == (1, SIZE, SIZE, 3) and np.all(np.abs(output) <= 1)

    tags = set()
    for events in (tiny_run / "logs").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(events)):
            tags.update(value.tag for value in event.summary.value)
    assert {"loss/generator_gan", "loss/generator_l1", "loss/discriminator", "val/l1", "val/psnr",
            "val/ssim", "val/sketch_generated_real"} <= tags


def test_checkpoint_restores_weights_and_optimiser_state_exactly(data_dir, tmp_path):
    import tensorflow as tf

    from training.checkpoints import restore
    from training.train import Pix2Pix

    config = tiny_config(data_dir)
    gan = Pix2Pix(config)
    sketches, photos, mouths = next(iter(training_dataset(load_split(data_dir, read_manifest(data_dir), "train"),
                                                          0, 2, 0, 1, False)))
    gan.train_step(sketches, photos, mouths, 0.0)
    step = tf.Variable(1, dtype=tf.int64)
    path = tf.train.CheckpointManager(gan.checkpoint(step), str(tmp_path), 1).save(checkpoint_number=1)

    restored = Pix2Pix(replace_seed(config))
    restored_step = tf.Variable(0, dtype=tf.int64)
    restore(restored.checkpoint(restored_step), path, tmp_path)
    assert int(restored_step.numpy()) == 1
    assert int(restored.generator_optimizer.iterations.numpy()) == 1
    for name in ("generator", "discriminator", "generator_optimizer", "discriminator_optimizer"):
        saved, loaded = checkpointed_variables(getattr(gan, name)), checkpointed_variables(getattr(restored, name))
        assert len(saved) == len(loaded) > 0
        for a, b in zip(saved, loaded):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=f"{name}/{a.path}")


def replace_seed(config: TrainConfig) -> TrainConfig:
    """The same run with other initial weights, so that equality proves a restore."""
    from dataclasses import replace

    return replace(config, seed=config.seed + 1)


@pytest.mark.slow
def test_resumed_run_equals_an_uninterrupted_one(data_dir, tmp_path):
    from training.train import train

    # Without dropout the only randomness is the data order, which must continue exactly.
    config = tiny_config(data_dir, dropout=0.0, steps=4, save_every=4, validate_every=100)
    assert train(config, tmp_path / "whole").step == 4

    interrupted = tiny_config(data_dir, dropout=0.0, steps=2, save_every=4, validate_every=100)
    assert train(interrupted, tmp_path / "parts").step == 2
    assert checkpoint_state(tmp_path / "parts", config)["step"] == 2
    assert train(config, tmp_path / "parts", resume=True).step == 4

    assert_states_close(checkpoint_state(tmp_path / "whole", config),
                        checkpoint_state(tmp_path / "parts", config), tolerance=1e-5)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_resume_goes_on(data_dir, tmp_path):
    from training.checkpoints import load_generator, weights_fingerprint

    run_dir = tmp_path / "killed"
    command = [sys.executable, "-m", "reenact.cli", "train", str(data_dir), "--out", str(run_dir),
               "--steps", "100000", "--save-every", "100000", "--validate-every", "100000", *TINY_TRAIN_FLAGS]
    environment = dict(os.environ, PYTHONPATH=str(REPOSITORY))
    process = subprocess.Popen(command, cwd=REPOSITORY, env=environment, stderr=subprocess.PIPE, text=True)
    lines = []
    deadline = time.monotonic() + 120
    for line in process.stderr:
        lines.append(line)
        if line.startswith("step 3/") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGTERM)
    lines.extend(process.stderr)
    assert process.wait(timeout=60) == 128 + signal.SIGTERM, "".join(lines[-20:])
    output = "".join(lines)
    assert "stopped by SIGTERM" in output and "--resume" in output

    config = TrainConfig.read(run_dir / "config.json")
    stopped_at = checkpoint_state(run_dir, config)["step"]
    assert stopped_at >= 3
    fingerprint = output.split("fingerprint ")[1].split()[0]
    assert weights_fingerprint(load_generator(run_dir)[0]) == fingerprint

    code = main(["train", str(data_dir), "--out", str(run_dir), "--resume", "--steps", str(stopped_at + 2)])
    assert code == 0
    assert checkpoint_state(run_dir, config)["step"] == stopped_at + 2


def test_recalibrated_batch_norm_makes_inference_match_training_without_dropout():
    from models.networks import build_generator
    from training.checkpoints import recalibrate_batch_norm
    from training.dataset import FrameArrays

    generator = build_generator(size=SIZE, width=4, depth=3, dropout=0.5)
    sketches = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
    # One batch of all frames: the moving statistics become exactly that batch's statistics.
    recalibrate_batch_norm(generator, FrameArrays(sketches, sketches, ("a", "b", "c", "d")), batch=4)
    inputs = sketches.astype(np.float32) / 127.5 - 1.0
    twin = build_generator(size=SIZE, width=4, depth=3, dropout=0.0)
    twin.set_weights(generator.get_weights())
    np.testing.assert_allclose(np.asarray(generator(inputs, training=False)),
                               np.asarray(twin(inputs, training=True)), atol=1e-4)
    # Dropout and momentum are back as they were for training.
    assert generator.get_layer("up1_dropout").rate == 0.5
    assert generator.get_layer("up1_norm").momentum == 0.99


# ---------------------------------------------------------------------------- the data

def test_data_order_is_a_function_of_seed_and_step(data_dir):
    frames = load_split(data_dir, read_manifest(data_dir), "train")
    indices, _ = sample_schedule(len(frames), seed=3, batch=4, first_step=0, end_step=9)
    # Each epoch is a permutation: every frame once before any twice.
    stream = indices.reshape(-1)
    for epoch in range(len(stream) // len(frames)):
        assert sorted(stream[epoch * len(frames):(epoch + 1) * len(frames)]) == list(range(len(frames)))
    resumed, _ = sample_schedule(len(frames), seed=3, batch=4, first_step=5, end_step=9)
    np.testing.assert_array_equal(resumed, indices[5:])
    other_seed, _ = sample_schedule(len(frames), seed=4, batch=4, first_step=0, end_step=9)
    assert not np.array_equal(other_seed, indices)

    whole = [photo.numpy() for _, photo, _ in training_dataset(frames, 3, 4, 0, 9, True)]
    tail = [photo.numpy() for _, photo, _ in training_dataset(frames, 3, 4, 5, 9, True)]
    assert len(whole) == 9 and len(tail) == 4
    for a, b in zip(whole[5:], tail):
        np.testing.assert_array_equal(a, b)


def test_workers_take_disjoint_slices_of_each_global_batch(data_dir):
    import tensorflow as tf

    frames = load_split(data_dir, read_manifest(data_dir), "train")
    whole = [photo.numpy() for _, photo, _ in training_dataset(frames, 0, 4, 0, 3, False)]
    slices = []
    for worker in range(2):
        context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=worker,
                                             num_replicas_in_sync=2)
        slices.append([photo.numpy() for _, photo, _ in training_dataset(frames, 0, 4, 0, 3, False, context)])
    for step, batch in enumerate(whole):
        np.testing.assert_array_equal(np.concatenate([slices[0][step], slices[1][step]]), batch)


def test_flipped_sketch_is_the_sketch_of_the_mirrored_face():
    generator = np.random.default_rng(1)
    size = 256
    landmarks = random_landmarks(generator, size)
    mirrored = landmarks.copy()
    mirrored[:, 0] = (size - 1) - mirrored[:, 0]  # pixel centres: column i <-> size - 1 - i
    mirrored = mirrored[mirror_permutation()]  # the subject's left is now its right
    flipped_sketch = render_sketch(landmarks, size)[:, ::-1]
    sketch_of_mirror = render_sketch(mirrored, size)
    difference = np.abs(flipped_sketch.astype(int) - sketch_of_mirror.astype(int)).max(axis=2)
    # Anti-aliased edges may round differently; the drawing itself is the same.
    assert np.mean(difference > 32) < 0.005
    assert np.mean(difference) < 1.0


def test_flip_augmentation_flips_sketch_and_photo_together(data_dir):
    frames = load_split(data_dir, read_manifest(data_dir), "train")
    indices, flips = sample_schedule(len(frames), 0, 2, 0, 6)
    assert flips.any() and not flips.all()
    batches = list(training_dataset(frames, 0, 2, 0, 6, True))
    for step, (sketches, photos, mouths) in enumerate(batches):
        for slot in range(2):
            index, flip = indices[step, slot], flips[step, slot]
            expected_sketch = frames.sketches[index][:, ::-1] if flip else frames.sketches[index]
            expected_photo = frames.photos[index][:, ::-1] if flip else frames.photos[index]
            expected_mouth = frames.mouths[index][:, ::-1] if flip else frames.mouths[index]
            np.testing.assert_allclose(sketches[slot].numpy(), expected_sketch / 127.5 - 1.0, atol=1e-6)
            np.testing.assert_allclose(photos[slot].numpy(), expected_photo / 127.5 - 1.0, atol=1e-6)
            np.testing.assert_array_equal(mouths[slot].numpy(), expected_mouth)


def test_mouth_mask_covers_the_lips_and_little_else():
    from models.default_model import DEFAULT_GENERATOR
    from models.face_topology import LIPS_INNER, LIPS_OUTER
    from models.generator_contract import load_generator_file
    from training.dataset import mouth_mask

    # A real face's landmarks: the shipped model's target, neutral, in its 256-pixel crop.
    _, metadata = load_generator_file(DEFAULT_GENERATOR)
    landmarks, size = metadata.neutral, metadata.input_size
    mask = mouth_mask(landmarks, size)
    assert mask.shape == (size, size, 1) and set(np.unique(mask)) <= {0, 1}
    for index in LIPS_OUTER + LIPS_INNER:  # every lip landmark lies inside
        x, y = np.round(landmarks[index, :2]).astype(int)
        assert mask[y, x, 0] == 1
    for index in (1, 33, 263, 152):  # nose tip, eye corners and chin lie outside
        x, y = np.round(landmarks[index, :2]).astype(int)
        assert mask[y, x, 0] == 0
    assert 0.005 < mask.mean() < 0.1


def test_mouth_weight_adds_the_lip_regions_error_to_the_loss(data_dir):
    from training.train import Pix2Pix

    frames = load_split(data_dir, read_manifest(data_dir), "train")
    sketches, photos, mouths = next(iter(training_dataset(frames, 0, 2, 0, 1, False)))
    assert float(mouths.numpy().sum()) > 0
    totals = {}
    for weight in (0.0, 5.0):
        gan = Pix2Pix(tiny_config(data_dir, dropout=0.0))
        losses = gan.train_step(sketches, photos, mouths, weight)
        totals[weight] = float(losses["generator_total"]) - float(losses["generator_gan"])
        mouth_l1 = float(losses["generator_mouth_l1"])
    # Same seed, same first forward pass: only the mouth term differs.
    assert mouth_l1 > 0
    np.testing.assert_allclose(totals[5.0] - totals[0.0], 100.0 * 5.0 * mouth_l1, rtol=1e-3)


def test_the_lip_term_starts_after_mouth_from(data_dir):
    config = tiny_config(data_dir, mouth_weight=0.5, mouth_from=3)
    assert [config.mouth_weight_at(step) for step in (1, 3, 4, 10)] == [0.0, 0.0, 0.5, 0.5]
    assert tiny_config(data_dir, mouth_weight=0.5, mouth_from=0).mouth_weight_at(1) == 0.5


# ----------------------------------------------------------------------- bad input

def _train_error(capsys, argv) -> str:
    assert main(["train", *argv]) == 2
    return capsys.readouterr().err


def test_missing_or_empty_data_folder_is_a_clear_error(tmp_path, capsys):
    assert "no such folder" in _train_error(capsys, [str(tmp_path / "absent"), "--out", str(tmp_path / "run")])
    (tmp_path / "empty").mkdir()
    assert "no manifest.json" in _train_error(capsys, [str(tmp_path / "empty"), "--out", str(tmp_path / "run")])
    no_training = write_synthetic_dataset(tmp_path / "val_only", train_frames=0, val_frames=2)
    assert "no training frames" in _train_error(capsys, [str(no_training), "--out", str(tmp_path / "run")])


def test_run_folder_mistakes_are_clear_errors(tiny_run, data_dir, tmp_path, capsys):
    assert "--resume" in _train_error(capsys, [str(data_dir), "--out", str(tiny_run)])
    assert "nothing to resume" in _train_error(
        capsys, [str(data_dir), "--out", str(tmp_path / "new"), "--resume"])
    assert "cannot change width" in _train_error(
        capsys, [str(data_dir), "--out", str(tiny_run), "--resume", "--width", "8"])
    assert "--size 32" in _train_error(capsys, [str(data_dir), "--out", str(tmp_path / "other"), "--size", "32"])


def test_corrupt_checkpoint_is_refused_with_a_clear_error(tiny_run, data_dir, tmp_path, capsys):
    from training.train import load_generator

    run_dir = tmp_path / "corrupt"
    shutil.copytree(tiny_run, run_dir)
    data_file = next((run_dir / "checkpoints").glob("ckpt-4.data-*"))
    content = np.frombuffer(data_file.read_bytes(), np.uint8).copy()
    content[::7] ^= 0xFF  # damage every tensor, the generator's included
    data_file.write_bytes(content.tobytes())
    with pytest.raises(UserError, match="ckpt-4 is unreadable"):
        load_generator(run_dir)
    assert "ckpt-4 is unreadable" in _train_error(
        capsys, [str(data_dir), "--out", str(run_dir), "--resume", "--steps", "6"])

    (run_dir / "checkpoints" / "checkpoint").unlink()
    with pytest.raises(UserError, match="no checkpoint yet"):
        load_generator(run_dir)
    with pytest.raises(UserError, match="no such folder"):
        load_generator(tmp_path / "absent")


# ------------------------------------------------------------- the appearance generator

def test_appearance_photos_come_from_the_same_clip_and_resume_alike():
    from training.dataset import FrameArrays, appearance_schedule, first_of_clip

    clips = ("a", "a", "a", "b", "b", "c")
    images = np.zeros((len(clips), 4, 4, 3), np.uint8)
    frames = FrameArrays(images, images, tuple(f"f{i}" for i in range(len(clips))), clips=clips)
    indices, _ = sample_schedule(len(frames), seed=0, batch=3, first_step=0, end_step=40)
    appearances = appearance_schedule(frames, 0, indices, first_step=0)
    assert appearances.shape == indices.shape
    for index, appearance in zip(indices.reshape(-1), appearances.reshape(-1)):
        assert clips[appearance] == clips[index]
        assert appearance != index or clips[index] == "c"  # only a clip of one frame pairs a frame with itself
    # Frame 0 is paired with both others of its clip over the run, not always the same one.
    assert set(appearances[indices == 0]) == {1, 2}
    resumed = appearance_schedule(frames, 0, indices[25:], first_step=25)
    np.testing.assert_array_equal(resumed, appearances[25:])
    np.testing.assert_array_equal(first_of_clip(frames), [0, 0, 0, 3, 3, 5])


def test_an_appearance_run_trains_validates_and_reloads(data_dir, tmp_path):
    from training.checkpoints import load_generator
    from training.dataset import load_split, read_manifest, training_dataset

    frames = load_split(data_dir, read_manifest(data_dir), "train")
    sketches, photos, mouths, appearances = next(iter(training_dataset(frames, 0, 2, 0, 1, False, appearance=True)))
    assert appearances.shape == photos.shape
    run_dir = tmp_path / "appearance"
    code = main(["train", str(data_dir), "--out", str(run_dir), "--steps", "2", "--save-every", "2",
                 "--validate-every", "2", "--appearance", *TINY_TRAIN_FLAGS])
    assert code == 0
    assert TrainConfig.read(run_dir / "config.json").appearance is True
    generator, _ = load_generator(run_dir)
    assert [tensor.name for tensor in generator.inputs] == ["sketch", "appearance"]
    batch = frames.sketches[:1].astype(np.float32) / 127.5 - 1.0
    photo = frames.photos[:1].astype(np.float32) / 127.5 - 1.0
    assert np.asarray(generator([batch, photo], training=False)).shape == photo.shape


def test_the_remaining_time_counts_the_pauses_for_checkpoints_and_validation(monkeypatch, capsys):
    """0.2 s a step, but a 30 s checkpoint and validation every 100 steps: the ETA must include
    them (at the last 25 steps' pace alone it said 1 minute where 2.5 remained)."""
    import training.train as train_module

    clock = {"now": 0.0}
    monkeypatch.setattr(train_module.time, "perf_counter", lambda: clock["now"])
    progress = train_module.Progress(0, 1000, enabled=True)
    clock["now"] = 20.0  # the first steps trace the graph: slow, and not the pace
    for step in range(1, 501):
        clock["now"] += 0.2 + (30.0 if step % 100 == 0 else 0.0)
        progress.step(step, {"loss": 1.0} if step % 25 == 0 else None)
    progress.close()
    line = [line for line in capsys.readouterr().err.splitlines() if line.startswith("step 475/1000")][-1]
    # Steps 26 to 475 took 450 x 0.2 s + 4 x 30 s = 210 s: 0.47 s a step, 525 to go: 4.1 minutes
    # (the last 25 steps' pace, 0.2 s, would promise 1.75).
    assert line.endswith("0.20 s/step, ETA 4 min"), line
