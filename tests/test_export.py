"""``reenact export``: each quantisation converts, carries its metadata and matches Keras.

The data set is made here: the built-in ``sample`` driver's first 2.5 s, written as an
mp4 and prepared at 64 pixels, every 5th frame (15: 11 train, 1 gap, 3 val).
"""

import json

import numpy as np
import pytest

from models.errors import UserError
from tests.fakes import spread_weights

# Every test but one needs the trained run folder, and all of them TensorFlow: the module takes about 20 s.
pytestmark = pytest.mark.slow

SIZE = 64


CREDIT = "sample driver (test)"


@pytest.fixture(scope="module")
def small_data(sample_video, tmp_path_factory):
    from training.prepare import PrepareOptions, prepare_data

    out = tmp_path_factory.mktemp("data")
    prepare_data([sample_video], out, PrepareOptions(size=SIZE, every=5, credit=CREDIT))
    return out


@pytest.fixture(scope="module")
def tiny_model():
    import keras

    from models.networks import build_generator

    keras.utils.set_random_seed(0)
    return spread_weights(build_generator(size=SIZE, width=8))


@pytest.fixture(scope="module")
def run_dir(small_data, tmp_path_factory):
    """A real training run folder: two steps of ``reenact train`` at 64 pixels."""
    from training.config import TrainConfig
    from training.train import train

    run = tmp_path_factory.mktemp("run")
    config = TrainConfig(data=str(small_data), size=SIZE, width=8, discriminator_width=8, batch=2, steps=2,
                         save_every=2, validate_every=2, log_every=2)
    train(config, run)
    return run


# Parity floors, TFLite against Keras on validation sketches (0-255 scale); measured on
# this tiny spread-weight net: fp32 133 dB, fp16 78 dB, int8 42.6 dB.
PARITY_FLOOR_DB = {"fp32": 60.0, "fp16": 50.0, "int8": 30.0}


@pytest.fixture(scope="module")
def exported(tiny_model, run_dir, small_data, tmp_path_factory):
    from training.export import export_model
    from training.tflite import ExportOptions

    folder = tmp_path_factory.mktemp("models")
    config = json.loads((run_dir / "config.json").read_text())
    messages = []
    reports = {quantization: export_model(tiny_model, folder / f"{quantization}.tflite", small_data, run_dir,
                                          config, ExportOptions(quantization=quantization), messages.append)
               for quantization in ("fp32", "fp16", "int8")}
    return reports, messages


@pytest.mark.parametrize("quantization", ["fp32", "fp16", "int8"])
def test_export_carries_the_contract(exported, small_data, quantization):
    from models.generator_contract import load_generator_file

    report = exported[0][quantization]
    model_bytes, metadata = load_generator_file(report.path, expected_size=SIZE)
    assert report.size_bytes == len(model_bytes)
    manifest = json.loads((small_data / "manifest.json").read_text())
    profile = json.loads((small_data / "target_profile.json").read_text())
    assert metadata.quantization == quantization
    assert (metadata.input_size, metadata.margin, metadata.credit) == (SIZE, manifest["margin"], CREDIT)
    assert metadata.sketch_version == manifest["sketch_version"]
    np.testing.assert_allclose(metadata.neutral, profile["neutral_landmarks"], atol=1e-4)
    assert metadata.expression_ranges == profile["expression_ranges"]
    assert metadata.architecture == {"size": SIZE, "width": 8, "depth": None, "upsample": "separable",
                                     "dropout": 0.5, "appearance": False}
    assert metadata.appearance_image is None and metadata.appearance() is None
    assert metadata.training["steps"] == 2 and metadata.training["data"] == small_data.name


@pytest.mark.parametrize("quantization", ["fp32", "fp16", "int8"])
def test_export_runs_and_matches_keras(exported, tiny_model, small_data, quantization):
    from training.dataset import load_split, read_manifest
    from training.tflite import TFLiteGenerator

    report = exported[0][quantization]
    assert report.parity_frames == 3  # the validation block of 15 sampled frames
    assert report.parity_psnr > PARITY_FLOOR_DB[quantization], report.summary()

    runner = TFLiteGenerator(report.path.read_bytes())
    expected_type = "int8" if quantization == "int8" else "float32"
    assert (runner.input_type, runner.output_type) == (expected_type, expected_type)
    sketch = load_split(small_data, read_manifest(small_data), "val").sketches[0]
    output = runner.predict(sketch.astype(np.float32) / 127.5 - 1)
    assert output.shape == (SIZE, SIZE, 3) and output.dtype == np.float32
    assert -1.0 <= output.min() < -0.2 and 0.2 < output.max() <= 1.0  # the tanh range, used widely
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner

    live_runner = GeneratorRunner.from_file(GeneratorOptions(report.path))  # the live loop loads it too
    assert live_runner.generate(sketch).dtype == np.uint8


def _export_variant(run_dir, small_data, path, quantization, **network):
    """A spread-weight generator built with ``network`` options, exported like the run's model."""
    import keras

    from models.networks import build_generator
    from training.export import export_model
    from training.tflite import ExportOptions

    keras.utils.set_random_seed(0)
    model = spread_weights(build_generator(size=SIZE, width=8, **network))
    config = json.loads((run_dir / "config.json").read_text())
    return export_model(model, path, small_data, run_dir, config, ExportOptions(quantization=quantization),
                        log=lambda message: None)


def test_separable_decoder_exports_to_full_integer(run_dir, small_data, tmp_path):
    from training.tflite import TFLiteGenerator

    report = _export_variant(run_dir, small_data, tmp_path / "separable.tflite", "int8", upsample="separable")
    assert report.parity_psnr > PARITY_FLOOR_DB["int8"], report.summary()
    runner = TFLiteGenerator(report.path.read_bytes())
    assert (runner.input_type, runner.output_type) == ("int8", "int8")
    # The depthwise half of each separable block survives conversion as its own op.
    from ai_edge_litert.interpreter import Interpreter

    ops = {detail["op_name"] for detail in Interpreter(model_path=str(report.path))._get_ops_details()}
    assert "DEPTHWISE_CONV_2D" in ops and "CONV_2D" in ops


@pytest.mark.parametrize("quantization", ["fp32", "int8"])
def test_appearance_generator_exports_with_its_photo_and_uses_it(run_dir, small_data, tmp_path, quantization):
    from models.generator_contract import load_generator_file
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner
    from training.dataset import load_split, read_frame, read_manifest

    report = _export_variant(run_dir, small_data, tmp_path / "appearance.tflite", quantization, appearance=True)
    assert report.parity_psnr > PARITY_FLOOR_DB[quantization], report.summary()
    _, metadata = load_generator_file(report.path)
    assert metadata.architecture["appearance"] is True
    # The stored photo is one of the training crops, bit for bit (PNG is lossless).
    manifest = read_manifest(small_data)
    stored = metadata.appearance()
    train_ids = [frame["id"] for frame in manifest["frames"] if frame["split"] == "train"]
    assert any(np.array_equal(stored, read_frame(small_data, frame_id, ("crop",))["crop"]) for frame_id in train_ids)

    runner = GeneratorRunner.from_file(GeneratorOptions(report.path))
    assert runner.takes_appearance
    frames = load_split(small_data, manifest, "val")
    with_stored = runner.generate(frames.sketches[0]).copy()
    runner.set_appearance(np.ascontiguousarray(frames.photos[0][::-1]))  # another photo: upside down
    with_other = runner.generate(frames.sketches[0])
    assert np.abs(with_stored.astype(int) - with_other).mean() > 1.0  # the photo reaches the output
    runner.set_appearance(stored)
    np.testing.assert_array_equal(runner.generate(frames.sketches[0]), with_stored)
    with pytest.raises(ValueError, match="appearance"):
        runner.set_appearance(np.zeros((SIZE, SIZE), np.uint8))


def test_quantisation_shrinks_the_file(exported):
    from models.generator_contract import read_metadata

    # The network's share of each file: the metadata (the target's shape space above all)
    # is the same in every format.
    sizes = {quantization: report.size_bytes - len(read_metadata(report.path.read_bytes()).to_json())
             for quantization, report in exported[0].items()}
    assert sizes["fp16"] < 0.6 * sizes["fp32"]
    assert sizes["int8"] < 0.35 * sizes["fp32"]


def test_export_reports_each_phase(exported):
    messages = exported[1]
    assert any("int8, calibrated on" in message for message in messages)
    assert any("embedding metadata" in message for message in messages)
    assert any("checking TFLite against Keras on 3 val sketches" in message for message in messages)


def test_mixed_precision_model_exports_in_float32(run_dir, small_data, tmp_path):
    report = _export_variant(run_dir, small_data, tmp_path / "bf16.tflite", "fp32", dtype="mixed_bfloat16")
    assert report.parity_psnr > PARITY_FLOOR_DB["fp32"]


def test_export_command_on_a_trained_run(run_dir, tmp_path, capsys):
    from models.generator_contract import load_generator_file
    from reenact import cli

    out = tmp_path / "generator.tflite"
    assert cli.main(["export", str(run_dir), "--out", str(out), "--quant", "int8"]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "TFLite vs Keras PSNR" in printed
    _, metadata = load_generator_file(out, expected_size=SIZE)
    assert metadata.quantization == "int8" and metadata.training["run"] == run_dir.name
    assert not list(tmp_path.glob("*.part"))  # no temporary file left behind


def test_export_errors_are_actionable(tiny_model, run_dir, small_data, tmp_path):
    from training.export import export_generator, export_model
    from training.tflite import ExportOptions

    with pytest.raises(UserError, match="no such folder"):
        export_generator(tmp_path / "absent_run", tmp_path / "model.tflite")
    with pytest.raises(UserError, match="--quant int4"):
        ExportOptions(quantization="int4")
    lonely_run = tmp_path / "run"
    lonely_run.mkdir()
    (lonely_run / "config.json").write_text("{}")
    with pytest.raises(UserError, match="pass --data"):
        export_generator(lonely_run, tmp_path / "model.tflite")
    config = json.loads((run_dir / "config.json").read_text())
    with pytest.raises(UserError, match="64-pixel frames"):
        from models.networks import build_generator

        export_model(build_generator(size=32, width=4, depth=3), tmp_path / "model.tflite", small_data,
                     run_dir, config, log=lambda message: None)
    assert not (tmp_path / "model.tflite").exists()
