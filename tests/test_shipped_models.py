"""The two shipped generators: found by name, appearance generators of the same target, and the fast one narrower."""

from pathlib import Path

import numpy as np
import pytest

from models.default_model import DEFAULT_GENERATOR, FAST_GENERATOR, generator_path
from models.errors import UserError
from models.generator_contract import load_generator_file
from realtime.generator_runner import GeneratorOptions, GeneratorRunner


def test_a_shipped_model_is_found_by_name_unless_a_file_has_that_name(tmp_path, monkeypatch):
    assert generator_path(None) == DEFAULT_GENERATOR
    assert generator_path(Path("fast")) == FAST_GENERATOR
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").write_bytes(b"a user's own file")
    assert generator_path(Path("fast")) == Path("fast")
    assert generator_path(Path("mine.tflite")) == Path("mine.tflite")


def test_a_missing_shipped_model_is_one_clear_error(monkeypatch):
    import models.default_model as default_model

    monkeypatch.setitem(default_model.SHIPPED_NAMES, "fast", Path("/nonexistent/fast_generator.tflite"))
    with pytest.raises(UserError, match="shipped model .* is missing"):
        generator_path(Path("fast"))


def test_both_shipped_models_draw_the_same_target_from_their_stored_photo():
    (_, default), (_, fast) = load_generator_file(DEFAULT_GENERATOR), load_generator_file(FAST_GENERATOR)
    assert default.architecture["appearance"] and fast.architecture["appearance"]
    assert fast.architecture["width"] < default.architecture["width"]
    np.testing.assert_array_equal(default.appearance(), fast.appearance())
    np.testing.assert_allclose(default.neutral, fast.neutral)
    for path in (DEFAULT_GENERATOR, FAST_GENERATOR):
        runner = GeneratorRunner.from_file(GeneratorOptions(path))
        assert runner.takes_appearance
        # Given its own stored photo and the target's neutral sketch, each draws a face close to that photo.
        from models.sketch import render_sketch

        face = runner.generate(render_sketch(default.neutral, default.input_size))
        difference = np.abs(face.astype(int) - default.appearance().astype(int)).mean()
        assert difference < 12, (path.name, difference)


def test_the_shipped_swap_model_draws_s1_from_free_faces_and_is_found_by_mode():
    from models.default_model import DEFAULT_SWAP

    assert generator_path("autoencoder", "swap") == DEFAULT_SWAP
    assert generator_path(None, "swap") == generator_path(None, "reenact")  # the default swap: by re-enactment
    _, metadata = load_generator_file(DEFAULT_SWAP)
    assert metadata.mode == "swap" and metadata.quantization == "int8"
    assert metadata.input_size == 128 and metadata.architecture["network"] == "swap-autoencoder"
    assert metadata.architecture["input"] == "face"  # trained on the face alone: the live loop must cut it out
    assert "speaker s1" in metadata.identities["b"]["credit"]
    assert "GRID" in metadata.identities["a"]["credit"] and "sample" in metadata.identities["a"]["credit"]
    assert DEFAULT_SWAP.stat().st_size < 8_000_000


def test_live_swap_on_the_sample_works_out_of_the_box(tmp_path):
    from media.sources import open_source
    from provenance.label import label_present
    from reenact.cli import main
    from tests.fakes import decode_video

    with open_source("sample") as source:
        first = source.read().image
    out = tmp_path / "swap.mp4"
    assert main(["live", "--mode", "swap", "--source", "sample", "--output", str(out), "--no-pace"]) == 0
    frames = decode_video(out)
    assert len(frames) == 300
    assert {frame.shape for frame in frames} == {first.shape}  # the source's own frame size
    # Outside the face (the top corners: flag and wall), the frame is the sample's own.
    corner = (slice(first.shape[0] // 5, first.shape[0] // 3), slice(0, first.shape[1] // 6))
    assert np.abs(frames[0][corner].astype(int) - first[corner]).mean() < 6  # video coding noise only
    assert all(label_present(frame) for frame in frames[::30])
