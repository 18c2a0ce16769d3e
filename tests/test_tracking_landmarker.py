"""The live loop's landmark stage: the face landmarker's own networks on LiteRT, tracking, against the Tasks API."""

import numpy as np
import pytest

from models import face_topology as topology
from models.errors import UserError
from models.landmarker import LIVE_OPTIONS, FaceLandmarker, LandmarkerOptions
from models.tracking_landmarker import BlendshapeNetwork, TrackingLandmarker, detector_anchors, live_landmarker
from realtime.stages import PipelineOptions
from tests.fakes import read_sample

FRAMES = 90  # three seconds of the sample: it opens the mouth, blinks and turns the head


@pytest.fixture(scope="module")
def clip():
    return read_sample(FRAMES)


def _points(landmarker, images, first_ms=0):
    return [landmarker.detect(image, first_ms + round(index * 1000 / 30)) for index, image in enumerate(images)]


def test_its_points_are_the_tasks_apis_on_every_frame(clip):
    with FaceLandmarker(LIVE_OPTIONS) as tasks, TrackingLandmarker() as ours:
        theirs, mine = _points(tasks, clip), _points(ours, clip)
        assert ours.detector_runs == 1  # found once, then tracked
    assert all(face is not None for face in theirs) and all(face is not None for face in mine)
    deviations = [np.linalg.norm(a.points[:, :2] - b.points[:, :2], axis=1).mean() / topology.inter_ocular(a.points)
                  for a, b in zip(theirs, mine)]
    assert np.mean(deviations) <= 0.005 and np.max(deviations) <= 0.01  # of the inter-ocular distance
    # Depth is on the same scale too (the sketch ignores it, the shape space does not).
    depth = np.mean([np.abs(a.points[:, 2] - b.points[:, 2]).mean() for a, b in zip(theirs, mine)])
    assert depth < 0.01 * np.mean([topology.inter_ocular(a.points) for a in theirs])
    assert mine[0].pose is None and mine[0].blendshapes == {}


def test_a_lost_face_is_found_again_by_the_detector(clip):
    blank = np.full_like(clip[0], 90)
    frames = clip[:10] + [blank] * 3 + clip[10:20]
    with TrackingLandmarker() as ours:
        faces = _points(ours, frames)
        # The first frame; not the first blank (tracked there, the face is found gone); the
        # other two blanks (nothing to track, nothing found); the face's return.
        assert ours.detector_runs == 1 + 2 + 1
    assert all(face is not None for face in faces[:10] + faces[13:])
    assert faces[10:13] == [None, None, None]


def test_the_detector_finds_the_face_where_the_tasks_api_does(clip):
    with FaceLandmarker(LIVE_OPTIONS) as tasks, TrackingLandmarker() as ours:
        first_theirs, first_mine = tasks.detect(clip[0], 0), ours.detect(clip[0], 0)  # both start from a detection
    distance = np.linalg.norm(first_theirs.points[:, :2] - first_mine.points[:, :2], axis=1).mean()
    assert distance / topology.inter_ocular(first_theirs.points) <= 0.01
    assert detector_anchors().shape == (896, 2)


def test_points_near_finds_a_face_where_it_is_told_to_look_and_leaves_the_tracking_alone(clip):
    with FaceLandmarker(LIVE_OPTIONS) as tasks, TrackingLandmarker() as ours:
        truth = tasks.detect(clip[40], 0).points
        iod = topology.inter_ocular(truth)
        tracked = [ours.detect(image, round(index * 1000 / 30)) for index, image in enumerate(clip[:2])]
        found = ours.points_near(clip[40], truth + (0.2 * iod, 0.1 * iod, 0.0))  # told roughly where
        assert ours.points_near(np.full_like(clip[40], 90), truth) is None  # no face there
        after = ours.detect(clip[2], round(2 * 1000 / 30))  # tracking goes on from frame 1, not 40
        assert ours.detector_runs == 1
    assert np.linalg.norm(found[:, :2] - truth[:, :2], axis=1).mean() / iod <= 0.02
    assert np.linalg.norm(after.points[:, :2] - tracked[1].points[:, :2], axis=1).mean() / iod <= 0.05


def test_bad_input_and_use_after_close_are_refused(clip):
    landmarker = TrackingLandmarker()
    with pytest.raises(ValueError, match="expected \\(H, W, 3\\) uint8"):
        landmarker.detect(clip[0].astype(np.float32))
    landmarker.close()
    with pytest.raises(RuntimeError, match="after close"):
        landmarker.detect(clip[0])
    with pytest.raises(ValueError, match="num_threads"):
        TrackingLandmarker(num_threads=0)


def test_the_landmark_stage_is_chosen_by_name():
    with live_landmarker() as default, live_landmarker("tasks") as tasks:
        assert isinstance(default, TrackingLandmarker) and isinstance(tasks, FaceLandmarker)
    with pytest.raises(UserError, match="got --landmarker 'mediapipe', expected litert or tasks"):
        live_landmarker("mediapipe")
    with pytest.raises(UserError, match="got --landmarker"):
        PipelineOptions(landmarker="mediapipe")


def test_the_live_stage_frames_the_face_by_the_detector_in_every_frame_as_prepare_does(clip):
    # prepare reads the target's footage with the Tasks API looking for two faces, so its detector
    # frames every frame; the live stage reads the driver the same way, not in the tracked region.
    image_mode = LandmarkerOptions(max_faces=1, pose=False, blendshapes=False, video_mode=False)
    with FaceLandmarker(image_mode) as tasks, live_landmarker() as live, TrackingLandmarker(smooth=False) as tracking:
        truth, framed, tracked = (_points(landmarker, clip) for landmarker in (tasks, live, tracking))
        assert live.detector_runs == len(clip) and tracking.detector_runs == 1

    def deviation(faces):
        return np.mean([np.linalg.norm(face.points[:, :2] - true.points[:, :2], axis=1).mean()
                        / topology.inter_ocular(true.points) for face, true in zip(faces, truth)])
    assert deviation(framed) <= 0.002  # of the inter-ocular distance
    assert deviation(tracked) > 5 * deviation(framed)


def test_the_live_stage_leaves_the_graphs_smoothing_to_the_loop_and_follows_a_jump_at_once(clip):
    still, moved = clip[0], np.roll(clip[0], 12, axis=1)  # the face 12 px to the right, in one frame
    frames = [still] * 10 + [moved]
    with live_landmarker() as live, TrackingLandmarker() as smoothed:
        raw, graphs = _points(live, frames), _points(smoothed, frames)
    shift = [float(np.median(faces[-1].points[:, 0] - faces[-2].points[:, 0])) for faces in (raw, graphs)]
    assert shift[0] == pytest.approx(12.0, abs=1.0)  # the whole jump, at once
    assert shift[1] < shift[0] - 0.5  # the graph's filter holds part of it back


def test_the_blendshape_network_on_points_gives_the_tasks_apis_scores(clip):
    # On the points the Tasks API found, its own scores, name for name; on a face the loop moved
    # (here the mouth opened by hand), what MediaPipe would read of it.
    image_mode = LandmarkerOptions(max_faces=1, video_mode=False)
    network = BlendshapeNetwork()
    with FaceLandmarker(image_mode) as tasks:
        faces = [tasks.detect(image) for image in clip[::15]]
    for face in faces:
        mine = network.scores(face.points)  # in the frame's pixels
        assert set(face.blendshapes) == set(mine)
        assert max(abs(mine[name] - score) for name, score in face.blendshapes.items()) < 1e-3
    points = faces[0].points
    opened = points.copy()
    opened[list(topology.LOWER_LIP + (152,)), 1] += 0.3 * topology.inter_ocular(points)  # the jaw dropped
    assert network.scores(opened)["jawOpen"] > network.scores(points)["jawOpen"] + 0.2
    with pytest.raises(ValueError, match="NaN"):
        network.scores(np.full((478, 2), np.nan))


def test_the_live_stage_keeps_the_face_it_follows_when_a_more_confident_one_comes_in(clip):
    import cv2

    def face(image, side):  # the sample's face, cut square and scaled to side x side
        return cv2.resize(image[30:180, 98:248], (side, side))

    def frame(image, second):
        canvas = np.full((220, 380, 3), 90, np.uint8)
        canvas[30:190, :160] = face(image, 160)  # the face followed, on the left
        if second:
            canvas[:, 160:] = face(image, 220)  # a second, larger one comes in on the right
        return canvas

    frames = [frame(clip[0], False)] + [frame(image, True) for image in clip[:10]]
    with TrackingLandmarker(smooth=False) as plain:
        assert plain.detect(frames[1]).points[:, 0].mean() > 160  # the detector alone takes the larger face
    with live_landmarker() as live:
        faces = _points(live, frames)
        assert live.detector_runs == len(frames)
    assert all(face is not None and face.points[:, 0].max() < 160 for face in faces)  # still the first face
