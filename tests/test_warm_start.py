"""``reenact train --init``: a generator file's weights start a new run.

The weights are read back from the file (no checkpoint ships), with the batch norms that
export folded away given statistics measured on the new data. The data set is made here:
the built-in ``sample`` driver prepared at 64 pixels, every 5th frame.
"""

import json

import numpy as np
import pytest

from models import metrics
from models.errors import UserError
from tests.fakes import spread_weights

pytestmark = pytest.mark.slow

SIZE = 64
NETWORK = {"size": SIZE, "width": 8, "appearance": True}
# Keras from the file's weights against the original Keras network, 0-255 scale: the
# weights' own rounding (int8 per channel, float16) is all that differs.
FLOOR_DB = {"fp32": 60.0, "fp16": 45.0, "int8": 30.0}


@pytest.fixture(scope="module")
def small_data(sample_video, tmp_path_factory):
    from training.prepare import PrepareOptions, prepare_data

    out = tmp_path_factory.mktemp("data")
    prepare_data([sample_video], out, PrepareOptions(size=SIZE, every=5, credit="sample driver (test)"))
    return out


@pytest.fixture(scope="module")
def frames(small_data):
    from training.dataset import load_split, read_manifest

    manifest = read_manifest(small_data)
    return load_split(small_data, manifest, "train"), load_split(small_data, manifest, "val")


@pytest.fixture(scope="module")
def source():
    """A trained-looking generator: spread kernels and batch norms far from the identity."""
    import keras

    from models.networks import build_generator

    keras.utils.set_random_seed(0)
    model = spread_weights(build_generator(**NETWORK))
    generator = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights([generator.uniform(0.5, 1.5, channels), generator.normal(0, 0.3, channels),
                               generator.normal(0, 0.5, channels), generator.uniform(0.5, 2.0, channels)])
    return model


def _inputs(split, indices):
    from training.dataset import first_of_clip

    appearances = first_of_clip(split)[indices]
    return [split.sketches[indices].astype(np.float32) / 127.5 - 1.0,
            split.photos[appearances].astype(np.float32) / 127.5 - 1.0]


def _psnr(a, b) -> float:
    return metrics.psnr((np.asarray(a) + 1.0) * 127.5, (np.asarray(b) + 1.0) * 127.5)


@pytest.mark.parametrize("quantization", ["fp32", "fp16", "int8"])
def test_a_file_restarts_the_network_it_was_made_from(source, frames, quantization):
    from models.networks import build_generator
    from training.tflite import convert
    from training.warm_start import warm_start

    train_frames, val_frames = frames
    everything = np.arange(len(train_frames))
    model_bytes = convert(source, quantization, _inputs(train_frames, everything))
    restarted = build_generator(**NETWORK, dropout=0.0)
    warm_start(restarted, model_bytes, train_frames)

    val = _inputs(val_frames, np.arange(len(val_frames)))
    assert _psnr(restarted(val, training=False), source(val, training=False)) > FLOOR_DB[quantization]
    # Training mode normalises by the batch's statistics: over the frames that set them, the
    # same faces as inference, so fine-tuning starts from the file's faces.
    batch = _inputs(train_frames, everything)
    assert _psnr(restarted(batch, training=True), restarted(batch, training=False)) > 50.0
    # A fresh network draws something else entirely: the comparison above can fail.
    assert _psnr(build_generator(**NETWORK)(val, training=False), source(val, training=False)) < 20.0


def test_a_file_of_another_shape_is_refused(source, frames):
    from models.networks import build_generator
    from training.tflite import convert
    from training.warm_start import warm_start

    train_frames, _ = frames
    model_bytes = convert(source, "fp32")
    with pytest.raises(UserError, match="does not fit"):
        warm_start(build_generator(**{**NETWORK, "width": 4}), model_bytes, train_frames)
    with pytest.raises(UserError, match="do not match"):
        warm_start(build_generator(**{**NETWORK, "depth": 4}), model_bytes,
                   train_frames)


@pytest.fixture(scope="module")
def exported(source, small_data, tmp_path_factory):
    """``source`` as an int8 file with its metadata, as `reenact export` writes it."""
    from training.config import TrainConfig
    from training.export import export_model
    from training.tflite import ExportOptions
    from training.train import train

    run = tmp_path_factory.mktemp("run")
    train(TrainConfig(data=str(small_data), **NETWORK, discriminator_width=8, batch=2, steps=1, save_every=1,
                      validate_every=1, log_every=1), run)
    path = tmp_path_factory.mktemp("models") / "start.tflite"
    config = json.loads((run / "config.json").read_text())
    export_model(source, path, small_data, run, config, ExportOptions(quantization="int8"), log=lambda message: None)
    return path


def test_train_init_starts_from_the_file_and_takes_its_shape(exported, source, small_data, frames, tmp_path,
                                                             capsys):
    from reenact import cli
    from training.checkpoints import load_generator

    run = tmp_path / "run"
    flags = ["--batch", "2", "--discriminator-width", "8", "--save-every", "1", "--validate-every", "1",
             "--log-every", "1", "--learning-rate", "1e-9"]
    assert cli.main(["train", str(small_data), "--out", str(run), "--init", str(exported), "--steps", "1",
                     *flags]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["init"] == str(exported.resolve())
    assert {key: config[key] for key in NETWORK} == NETWORK  # from the file, not the defaults (width 16)
    assert "from " + str(exported.resolve()) in capsys.readouterr().err
    # One step at a negligible learning rate: the run's generator is still the file's network.
    generator, _ = load_generator(run)
    _, val_frames = frames
    val = _inputs(val_frames, np.arange(len(val_frames)))
    assert _psnr(generator(val, training=False), source(val, training=False)) > 25.0

    assert cli.main(["train", str(small_data), "--out", str(tmp_path / "other"), "--init", str(exported),
                     "--width", "16"]) == 2
    assert "--init" in capsys.readouterr().err


def _resolved(argv):
    import argparse

    from reenact.commands import train as train_command

    parser = argparse.ArgumentParser()
    train_command.add_arguments(parser)
    return train_command.resolve_config(parser.parse_args(argv))


def test_a_new_run_starts_from_the_shipped_generator_with_the_thorough_schedule(tmp_path):
    from models.default_model import generator_path
    from tests.fakes import write_synthetic_dataset

    data = write_synthetic_dataset(tmp_path / "data", train_frames=2, val_frames=1, size=256)
    config = _resolved([str(data), "--out", str(tmp_path / "run")])
    assert config.init == str(generator_path(None).resolve())
    assert (config.width, config.appearance, config.steps, config.mouth_from) == (24, True, 1500, 1100)
    quick = _resolved([str(data), "--out", str(tmp_path / "run"), "--preset", "quick"])
    assert (quick.steps, quick.mouth_from) == (500, 300)
    assert _resolved([str(data), "--out", str(tmp_path / "run"), "--preset", "quick", "--steps", "900"]).steps == 900
    scratch = _resolved([str(data), "--out", str(tmp_path / "run"), "--init", "none"])
    assert (scratch.init, scratch.width, scratch.steps, scratch.mouth_from) == (None, 16, 1500, 1100)
    small = write_synthetic_dataset(tmp_path / "small", train_frames=2, val_frames=1, size=64)
    with pytest.raises(UserError, match="prepare it with --size 256, or pass --init none"):
        _resolved([str(small), "--out", str(tmp_path / "run")])
