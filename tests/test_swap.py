"""Face swap: masks, augmentation, the autoencoder's training and export, the live swap loop and its measures.

Tiny networks on synthetic data sets (real TensorFlow, real LiteRT); the live loop runs on
real faces (the built-in sample driver, real MediaPipe).
"""

import json
import signal

import cv2
import numpy as np
import pytest

from models.alignment import Alignment
from models.errors import UserError
from models.generator_contract import ModelContractError, load_generator_file, require_mode
from models.metrics import sharpness
from models.swap_mask import OUTSIDE_GREY, THIN_FEATHER, face_mask, face_only, feather_dilated, feathered, feature_mask
from provenance.label import label_present
from realtime import kernels
from realtime.generator_runner import GeneratorOptions, GeneratorRunner
from realtime.pipeline import LiveConfig, run_live
from realtime.stages import PipelineOptions
from realtime.swap_stages import match_detail, paste_face, transfer_colour
from reenact.cli import main
from tests.fakes import ListSource, RecordingSink, random_landmarks, write_synthetic_dataset
from training.config import SwapConfig, TrainConfig
from training.swap_data import augment, batch, jitter_colour, load_faces, random_warp

SIZE = 64
TINY_SWAP_FLAGS = ["--size", str(SIZE), "--width", "4", "--code", "8", "--batch", "2", "--log-every", "1"]


@pytest.fixture(scope="module")
def swap_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("swap_data")
    return (write_synthetic_dataset(folder / "a", seed=1, train_frames=8),
            write_synthetic_dataset(folder / "b", seed=2, train_frames=8))


@pytest.fixture(scope="module")
def swap_model(swap_data, tmp_path_factory):
    """A tiny trained swap run, exported to int8 (the shipped format)."""
    folder = tmp_path_factory.mktemp("swap_run")
    run_dir, model = folder / "run", folder / "swap.tflite"
    assert main(["train-swap", str(swap_data[0]), str(swap_data[1]), "--out", str(run_dir), "--steps", "3",
                 "--save-every", "3", "--validate-every", "3", *TINY_SWAP_FLAGS]) == 0
    assert main(["export", str(run_dir), "--out", str(model), "--quant", "int8"]) == 0
    return run_dir, model


def _config(data_a="a", data_b="b", **changes):
    settings = dict(data_a=str(data_a), data_b=str(data_b), size=SIZE, width=4, code=8, batch=2)
    settings.update(changes)
    return SwapConfig(**settings)


# ------------------------------------------------------------------ masks and compositing


def test_the_face_mask_covers_the_face_and_the_paste_mask_fades_before_its_edge(sample_images):
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        points = landmarker.detect(sample_images[0]).points
    aligned = Alignment.from_landmarks(points, 128).apply(points)
    mask = face_mask(aligned, 128)
    nose = np.round(aligned[1, :2]).astype(int)
    assert mask[nose[1], nose[0]] == 1 and mask[2, 2] == 0
    assert 0.25 < mask.mean() < 0.7
    soft = feathered(mask)
    assert soft.dtype == np.float32 and soft[nose[1], nose[0]] > 0.99
    assert soft[mask == 0].max() < 0.5  # the feather lies inside the face oval
    thin = feathered(mask, *THIN_FEATHER)  # swap by re-enactment's paste: nearer the edge, still inside
    assert (thin > 0.5).sum() > 1.2 * (soft > 0.5).sum() and thin[mask == 0].max() < 0.5
    features = feature_mask(aligned, 128)
    assert features[nose[1], nose[0]] == 0 and 0.02 < features.mean() < mask.mean()
    assert features[np.round(aligned[13, 1]).astype(int), np.round(aligned[13, 0]).astype(int)] == 1  # the lips


def test_blend_kernel_matches_its_twin_and_copies_the_background_where_the_mask_is_zero():
    rng = np.random.default_rng(0)
    background = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    face = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    mask = np.clip(rng.normal(0.3, 0.5, (40, 50)), 0, 1).astype(np.float32)
    fast = kernels.blend(background, face, mask, np.empty_like(background))
    slow = kernels.blend_reference(background, face, mask, np.empty_like(background))
    np.testing.assert_array_equal(fast, slow)
    assert np.array_equal(fast[mask == 0], background[mask == 0])
    assert np.array_equal(fast[mask == 1], face[mask == 1])
    with pytest.raises(ValueError, match="float32"):
        kernels.blend(background, face, mask.astype(np.float64), np.empty_like(background))


def test_colour_transfer_gives_the_face_the_drivers_lab_statistics_inside_the_mask():
    rng = np.random.default_rng(1)
    face = np.clip(rng.normal(90, 20, (64, 64, 3)), 0, 255).astype(np.uint8)
    reference = np.clip(rng.normal(170, 10, (64, 64, 3)), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    matched = transfer_colour(face, reference, mask)
    lab = lambda image: cv2.cvtColor(image, cv2.COLOR_BGR2LAB).astype(np.float32)[mask > 0.5]  # noqa: E731
    np.testing.assert_allclose(lab(matched).mean(0), lab(reference).mean(0), atol=2.0)
    assert abs(lab(face).mean(0)[0] - lab(reference).mean(0)[0]) > 30  # it did have to move


def test_a_face_softer_than_the_drivers_gets_its_detail_and_a_sharper_one_is_left_alone(sample_images):
    reference = cv2.resize(sample_images[0], (128, 128), interpolation=cv2.INTER_AREA)
    mask = np.zeros((128, 128), np.uint8)
    mask[24:104, 24:104] = 1
    inner = cv2.erode(mask, np.ones((9, 9), np.uint8))
    soft = cv2.resize(cv2.GaussianBlur(reference, (0, 0), 1.5), (256, 256), interpolation=cv2.INTER_CUBIC)
    matched = match_detail(soft, reference, mask)  # the face at twice the reference's size (the enhancer's)
    at_size = lambda face: cv2.resize(face, (128, 128), interpolation=cv2.INTER_AREA)  # noqa: E731
    before, after = sharpness(at_size(soft), inner), sharpness(at_size(matched), inner)
    assert after > 1.5 * before and after < 1.5 * sharpness(reference, inner)  # raised towards it, not past
    np.testing.assert_allclose(matched.reshape(-1, 3).mean(0), soft.reshape(-1, 3).mean(0), atol=1.0)
    sharp = cv2.resize(reference, (256, 256), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(match_detail(sharp, soft[::2, ::2], mask), sharp)  # never softened


def test_paste_changes_only_the_face_region_of_the_frame():
    frame = np.full((120, 160, 3), 40, np.uint8)
    alignment = Alignment(np.array([[0.8, 0.0, -20.0], [0.0, 0.8, -10.0]]), 64)  # frame -> 64 px crop
    face = np.full((64, 64, 3), 220, np.uint8)
    mask = np.zeros((64, 64), np.float32)
    mask[16:48, 16:48] = 1.0
    pasted = paste_face(frame, face, mask, alignment)
    assert pasted.shape == frame.shape and pasted is not frame
    # Crop (16..48) maps back to frame x = (16 + 20) / 0.8 .. (48 + 20) / 0.8, y likewise.
    assert pasted[55, 60].tolist() == [220, 220, 220]
    changed = np.argwhere(np.any(pasted != frame, axis=2))
    assert changed[:, 1].min() >= 44 and changed[:, 1].max() <= 86
    assert changed[:, 0].min() >= 31 and changed[:, 0].max() <= 73
    assert np.array_equal(frame, np.full((120, 160, 3), 40, np.uint8))  # the input is untouched


# ------------------------------------------------------------------ data, configuration, training


def test_a_batch_is_a_function_of_seed_identity_and_step(swap_data):
    faces = load_faces(swap_data[0], SIZE, progress=False)
    config = _config()
    first, again = batch(faces, config, 0, 5), batch(faces, config, 0, 5)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], batch(faces, config, 0, 6)[0])
    assert not np.array_equal(first[0], batch(faces, config, 1, 5)[0])
    inputs, targets, weights = first
    assert inputs.shape == targets.shape == (2, SIZE, SIZE, 3) and weights.shape == (2, SIZE, SIZE, 1)
    assert -1.0 <= inputs.min() and inputs.max() <= 1.0
    assert set(np.unique(weights)) <= {0.0, 1.0, 1.0 + config.feature_weight}


def test_mouth_balance_draws_the_rare_open_mouths_as_often_as_the_shut_ones():
    from models.face_topology import INNER_LIP_LOWER, INNER_LIP_UPPER, inter_ocular
    from training.swap_data import Faces

    rng = np.random.default_rng(4)
    points = np.stack([random_landmarks(rng, SIZE)[:, :2] for _ in range(100)])
    for index, face in enumerate(points):  # 90 shut mouths, 10 wide open, as in s1's sentences
        face[INNER_LIP_LOWER] = face[INNER_LIP_UPPER] + (0, (0.32 if index < 10 else 0.01) * inter_ocular(face))
    faces = Faces(np.zeros((100, SIZE, SIZE, 3), np.uint8), points, tuple(range(100)))
    assert faces.draw_weights(0.0) is None
    weights = faces.draw_weights(1.0)
    assert weights[:10].sum() == pytest.approx(0.5) and weights.sum() == pytest.approx(1.0)

    def open_share(balance):  # which faces batches draw: a face's crop carries its index
        indexed = Faces(np.arange(100, dtype=np.uint8)[:, None, None, None] * np.ones((1, SIZE, SIZE, 3), np.uint8),
                        points, faces.ids)
        still = _config(mouth_balance=balance, rotation=0.0, scale=0.0, shift=0.0, flip=False, warp=0.0,
                        colour=0.0, face_only=False, batch=4)
        drawn = [round((target[0, 0, 0] + 1.0) * 127.5) for step in range(100)
                 for target in batch(indexed, still, 1, step)[1]]
        return np.mean(np.array(drawn) < 10)

    assert open_share(0.0) < 0.2 and 0.35 < open_share(1.0) < 0.65


def test_augmentation_moves_face_and_weights_together_and_warps_the_input_alone():
    rng = np.random.default_rng(0)
    points = random_landmarks(rng, SIZE)[:, :2]
    crop = np.zeros((SIZE, SIZE, 3), np.uint8)
    crop[face_mask(points, SIZE) == 1] = 255  # the face oval drawn white
    still = _config(rotation=0.0, scale=0.0, shift=0.0, flip=False, warp=0.0, colour=0.0, face_only=False)
    inputs, target, weights = augment(crop, points, np.random.default_rng(1), still)
    np.testing.assert_array_equal(inputs, crop)
    np.testing.assert_array_equal(target, crop)
    moved_inputs, moved, moved_weights = augment(crop, points, np.random.default_rng(1), _config(rotation=20.0))
    white = moved[:, :, 0] > 127
    assert not np.array_equal(moved, crop)
    assert np.mean(white == (moved_weights[:, :, 0] > 0)) > 0.97  # the weights follow the face
    assert not np.array_equal(moved_inputs, moved)  # the input is bent on top
    np.testing.assert_array_equal(random_warp(crop, rng, 0.0), crop)


def test_a_dropped_jaw_opens_the_mouth_as_mediapipe_sees_it_and_moves_the_landmarks_with_it(sample_images):
    from models.column_warp import CHIN, drop_jaw
    from models.face_topology import INNER_LIP_LOWER, INNER_LIP_UPPER, inter_ocular, mouth_opening
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    frame = sample_images[27]  # the sample's first wide-open mouth
    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        points = landmarker.detect(frame).points[:, :2]
        iod = inter_ocular(points)
        warped, moved = drop_jaw(frame, points, 0.15 * iod)
        seen = landmarker.detect(warped).points[:, :2]
    assert mouth_opening(moved) == pytest.approx(mouth_opening(points) + 0.15, abs=0.01)
    # The picture opened as far as the points say, and its lower lip went down with them.
    assert mouth_opening(seen) == pytest.approx(mouth_opening(moved), abs=0.03)
    assert np.linalg.norm(seen[INNER_LIP_LOWER] - moved[INNER_LIP_LOWER]) < 0.06 * iod
    assert moved[CHIN, 1] - points[CHIN, 1] == pytest.approx(0.15 * iod, rel=0.05)  # the jaw dropped whole
    np.testing.assert_array_equal(moved[INNER_LIP_UPPER], points[INNER_LIP_UPPER])
    above = int(points[:, 1].min())  # the forehead and above do not move
    np.testing.assert_array_equal(warped[:above], frame[:above])


def test_augmentation_drops_the_jaw_of_open_mouths_only():
    from media.sample_clip import PORTRAIT_SIZE, portrait_landmarks
    from models.face_topology import INNER_LIP_LOWER, INNER_LIP_UPPER, inter_ocular, mouth_opening
    from training.swap_data import JAW_DROP_FROM, widen_mouth

    points = portrait_landmarks()[:, :2].astype(np.float64)  # a real face's landmarks
    crop = np.random.default_rng(5).integers(0, 256, (PORTRAIT_SIZE, PORTRAIT_SIZE, 3), dtype=np.uint8)

    def with_gap(gap):
        face = points.copy()
        face[INNER_LIP_LOWER] = face[INNER_LIP_UPPER] + (0, gap * inter_ocular(face))
        return face

    openings = [mouth_opening(widen_mouth(crop, with_gap(0.2), np.random.default_rng(seed), 0.2)[1])
                for seed in range(40)]
    widened = [opening for opening in openings if opening > 0.2 + 1e-6]
    assert 10 < len(widened) < 30 and max(widened) <= 0.4 + 1e-6  # about half the time, by U(0, 0.2)
    for face, amount in ((with_gap(JAW_DROP_FROM / 2), 0.2), (with_gap(0.2), 0.0)):  # a shut mouth; no drop
        for seed in range(10):
            same_crop, same_points = widen_mouth(crop, face, np.random.default_rng(seed), amount)
            assert same_crop is crop and same_points is face


def test_the_mouth_follow_opens_and_closes_a_drawn_mouth_to_the_drivers_and_leaves_a_shut_one(sample_images):
    from models.face_topology import INNER_LIP_LOWER, INNER_LIP_UPPER, inter_ocular, mouth_opening
    from models.landmarker import FaceLandmarker, LandmarkerOptions
    from realtime.swap_stages import MOUTH_FOLLOW_FROM, follow_mouth

    drawn = sample_images[27]  # stands in for a drawn face: its mouth open about 0.33
    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        points = landmarker.detect(drawn).points

        def driver(opening):
            face = points.copy()
            face[INNER_LIP_LOWER, :2] = face[INNER_LIP_UPPER, :2] + (0, opening * inter_ocular(face))
            return face

        for wanted in (0.45, 0.2):  # wider, then narrower than drawn
            seen = landmarker.detect(follow_mouth(drawn, points, driver(wanted))).points
            assert mouth_opening(seen) == pytest.approx(wanted, abs=0.04)
    shut = points.copy()
    shut[INNER_LIP_LOWER] = shut[INNER_LIP_UPPER] + (0, MOUTH_FOLLOW_FROM / 2 * inter_ocular(points), 0)
    assert follow_mouth(drawn, shut, driver(0.45)) is drawn  # stretched shut lips are no open mouth


def test_the_encoder_is_shown_the_face_alone_on_grey_in_a_changed_colour():
    rng = np.random.default_rng(3)
    points = random_landmarks(rng, SIZE)[:, :2]
    crop = rng.integers(40, 200, (SIZE, SIZE, 3), dtype=np.uint8)
    kept = feather_dilated(face_mask(points, SIZE)).astype(bool)
    assert 0.1 < kept.mean() < 0.9
    shown = face_only(crop, face_mask(points, SIZE))
    np.testing.assert_array_equal(shown[kept], crop[kept])
    assert np.all(shown[~kept] == OUTSIDE_GREY)

    still = dict(rotation=0.0, scale=0.0, shift=0.0, flip=False, warp=0.0)
    inputs, target, _ = augment(crop, points, np.random.default_rng(1), _config(colour=0.0, **still))
    np.testing.assert_array_equal(inputs, shown)
    np.testing.assert_array_equal(target, crop)  # the target keeps the face's own colours
    inputs, target, _ = augment(crop, points, np.random.default_rng(1), _config(colour=0.2, **still))
    np.testing.assert_array_equal(target, crop)
    assert np.all(inputs[~kept] == OUTSIDE_GREY)
    gains = inputs[kept].reshape(-1, 3).mean(0) / crop[kept].reshape(-1, 3).mean(0)
    assert np.all((0.6 < gains) & (gains < 1.5)) and np.ptp(gains) > 0.01  # white balance and exposure moved
    np.testing.assert_array_equal(jitter_colour(crop, rng, 0.0), crop)


def test_swap_and_pix2pix_configurations_refuse_each_others_runs():
    config = _config()
    assert SwapConfig.from_json(config.to_json()) == config
    assert config.face_only and config.colour > 0
    saved_before = {key: value for key, value in json.loads(config.to_json()).items()
                    if key not in ("face_only", "colour")}
    older = SwapConfig.from_json(json.dumps(saved_before))  # a run saved before the face-only recipe
    assert not older.face_only and older.colour == 0.0  # resumes as it was trained
    with pytest.raises(UserError, match="swap run.*train-swap"):
        TrainConfig.from_json(config.to_json())
    with pytest.raises(UserError, match="reenact run.*reenact train"):
        SwapConfig.from_json(TrainConfig(data="x").to_json())
    with pytest.raises(UserError, match="cannot change size"):
        config.resumed_with(size=128)
    assert config.resumed_with(steps=10).steps == 10
    with pytest.raises(UserError, match="multiple of 16"):
        _config(size=72)


def test_train_swap_writes_a_run_that_resumes_exactly(swap_data, tmp_path):
    from training.checkpoints import weights_fingerprint
    from training.swap_train import load_swap, train_swap

    whole = train_swap(_config(*swap_data, steps=4, save_every=2, validate_every=2), tmp_path / "whole")
    assert whole.step == 4 and set(whole.validation) == {"b_psnr", "b_ssim"}
    for name in ("config.json", "target_profile.json", "preview.jpg", "checkpoints/checkpoint"):
        assert (tmp_path / "whole" / name).is_file(), name
    assert list((tmp_path / "whole" / "logs").iterdir())
    preview = cv2.imread(str(tmp_path / "whole" / "preview.jpg"))
    assert preview.shape[0] == 2 * SIZE  # A's faces above, swapped to B below

    train_swap(_config(*swap_data, steps=2, save_every=2, validate_every=2), tmp_path / "parts")
    resumed = train_swap(_config(*swap_data, steps=4, save_every=2, validate_every=2), tmp_path / "parts", resume=True)
    assert resumed.step == 4
    restored = [weights_fingerprint(load_swap(tmp_path / name)[0].decoders[1]) for name in ("whole", "parts")]
    assert restored[0] == restored[1]
    assert resumed.fingerprint == whole.fingerprint


def test_train_swap_cli_errors_are_one_line(swap_data, tmp_path, capsys):
    assert main(["train-swap", str(tmp_path / "missing"), str(swap_data[1]), "--out", str(tmp_path / "r")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["train-swap", str(swap_data[0]), str(swap_data[1]), "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


# ------------------------------------------------------------------ export and the live loop


def test_export_writes_a_swap_model_that_says_what_it_is(swap_model, swap_data):
    _, model = swap_model
    _, metadata = load_generator_file(model)
    assert metadata.mode == "swap" and metadata.input_size == SIZE and metadata.quantization == "int8"
    assert metadata.identities["a"]["data"] == swap_data[0].name and metadata.identities["b"]["data"] == "b"
    assert metadata.architecture["network"] == "swap-autoencoder" and metadata.architecture["size"] == SIZE
    assert metadata.architecture["input"] == "face"  # the live loop shows it the face alone, as training did
    require_mode(metadata, "swap", model)
    with pytest.raises(ModelContractError, match="face-swap model.*--mode swap"):
        require_mode(metadata, "reenact", model)
    runner = GeneratorRunner.from_file(GeneratorOptions(model))
    face = runner.generate(np.full((SIZE, SIZE, 3), 128, np.uint8))
    assert face.shape == (SIZE, SIZE, 3) and face.dtype == np.uint8


def test_the_live_swap_loop_keeps_the_frame_and_labels_every_frame(swap_model, sample_images):
    _, model = swap_model
    images = sample_images[:12]
    sink = RecordingSink()
    config = LiveConfig(source="unused", model_path=model, outputs=(), mode="swap")
    summary = run_live(config, sinks=[sink], source=ListSource(images))
    assert summary["frames_out"] == len(images) and summary["frames_without_face"] == 0
    assert "align" in summary["stages_ms"] and "retarget" not in summary["stages_ms"]
    assert "mouth" in summary["stages_ms"]  # the drawn mouth follows the driver's (on by default)
    assert len(sink.frames) == len(images)
    for source, output in zip(images, sink.frames):
        assert output.shape == source.shape  # the driver's own frame size
        assert label_present(output)
        changed = np.any(np.abs(output.astype(int) - source) > 12, axis=2)
        changed[:int(0.12 * source.shape[0])] = False  # the label's band
        assert 0.01 < changed.mean() < 0.35  # the face changed, the rest of the frame did not


def test_the_live_loop_shows_the_model_what_its_training_showed(swap_model, sample_images, tmp_path):
    """A face-only model gets mid-grey beyond the face; a model trained on whole crops the whole crop."""
    import dataclasses

    from media.sources import Frame
    from models.generator_contract import write_metadata
    from models.tracking_landmarker import live_landmarker
    from realtime.pipeline import build_stages
    from realtime.stages import Packet
    from realtime.stats import RunStats

    _, model = swap_model
    model_bytes, metadata = load_generator_file(model)
    whole_crop = tmp_path / "whole_crop.tflite"
    whole_crop.write_bytes(write_metadata(model_bytes, dataclasses.replace(
        metadata, architecture={**metadata.architecture, "input": "crop"})))
    shown = {}
    for name, path in (("face", model), ("crop", whole_crop)):
        runner = GeneratorRunner.from_file(GeneratorOptions(path))
        seen = []

        def generate(face, real=runner.generate, seen=seen):  # the real model, its input kept
            seen.append(face.copy())
            return real(face)

        runner.generate = generate
        with live_landmarker() as landmarker:
            front, back = build_stages(runner, landmarker, RunStats())
            packet = back.generate(front(Packet(Frame(0, 0.0, 0.0, sample_images[0]))))
        assert len(seen) == 1 and packet.generated is not None
        kept = feather_dilated(face_mask(packet.driver_aligned, SIZE)).astype(bool)
        np.testing.assert_array_equal(seen[0][kept], packet.aligned_face[kept])
        shown[name] = (seen[0][~kept], packet.aligned_face[~kept])
    assert np.all(shown["face"][0] == OUTSIDE_GREY)
    np.testing.assert_array_equal(*shown["crop"])


def test_a_model_of_the_other_mode_is_refused_before_any_camera_opens(swap_model, tiny_generators, capsys,
                                                                     sample_images):
    _, model = swap_model
    assert main(["live", "--model", str(model), "--source", "no-such-camera.mp4"]) == 2
    assert "face-swap model, but --mode reenact" in capsys.readouterr().err
    # A re-enactment generator with --mode swap is a swap by re-enactment: the model is taken, the source is not.
    assert main(["live", "--mode", "swap", "--model", str(tiny_generators["int8"]), "--source", "x.mp4"]) == 2
    error = capsys.readouterr().err
    assert "x.mp4" in error and "generator" not in error
    assert main(["live", "--mode", "swap", "--model", str(model), "--layout", "side-by-side",
                 "--source", "no-such-camera.mp4"]) == 2
    assert "--layout side-by-side with --mode swap" in capsys.readouterr().err
    assert main(["live", "--model", str(tiny_generators["int8"]), "--no-follow-mouth",
                 "--source", "no-such-camera.mp4"]) == 2
    assert "--no-follow-mouth with --mode reenact" in capsys.readouterr().err
    config = LiveConfig(source="unused", model_path=model, outputs=(), mode="swap",
                        pipeline=PipelineOptions(follow_mouth=False))
    assert "mouth" not in run_live(config, sinks=[RecordingSink()], source=ListSource(sample_images[:3]))["stages_ms"]
    assert main(["eval", "--model", str(tiny_generators["int8"]), "--driver", "x.mp4", "--json", "x.json",
                 "--source-side", "a"]) == 2
    assert "--source-side is the face-swap source side" in capsys.readouterr().err
    assert main(["eval", "--mode", "swap", "--model", str(model), "--driver", "x.mp4", "--json", "x.json",
                 "--source-side", "a"]) == 2  # a broken share needs B's faces to measure against
    assert "pass --reference too" in capsys.readouterr().err


def test_the_pasted_identity_measure_does_not_count_the_colour_transfer(swap_data):
    from evaluation.swap import IdentityMeasure

    faces = load_faces(swap_data[1], SIZE, progress=False)
    measure = IdentityMeasure(faces)
    face, points = faces.crops[0], faces.points[0]
    mask = face_mask(points, SIZE)
    toned = np.clip(face.astype(np.float32) * (0.7, 0.9, 1.3) + 10, 0, 255).astype(np.uint8)  # another light
    other = load_faces(swap_data[0], SIZE, progress=False).crops[0]
    raw_to_b, raw_to_other = measure.distances(toned, other, mask)
    to_b, to_other = measure.distances(toned, other, mask, levelled=True)
    assert to_b < 0.5 * raw_to_b  # levelled, B's own face in another light is B's face again
    assert to_b < to_other
    assert measure.distances(face, other, mask)[0] < 1e-3  # B's face is among B's references


def test_the_broken_level_of_a_swap_is_its_distance_on_the_source_sides_faces(swap_data):
    from evaluation.swap import IdentityMeasure

    a_faces, b_faces = (load_faces(data, SIZE, progress=False) for data in swap_data)
    measure = IdentityMeasure(b_faces)
    # A model that drew B's faces exactly would sit at distance 0; one that returned A's own
    # face, unswapped, as far as A is from B; one halfway between, nearer.
    assert np.all(measure.in_distribution(a_faces, lambda crop, mask: b_faces.crops[0]) < 1e-3)
    unswapped = measure.in_distribution(a_faces, lambda crop, mask: crop)
    halfway = measure.in_distribution(
        a_faces, lambda crop, mask: ((crop.astype(np.uint16) + b_faces.crops[0]) // 2).astype(np.uint8))
    assert len(unswapped) == len(a_faces) and np.all(unswapped > 1.0) and np.all(halfway < 0.75 * unswapped)


def test_eval_swap_reports_an_untouched_outside_and_writes_the_sheet(swap_model, swap_data, sample_video, tmp_path):
    from evaluation.broken_frames import BROKEN_FACTOR
    from evaluation.swap import evaluate_swap

    _, model = swap_model
    report = evaluate_swap(sample_video, model, tmp_path / "swap.json", reference=swap_data[1],
                           sheet=tmp_path / "sheet.png", max_frames=20, source_side=swap_data[0])
    assert report["frames"] == 20 and report["frames_with_face"] == 20
    assert report["outside_psnr"] >= 40.0
    assert 0.0 <= report["identity_share"] <= 1.0 and report["distance_to_a_p50"] > 0
    assert len(report["per_frame_distance"]) == 20
    # Broken: farther from B than BROKEN_FACTOR times the model's swaps of A's own faces are.
    assert report["level_frames"] == len(load_faces(swap_data[0], SIZE, ("train", "val"), progress=False))
    assert report["broken_threshold"] == pytest.approx(BROKEN_FACTOR * report["in_distribution_p50"], abs=1e-3)
    to_b = np.array(report["per_frame_distance"])[:, 0]
    assert report["broken_share"] == pytest.approx(np.mean(to_b > report["broken_threshold"]), abs=1e-4)
    assert len(report["per_frame_mouth_open"]) == round(report["detect_rate"] * 20)
    assert json.loads((tmp_path / "swap.json").read_text())["mode"] == "swap"
    # A tiny model draws a blur: far less detail than the driver's own face around it.
    assert 0 < report["sharpness_p50"] < 0.5
    assert 0 < report["seam_p50"] <= report["seam_p95"]
    # The output's pose is read against the driver's on every frame where MediaPipe finds both faces.
    assert report["motion"]["measures"]["yaw"]["paired"] == round(report["detect_rate"] * 20)
    assert "recognizer_distance_to_b_p50" not in report  # no real face in the synthetic B for dlib to read
    sheet = cv2.imread(str(tmp_path / "sheet.png"))
    assert sheet is not None and sheet.shape[1] == 8 * 128


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(swap_data, tmp_path):
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from training.checkpoints import latest_checkpoint

    repository = Path(__file__).resolve().parents[1]
    run_dir = tmp_path / "interrupted"
    command = [sys.executable, "-m", "reenact.cli", "train-swap", str(swap_data[0]), str(swap_data[1]),
               "--out", str(run_dir), "--steps", "100000", "--save-every", "100000", "--validate-every", "100000",
               *TINY_SWAP_FLAGS]
    process = subprocess.Popen(command, cwd=repository, env=dict(os.environ, PYTHONPATH=str(repository)),
                               stderr=subprocess.PIPE, text=True)
    lines, deadline = [], time.monotonic() + 120
    for line in process.stderr:
        lines.append(line)
        if line.startswith("step 3/") or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    lines.extend(process.stderr)
    assert process.wait(timeout=60) == 128 + signal.SIGINT, "".join(lines[-20:])
    output = "".join(lines)
    assert "stopped by SIGINT" in output and "--resume" in output and "Traceback" not in output
    assert latest_checkpoint(run_dir) is not None


def test_a_wider_decoder_reads_the_same_code_and_draws_a_face_of_the_same_size():
    from training.swap_train import FaceSwap

    narrow, wide = FaceSwap(_config()), FaceSwap(_config(decoder_width=16))
    assert wide.encoder.count_params() == narrow.encoder.count_params()
    assert wide.decoders[1].count_params() > 2 * narrow.decoders[1].count_params()
    faces = np.zeros((2, SIZE, SIZE, 3), np.uint8)
    assert wide.swap(faces).shape == narrow.swap(faces).shape == (2, SIZE, SIZE, 3)
    with pytest.raises(UserError, match="decoder_width"):
        _config(decoder_width=0)


def test_swap_by_re_enactment_pastes_the_generators_face_into_the_drivers_frame(sample_images):
    """--mode swap with a re-enactment generator: the target drawn from the driver's sketch, turned, pasted."""
    from models.default_model import DEFAULT_GENERATOR

    images = sample_images[:12]
    sink = RecordingSink()
    config = LiveConfig(source="unused", model_path=DEFAULT_GENERATOR, outputs=(), mode="swap")
    summary = run_live(config, sinks=[sink], source=ListSource(images))
    assert summary["frames_out"] == len(images) and summary["frames_without_face"] == 0
    assert {"retarget", "sketch", "motion", "align", "generator", "warp", "colour"} <= set(summary["stages_ms"])
    assert "mouth" not in summary["stages_ms"]  # the sketch carries the driver's mouth already
    for source, output in zip(images, sink.frames):
        assert output.shape == source.shape and label_present(output)
        changed = np.any(np.abs(output.astype(int) - source) > 12, axis=2)
        changed[:int(0.12 * source.shape[0])] = False  # the label's band
        assert 0.01 < changed.mean() < 0.35  # the face changed, the rest of the frame did not


def test_the_seam_measure_sees_a_hard_paste_edge_and_not_a_clean_one():
    from evaluation.swap import seam_ratio
    from media.sources import Frame
    from realtime.stages import Packet

    size = 128
    ramp = np.tile(np.linspace(60, 200, size, dtype=np.float32), (size, 1))
    texture = np.random.default_rng(0).normal(0, 4, (size, size)).astype(np.float32)  # skin-like grain
    frame = np.repeat(np.clip(ramp + texture, 0, 255)[:, :, None], 3, axis=2).astype(np.uint8)
    mask = np.zeros((size, size), np.float32)
    mask[32:96, 32:96] = 1.0
    packet = Packet(Frame(0, 0.0, 0.0, frame))
    packet.alignment = Alignment(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), size)
    packet.drawn_mask = feathered((mask > 0).astype(np.uint8))
    assert seam_ratio(frame, frame, packet) == pytest.approx(1.0)
    pasted = frame.copy()
    pasted[packet.drawn_mask > 0.05] = 120  # a flat face dropped in with a hard edge where the fade starts
    assert seam_ratio(pasted, frame, packet) > 1.5
    soft = cv2.GaussianBlur(frame, (0, 0), 3)  # a paste softer than the frame, with no edge: below 1
    assert seam_ratio(soft, frame, packet) < 1.0
