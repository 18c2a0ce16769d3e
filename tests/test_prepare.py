"""``reenact prepare`` on real footage: files, split, reruns and the errors a user meets."""

import json
import os
import stat

import cv2
import numpy as np
import pytest

from models.errors import UserError
from models.sketch import SKETCH_VERSION, render_sketch
from reenact import cli
from training.prepare import PrepareOptions, assign_splits, prepare_data

CLIP = "target/grid_s2_pwij3p.mpg"  # 75 frames; every 5th gives 15


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, request):
    shared_data = request.getfixturevalue("shared_data")
    out = tmp_path_factory.mktemp("data")
    report = prepare_data([shared_data / CLIP], out, PrepareOptions(size=128, every=5, credit="GRID test"))
    return out, report


def test_prepare_writes_frames_manifest_and_profile(prepared):
    out, report = prepared
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sketch_version"] == SKETCH_VERSION
    assert (manifest["size"], manifest["margin"], manifest["credit"]) == (128, 0.15, "GRID test")
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
    assert 0.0 <= low < 0.1 and high < 1.0  # a calm speaker: the mouth is nearly shut at rest


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


def test_rerun_reuses_frames_and_redoes_a_damaged_one(prepared, shared_data):
    out, _ = prepared
    manifest_before = (out / "manifest.json").read_text()
    damaged = out / "frames" / json.loads(manifest_before)["frames"][4]["id"]
    damaged = damaged.with_suffix(".npz")
    damaged.write_bytes(b"not an npz")
    report = prepare_data([shared_data / CLIP], out, PrepareOptions(size=128, every=5, credit="GRID test"))
    assert report.sources[0].frames_reused == 14
    assert report.sources[0].frames_with_face == 15
    assert (out / "manifest.json").read_text() == manifest_before
    with np.load(damaged, allow_pickle=False) as data:
        assert data["crop"].shape == (128, 128, 3)


def test_rerun_with_other_settings_is_refused(prepared, shared_data):
    out, _ = prepared
    with pytest.raises(UserError, match="size 128"):
        prepare_data([shared_data / CLIP], out, PrepareOptions(size=64, every=5))


def _noise_video(path, frames=6, size=96):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25, (size, size))
    assert writer.isOpened(), "OpenCV could not open an mp4 writer"
    generator = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(generator.integers(0, 256, (size, size, 3), dtype=np.uint8))
    writer.release()
    return path


def test_video_without_a_face_is_a_clear_error(tmp_path):
    video = _noise_video(tmp_path / "noise.mp4")
    with pytest.raises(UserError, match=r"no face found in any of 6 frames of noise\.mp4"):
        prepare_data([video], tmp_path / "data", PrepareOptions(size=64))


def test_faceless_video_beside_a_real_one_is_counted_as_skipped(tmp_path, shared_data):
    video = _noise_video(tmp_path / "noise.mp4", frames=30)
    report = prepare_data([video, shared_data / CLIP], tmp_path / "data", PrepareOptions(size=64, every=15))
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
