"""The broken-frame measure: real faces pass, broken ones do not; the contact sheet (own data)."""

import cv2
import numpy as np
import pytest

from evaluation.broken_frames import BrokenFrameMeasure, contact_sheet, thumbnail
from training.dataset import read_frame, read_manifest
from training.prepare import PrepareOptions, prepare_data


@pytest.fixture(scope="module")
def target(sample_video, tmp_path_factory):
    """A small target data set from the sample clip, and its real crops keyed by sketch."""
    out = tmp_path_factory.mktemp("target")
    prepare_data([sample_video], out, PrepareOptions(size=64, every=3))
    manifest = read_manifest(out)
    crops = {}
    for frame in manifest["frames"]:
        data = read_frame(out, frame["id"], ("crop", "sketch"))
        crops[data["sketch"].tobytes()] = data["crop"]
    return out, manifest, crops


def _faithful_generator(crops):
    """Draws the real face of each sketch, slightly soft: a generator that works."""
    return lambda sketch: cv2.GaussianBlur(crops[sketch.tobytes()], (3, 3), 0)


def test_real_faces_pass_and_broken_ones_are_caught(target):
    out, manifest, crops = target
    measure = BrokenFrameMeasure.from_data(out, _faithful_generator(crops), manifest)
    assert len(measure.references) == sum(frame["split"] == "train" for frame in manifest["frames"])
    assert measure.threshold > 0
    real = [crops[key] for key in list(crops)[-3:]]
    noise = np.random.default_rng(0).integers(0, 256, real[0].shape, dtype=np.uint8)
    bled = real[0].copy()
    bled[:, : bled.shape[1] // 2] = (200, 120, 40)  # the background colour across half the face
    boxed = real[1].copy()
    boxed[40:52, 24:40] = (40, 60, 110)  # a mouth drawn as a flat brown box: a small part of the face
    distances = [measure.distances(face) for face in real]
    assert not any(measure.broken(pair) for pair in distances)
    assert measure.distance(noise) > measure.threshold and measure.distance(bled) > measure.threshold
    box_whole, box_local = measure.distances(boxed)
    assert box_local > measure.local_threshold  # the local measure sees the box ...
    assert box_local / measure.local_threshold > box_whole / measure.threshold  # ... more plainly than the mean
    report = measure.report(distances + [measure.distances(noise)])
    assert report["broken_share"] == report["broken_share_local"] == 0.25
    assert report["distance_p50"] <= report["distance_p90"]


def test_a_generator_poor_everywhere_does_not_set_itself_a_lenient_level(target):
    out, manifest, crops = target
    good = BrokenFrameMeasure.from_data(out, _faithful_generator(crops), manifest)
    # Wax: every face smoothed hard and washed towards grey, far from every real crop.
    waxy = BrokenFrameMeasure.from_data(
        out, lambda sketch: cv2.addWeighted(cv2.GaussianBlur(crops[sketch.tobytes()], (0, 0), 6), 0.6,
                                            np.full_like(crops[sketch.tobytes()], 128), 0.4, 0), manifest)
    own_level = 2.3 * np.median(waxy.level[:, 0])
    assert waxy.threshold < 0.8 * own_level  # the cap, not its own faces, sets the bar
    report = waxy.report([waxy.distances(crops[key]) for key in list(crops)[-3:]])
    assert report["level_cap"] is not None and report["broken_threshold"] < own_level
    # Its own held-out faces now count as broken: the measure can no longer be fooled.
    assert np.mean(waxy.level[:, 0] > waxy.threshold) > 0.5
    # A working generator stays under the cap: its bar is its own level, as before.
    assert good.threshold == pytest.approx(2.3 * np.median(good.level[:, 0]))


def test_the_thumbnail_leaves_out_the_top_and_bottom_rows():
    face = np.zeros((256, 256, 3), np.uint8)
    face[:32] = 255  # only the top eighth differs
    assert thumbnail(face).shape == (48 * 64 * 3,) and thumbnail(face).max() == 0


def test_the_contact_sheet_puts_sixteen_drivers_above_their_faces():
    drivers = [np.full((50, 50, 3), index, np.uint8) for index in range(40)]
    faces = [np.full((60, 60, 3), 100 + index, np.uint8) for index in range(40)]
    sheet = contact_sheet(drivers, faces, broken=[index == 39 for index in range(40)], tile=32)
    assert sheet.shape == (4 * 32, 8 * 32, 3)  # two rows of eight pairs
    assert sheet[16, 16, 0] == 0 and sheet[48, 16, 0] == 100  # the first driver above its face
    assert sheet[4 * 32 - 16, 8 * 32 - 16, 0] == 139  # the last frame is the clip's last
    assert tuple(sheet[3 * 32 + 1, 7 * 32 + 1]) == (0, 0, 255)  # broken: framed red
    with pytest.raises(ValueError, match="equal"):
        contact_sheet(drivers[:3], faces[:2])
