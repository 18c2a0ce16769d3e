"""The face enhancer: its degradation and data, its training and export, the loop's stage, its measures.

A tiny enhancer trained on frames of the built-in sample driver (real TensorFlow, real
LiteRT, real MediaPipe); the shipped one where the test is about what ships.
"""

import json

import cv2
import numpy as np
import pytest

from models.default_model import DEFAULT_ENHANCER, DEFAULT_GENERATOR
from models.degradation import LIVE_SIZE, SHARP_SIZE, STATED, Degradation, degrade, enlarge, random_degradation
from models.enhancer_contract import load_enhancer_file
from models.generator_contract import ModelContractError, load_generator_file
from models.landmarker import FaceLandmarker, LandmarkerOptions
from models.metrics import sharpness
from models.swap_mask import face_mask
from realtime.enhancer_runner import EnhancerRunner
from realtime.pipeline import LiveConfig, run_live
from realtime.sinks import Controls, WindowSink
from reenact.cli import main
from tests.fakes import ListSource, RecordingSink
from training.sharp_faces import SharpFaces, align_folder, held_out_people, person_of, training_batch


@pytest.fixture(scope="module")
def sharp_faces(sharp_faces_folder) -> SharpFaces:
    return align_folder(sharp_faces_folder)


# ------------------------------------------------------------------ degradation and data


def test_the_stated_degradation_takes_most_of_the_detail_and_repeats_exactly(sharp_faces):
    # The sample driver's face is itself soft at 512: fine grain stands in for a sharp face's detail.
    points = sharp_faces.points[0]
    grain = np.random.default_rng(1).normal(0, 12, sharp_faces.crops[0].shape)
    sharp = np.clip(sharp_faces.crops[0] + grain, 0, 255).astype(np.uint8)
    soft = degrade(sharp)
    assert soft.shape == (LIVE_SIZE, LIVE_SIZE, 3) and soft.dtype == np.uint8
    assert np.array_equal(soft, degrade(sharp, STATED))  # a measurement repeats
    mask = face_mask(points, SHARP_SIZE)
    kept = sharpness(enlarge(soft), mask) / sharpness(sharp, mask)
    assert kept < 0.3  # enlarged again, the soft face has lost most of the sharp one's detail
    # ...but it is the same face, in the same place.
    assert np.abs(enlarge(soft).astype(float) - sharp).mean() < 12
    softer = degrade(sharp, Degradation(face_px=90, blur_sigma=2.0))
    assert sharpness(enlarge(softer), mask) < sharpness(enlarge(soft), mask)
    rng = np.random.default_rng(0)
    assert len({random_degradation(rng) for _ in range(5)}) == 5


def test_people_are_held_out_whole():
    assert person_of("neutral_003_03") == person_of("smiling_003_08") == "003"
    assert person_of("canada_044f") == "canada_044f"
    names = [f"{expression}_{n:03d}_0{k}" for n in range(10) for k, expression in enumerate(("neutral", "smiling"))]
    people = [person_of(name) for name in names]
    held = held_out_people(people, 0.2)
    assert len(held) == 2 and held < set(people)
    assert held == held_out_people(list(reversed(people)), 0.2)  # by name, not by order
    with pytest.raises(Exception, match="at least two people"):
        held_out_people(["003", "003"], 0.5)


def test_a_batch_is_a_function_of_seed_and_step_and_its_pairs_are_one_place(sharp_faces):
    soft, sharp = training_batch(sharp_faces, 3, 48, seed=0, step=7)
    assert soft.shape == (3, 48, 48, 3) and sharp.shape == (3, 96, 96, 3)
    assert soft.min() >= -1 and sharp.max() <= 1
    again, _ = training_batch(sharp_faces, 3, 48, seed=0, step=7)
    other, _ = training_batch(sharp_faces, 3, 48, seed=0, step=8)
    assert np.array_equal(soft, again) and not np.array_equal(soft, other)
    for low, high in zip(soft, sharp):  # the sharp patch, halved, is the soft one (less its lost detail)
        halved = cv2.resize(high, (48, 48), interpolation=cv2.INTER_AREA)
        assert np.corrcoef(halved.ravel(), low.ravel())[0, 1] > 0.8


def test_an_untrained_enhancer_is_bilinear_enlargement():
    import keras

    from models.enhancer_network import build_enhancer

    face = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    enhancer = build_enhancer(width=4, blocks=1)
    drawn = np.asarray(enhancer(face))
    assert drawn.shape == (1, 64, 64, 3)
    bilinear = np.asarray(keras.layers.UpSampling2D(2, interpolation="bilinear")(face))
    np.testing.assert_allclose(drawn, bilinear, atol=1e-6)


# ------------------------------------------------------------------ training and export


def test_train_enhancer_resumes_exactly(sharp_faces_folder, tmp_path):
    from training.checkpoints import weights_fingerprint
    from training.config import EnhanceConfig
    from training.enhance_train import load_enhancer, train_enhancer

    config = EnhanceConfig(data=str(sharp_faces_folder), width=4, blocks=1, critic_width=4, patch=32, batch=2,
                           steps=4, save_every=2, validate_every=2, holdout=0.34)
    whole = train_enhancer(config, tmp_path / "whole")
    assert whole.step == 4 and {"psnr", "bicubic_psnr", "sharpness", "bicubic_sharpness"} <= set(whole.validation)
    for name in ("config.json", "faces.npz", "preview.jpg", "checkpoints/checkpoint"):
        assert (tmp_path / "whole" / name).is_file(), name
    train_enhancer(EnhanceConfig(**{**vars(config), "steps": 2}), tmp_path / "parts")
    resumed = train_enhancer(config, tmp_path / "parts", resume=True)
    assert resumed.fingerprint == whole.fingerprint
    restored = [weights_fingerprint(load_enhancer(tmp_path / name)[0].ema) for name in ("whole", "parts")]
    assert restored[0] == restored[1]


def test_export_writes_an_enhancer_that_says_what_it_is_and_is_not_a_generator(tiny_enhancer, tiny_generators):
    run_dir, model = tiny_enhancer
    _, metadata = load_enhancer_file(model)
    assert (metadata.input_size, metadata.output_size, metadata.quantization) == (256, 512, "int8")
    assert metadata.held_out == ["001"]  # three people, a third held out, whole
    assert metadata.degradation["face_px"] == STATED.face_px
    assert {"psnr", "bicubic_psnr", "sharpness"} <= set(metadata.figures)
    face = EnhancerRunner.from_file(model).enhance(np.full((256, 256, 3), 128, np.uint8))
    assert face.shape == (512, 512, 3) and face.dtype == np.uint8
    with pytest.raises(ModelContractError, match="not a generator"):
        load_generator_file(model)
    with pytest.raises(ModelContractError, match="not an enhancer"):
        load_enhancer_file(tiny_generators["int8"])


def test_train_enhancer_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train-enhancer", str(tmp_path / "empty"), "--out", str(tmp_path / "run")]) == 2
    assert "no images" in capsys.readouterr().err
    assert main(["eval", "--enhancer", str(tmp_path / "none.tflite"), "--data", str(tmp_path / "empty"),
                 "--json", str(tmp_path / "e.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_eval_enhancer_measures_the_held_out_people_beside_bicubic(tiny_enhancer, sharp_faces_folder, tmp_path):
    _, model = tiny_enhancer
    out = tmp_path / "enhancer.json"
    assert main(["eval", "--enhancer", str(model), "--data", str(sharp_faces_folder), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["faces"] == 2 and "held out" in report["measured"]  # person 001's two faces only
    for name in ("psnr", "ssim", "sharpness"):
        assert 0 < report[name] and 0 < report[f"bicubic_{name}"]
    assert report["sharpness_over_bicubic"] == pytest.approx(report["sharpness"] / report["bicubic_sharpness"])
    assert report["identity_measured"] and 0 <= report["identity"] and 0 <= report["bicubic_identity"]
    sheet = cv2.imread(str(out.with_suffix(".jpg")))
    assert sheet.shape == (2 * 256, 4 * 256, 3)  # degraded | bicubic | restored | sharp, per face, at full size


# ------------------------------------------------------------------ the loop's stage


def test_the_loop_draws_the_face_through_the_enhancer_and_the_d_key_switches_it(tiny_enhancer, sample_images):
    _, model = tiny_enhancer
    images = sample_images[:10]
    sink = RecordingSink()
    config = LiveConfig(source="unused", model_path=DEFAULT_GENERATOR, outputs=(), enhancer_path=model)
    summary = run_live(config, sinks=[sink], source=ListSource(images))
    assert summary["frames_out"] == len(images) and "enhance" in summary["stages_ms"]

    controls = Controls("target")
    WindowSink(controls, show=lambda title, frame: None, wait_key=lambda delay: ord("d")).send(images[0])
    assert not controls.enhance  # switched off
    plain = RecordingSink()
    summary = run_live(config, sinks=[plain], source=ListSource(images), controls=controls)
    assert "enhance" not in summary["stages_ms"]
    # Two steps of training leave it close to plain enlargement: the same face, drawn a little differently.
    differences = [np.abs(a.astype(float) - b).mean() for a, b in zip(sink.frames, plain.frames)]
    assert 0 < np.mean(differences) < 4


def test_the_shipped_enhancer_restores_held_out_people_without_changing_who_or_where_they_are(shared_data):
    """The shipped enhancer on the people its training held out, degraded the stated way."""
    runner = EnhancerRunner.from_file(DEFAULT_ENHANCER)
    faces = align_folder(shared_data / "hd_faces")
    faces = faces.subset([person in set(runner.metadata.held_out) for person in faces.people])
    assert len(faces) >= 10
    with FaceLandmarker(LandmarkerOptions(max_faces=1, video_mode=False, pose=False, blendshapes=False)) as finder:
        for sharp, points in zip(faces.crops[:4], faces.points[:4]):
            soft = degrade(sharp)
            restored, bicubic = runner.enhance(soft), enlarge(soft)
            mask = face_mask(points, SHARP_SIZE)
            assert sharpness(restored, mask) > 2 * sharpness(bicubic, mask)
            inside = mask.astype(bool)
            assert np.abs(restored[inside].astype(float) - sharp[inside]).mean() < \
                np.abs(bicubic[inside].astype(float) - sharp[inside]).mean() + 1.5
            found = finder.detect(restored).points
            assert np.abs(found[:, :2] - points[:, :2]).mean() < 3  # the same face, in the same place


def test_the_identity_measure_calls_two_frames_of_one_person_one_person(sharp_faces):
    from evaluation.identity import SAME_PERSON, NearestIdentity, recognizer

    identity = recognizer()
    assert identity is not None, "dlib's recognizer is part of the install (the eval extra)"
    first, second = identity(sharp_faces.crops[0]), identity(sharp_faces.crops[3])
    assert first.shape == (128,) and np.linalg.norm(first - second) < SAME_PERSON
    assert identity(np.full((256, 256, 3), 90, np.uint8)) is None  # no face, no descriptor
    nearest = NearestIdentity(identity, np.stack([first, second]))
    assert nearest.distance(sharp_faces.crops[5]) < SAME_PERSON
    assert nearest.distance(np.zeros((256, 256, 3), np.uint8)) is None


def test_enhancer_options_are_refused_in_one_line_when_they_contradict(tmp_path, capsys):
    code = main(["live", "--source", "sample", "--output", str(tmp_path / "o.mp4"), "--no-enhance",
                 "--enhancer", str(tmp_path / "e.tflite")])
    assert code == 2 and "with --no-enhance" in capsys.readouterr().err
    assert main(["live", "--source", "sample", "--output", str(tmp_path / "o.mp4"),
                 "--enhancer", str(DEFAULT_GENERATOR)]) == 2
    assert "not an enhancer" in capsys.readouterr().err
