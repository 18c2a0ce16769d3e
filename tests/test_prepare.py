"""``reenact prepare``: files, split, reruns and the errors a user meets.

The data is made here: a 2.5 s clip of the built-in ``sample`` driver (a real-looking
face that opens its mouth wide, then half) written as an mp4, 75 frames of which every
5th is kept. One test prepares the real GRID footage, where it is present.
"""

import json
import os
import stat

import cv2
import numpy as np
import pytest

from models.errors import UserError
from models.sketch import SKETCH_VERSION, render_sketch
from reenact import cli
from tests.fakes import write_video
from training.prepare import PrepareOptions, assign_splits, prepare_data

GRID_CLIP = "target/grid_s2_pwij3p.mpg"  # 75 frames, like the sample video; every 5th gives 15
OPTIONS = PrepareOptions(size=128, every=5, credit="sample test")


@pytest.fixture(scope="module")
def prepared(sample_video, tmp_path_factory):
    out = tmp_path_factory.mktemp("data")
    report = prepare_data([sample_video], out, OPTIONS)
    return out, report


def test_prepare_writes_frames_manifest_and_profile(prepared):
    out, report = prepared
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sketch_version"] == SKETCH_VERSION
    assert (manifest["size"], manifest["margin"], manifest["credit"]) == (128, 0.15, "sample test")
    (source,) = manifest["sources"]
    assert (source["frames_total"], source["frames_with_face"], source["frames_skipped"]) == (15, 15, 0)
    assert [frame["frame_index"] for frame in manifest["frames"]] == list(range(0, 75, 5))

    for frame in manifest["frames"]:
        with np.load(out / "frames" / f"{frame['id']}.npz", allow_pickle=False) as data:
            assert data["crop"].shape == data["sketch"].shape == (128, 128, 3)
            assert data["crop"].dtype == data["sketch"].dtype == np.uint8
            assert data["landmarks"].shape == (478, 3) and data["landmarks"].dtype == np.float32
            # The stored sketch is exactly what the live loop would draw from these landmarks.
            np.testing.assert_array_equal(data["sketch"], render_sketch(data["landmarks"], 128))
            # Aligned: the face sits inside the crop.
            assert 0 < data["landmarks"][:, :2].min() and data["landmarks"][:, :2].max() < 128

    umask = os.umask(0)
    os.umask(umask)
    for written in (out / "manifest.json", out / "target_profile.json", next((out / "frames").iterdir())):
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask  # not the temp file's owner-only mode

    profile = json.loads((out / "target_profile.json").read_text())
    neutral = np.asarray(profile["neutral_landmarks"])
    assert neutral.shape == (478, 3)
    assert set(profile["expression_ranges"]) == {"mouth_open", "eye_open", "brow_raise",
                                                 "yaw_deg", "pitch_deg", "roll_deg"}
    for low, high in profile["expression_ranges"].values():
        assert low <= high
    low, high = profile["expression_ranges"]["mouth_open"]
    assert 0.0 <= low < 0.1 < high < 1.0  # shut at rest, opened wide within the training frames
    assert report.split_counts == {"train": 11, "gap": 1, "val": 3}
    assert "prepared 15 of 15 frames (0 skipped without a face): 11 train, 3 val, 1 gap" in report.summary()


def test_split_is_last_block_with_gap(prepared):
    out, _ = prepared
    frames = json.loads((out / "manifest.json").read_text())["frames"]
    splits = [frame["split"] for frame in frames]
    indices = [frame["frame_index"] for frame in frames]
    # 15 frames: the last 3 are validation, the one 5 source frames before them is the gap.
    assert splits == ["train"] * 11 + ["gap"] + ["val"] * 3
    last_train = max(i for i, s in zip(indices, splits) if s == "train")
    first_val = min(i for i, s in zip(indices, splits) if s == "val")
    assert first_val - last_train > 5


@pytest.mark.parametrize("count, gap, expected", [
    (10, 0, ["train"] * 8 + ["val"] * 2),
    (10, 2, ["train"] * 6 + ["gap"] * 2 + ["val"] * 2),
    (1, 5, ["train"]),
    (2, 0, ["train", "val"]),
])
def test_assign_splits_on_consecutive_frames(count, gap, expected):
    assert assign_splits(range(count), 0.2, gap) == expected


def test_assign_splits_gap_counts_source_frames():
    # Every 5th frame: a gap of 5 source frames drops only the one sampled frame before the block.
    assert assign_splits([0, 5, 10, 15, 20], 0.2, 5) == ["train", "train", "train", "gap", "val"]


def test_rerun_reuses_frames_and_redoes_a_damaged_one(prepared, sample_video):
    out, _ = prepared
    manifest_before = (out / "manifest.json").read_text()
    damaged = out / "frames" / json.loads(manifest_before)["frames"][4]["id"]
    damaged = damaged.with_suffix(".npz")
    damaged.write_bytes(b"not an npz")
    report = prepare_data([sample_video], out, OPTIONS)
    assert report.sources[0].frames_reused == 14
    assert report.sources[0].frames_with_face == 15
    assert (out / "manifest.json").read_text() == manifest_before
    with np.load(damaged, allow_pickle=False) as data:
        assert data["crop"].shape == (128, 128, 3)


def test_rerun_with_other_settings_is_refused(prepared, sample_video):
    out, _ = prepared
    with pytest.raises(UserError, match="size 128"):
        prepare_data([sample_video], out, PrepareOptions(size=64, every=5))


def _noise_video(path, frames=6, size=96):
    generator = np.random.default_rng(0)
    return write_video(path, [generator.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(frames)],
                       fps=25)


def test_video_without_a_face_is_a_clear_error(tmp_path):
    video = _noise_video(tmp_path / "noise.mp4")
    with pytest.raises(UserError, match=r"no face found in any of 6 frames of noise\.mp4"):
        prepare_data([video], tmp_path / "data", PrepareOptions(size=64))


def test_faceless_video_beside_a_real_one_is_counted_as_skipped(tmp_path, sample_video):
    video = _noise_video(tmp_path / "noise.mp4", frames=30)
    report = prepare_data([video, sample_video], tmp_path / "data", PrepareOptions(size=64, every=15))
    noise, clip = report.sources
    assert (noise.frames_total, noise.frames_with_face, noise.frames_skipped) == (2, 0, 2)
    assert (clip.frames_total, clip.frames_with_face) == (5, 5)
    assert "2 skipped (no face)" in report.summary()


def test_unreadable_file_names_it(tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"this is not a video")
    assert cli.main(["prepare", str(broken), "--out", str(tmp_path / "data")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("reenact prepare: error:") and "broken.mp4" in error and "\n" not in error


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="holds no video"):
        prepare_data([tmp_path / "empty"], tmp_path / "data")


def test_missing_input_and_bad_options_are_errors(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        prepare_data([tmp_path / "absent.mp4"], tmp_path / "data")
    with pytest.raises(UserError, match="--every 0"):
        PrepareOptions(every=0)


def test_the_command_prepares_a_folder_of_images(sample_images, tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, image in enumerate(sample_images[:10]):
        cv2.imwrite(str(folder / f"{index:03d}.png"), image)
    assert cli.main(["prepare", str(folder), "--out", str(tmp_path / "data"), "--size", "64", "--gap", "0"]) == 0
    assert "prepared 10 of 10 frames (0 skipped without a face): 8 train, 2 val, 0 gap" in capsys.readouterr().out
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    (source,) = manifest["sources"]
    assert (source["frames_total"], source["frames_with_face"]) == (10, 10) and manifest["gap_frames"] == 0
    assert [frame["split"] for frame in manifest["frames"]] == ["train"] * 8 + ["val"] * 2


def test_prepare_on_the_real_grid_clip(shared_data, tmp_path):
    """A GRID speaker: a face in every sampled frame, and a calm mouth."""
    report = prepare_data([shared_data / GRID_CLIP], tmp_path / "grid", PrepareOptions(size=128, every=5))
    (source,) = report.sources
    assert (source.frames_total, source.frames_with_face, source.frames_skipped) == (15, 15, 0)
    profile = json.loads((tmp_path / "grid" / "target_profile.json").read_text())
    low, high = profile["expression_ranges"]["mouth_open"]
    assert 0.0 <= low < 0.1 and high < 1.0  # a calm speaker: the mouth is nearly shut at rest


def test_whole_clips_are_held_out_and_none_of_them_is_trained_on(sample_video, tmp_path, capsys):
    clips = tmp_path / "clips"
    clips.mkdir()
    for index in range(4):  # four "sentences": the same clip under four names
        (clips / f"clip{index}.mp4").write_bytes(sample_video.read_bytes())
    code = cli.main(["prepare", str(clips), "--out", str(tmp_path / "data"), "--size", "64", "--every", "15",
                     "--holdout-clips", "0.25"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    splits = {}
    for frame in manifest["frames"]:
        splits.setdefault(frame["source"], set()).add(frame["split"])
    assert sorted(map(sorted, splits.values())) == [["train"]] * 3 + [["val"]]  # one clip whole, no gap
    assert manifest["holdout_clips"] == 0.25
    profile = json.loads((tmp_path / "data" / "target_profile.json").read_text())
    assert len(profile["shape_space"]["components"]) >= 1
    with pytest.raises(UserError, match="at least two sources"):
        prepare_data([sample_video], tmp_path / "one", PrepareOptions(size=64, every=15, holdout_clips=0.5))


def test_coverage_reports_what_the_footage_shows_and_what_to_film(prepared):
    out, report = prepared
    coverage = json.loads((out / "target_profile.json").read_text())["coverage"]
    assert coverage["frames"] == 11 and coverage == report.coverage.to_dict()
    assert coverage["ranges"]["mouth_open"][1] > 0.1  # the sample opens its mouth wide
    assert 0.0 <= coverage["blurred_share"] <= 1.0 and 0.0 <= coverage["edge_share"] <= 1.0
    summary = report.summary()
    assert "coverage of 11 frames: head yaw" in summary
    # The sample is a still portrait animated in the picture plane: it never turns or nods.
    assert "turn your head" in summary and "nod" in summary


def test_coverage_advice_follows_the_ranges():
    from training.coverage import Coverage

    full = {"yaw_deg": [-12, 10], "pitch_deg": [-6, 6], "mouth_open": [0.0, 0.5], "eye_open": [0.02, 0.3],
            "brow_raise": [0.22, 0.42]}
    assert Coverage.measure(full, [10.0] * 20, [0.0] * 20).missing() == []
    calm = {**full, "mouth_open": [0.0, 0.2], "eye_open": [0.15, 0.3]}
    advice = Coverage.measure(calm, [10.0] * 18 + [1.0] * 2, [0.0] * 18 + [0.3] * 2).missing()
    assert advice[0].startswith("open your mouth wide") and advice[1].startswith("blink")
    assert len(advice) == 2  # 10% blurred, 10% at the edge: not yet worth a word ...
    advice = Coverage.measure(calm, [10.0] * 10 + [1.0] * 10, [0.3] * 20).missing()
    assert any("50% of the frames are blurred" in line for line in advice)  # ... half of them is
    assert any("near the picture's edge" in line for line in advice)


def test_a_face_at_the_edge_is_mirrored_in_and_counted(tmp_path):
    """A face cut by the picture's right edge: the crop's missing part is reflected, not streaked."""
    from models.alignment import Alignment
    from training.coverage import outside_share

    matrix = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert outside_share(matrix, (100, 50), 100) == pytest.approx(0.5)  # half the crop lies beyond x = 50
    assert outside_share(matrix, (100, 100), 100) == 0.0
    frame = np.random.default_rng(0).integers(0, 256, (100, 50, 3), np.uint8)
    crop = Alignment(matrix, 100).warp(frame, cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(crop[:, 50:52], frame[:, 48:46:-1])  # mirrored about the last column


def test_the_stored_appearance_photo_avoids_frames_cut_by_the_picture_edge(tmp_path):
    from tests.fakes import write_synthetic_dataset
    from training.export import choose_appearance

    data = write_synthetic_dataset(tmp_path / "data", train_frames=3, val_frames=1)
    manifest = json.loads((data / "manifest.json").read_text())
    profile = json.loads((data / "target_profile.json").read_text())
    train_ids = [frame["id"] for frame in manifest["frames"] if frame["split"] == "train"]
    nearest, _ = choose_appearance(data, manifest, profile)  # frames of older runs: no edge recorded
    for frame_id in train_ids:  # now the nearest-neutral frame ran off the picture, the others did not
        path = data / "frames" / f"{frame_id}.npz"
        with np.load(path) as frame:
            arrays = dict(frame)
        np.savez(path, **arrays, outside=np.float32(0.3 if frame_id == nearest else 0.0))
    chosen, crop = choose_appearance(data, manifest, profile)
    assert chosen != nearest and chosen in train_ids and crop.shape == (64, 64, 3)
