"""The head turn and expression carried by warping the drawn face, and the measure of motion."""

import cv2
import numpy as np
import pytest

from evaluation.motion import BLENDSHAPES, compare_motion, motion_sample
from models import face_topology as topology
from models.face_warp import ThinPlateSpline, area_change, coarse_map, warp_maps
from models.head_pose import RIGID_POINTS, angles, fit_rotation, pose_basis, rotation
from realtime.motion_transfer import (
    FLAT_PICTURE_GAIN,
    MIN_AREA_CHANGE,
    MIN_LID_GAP,
    HeadPose,
    MotionOptions,
    MotionTransfer,
)
from realtime.mouth_inside import DARK, MouthInside
from realtime.retarget import Retargeter
from tests.fakes import ListSource

# The aligned points stand for the frame's too, in the middle of a large frame: there the face is far from
# MediaPipe's camera, and a turn of the points reads as itself (in a 256-pixel frame, 0.9 of it).
FRAME = 4096
SQUARE = (FRAME, FRAME)


def _framed(points: np.ndarray) -> np.ndarray:
    framed = np.array(points, np.float64)
    framed[:, :2] += (FRAME - 256) / 2
    return framed


@pytest.fixture(scope="module")
def shipped_metadata():
    """The shipped generator's metadata: its target's neutral landmarks (with depth) and photo."""
    from models.default_model import generator_path
    from models.generator_contract import load_generator_file

    return load_generator_file(generator_path(None))[1]


# ------------------------------------------------------------------ the warp


def test_the_spline_passes_through_its_points_and_reproduces_an_affine_exactly():
    rng = np.random.default_rng(0)
    anchors = rng.uniform(10, 246, (40, 2))
    values = anchors + rng.normal(0, 4, anchors.shape)
    np.testing.assert_allclose(ThinPlateSpline(anchors, values, 256.0)(anchors), values, atol=0.05)
    affine = np.array([[1.04, 0.05, 3.0], [-0.03, 0.97, -2.0]])
    moved = anchors @ affine[:, :2].T + affine[:, 2]
    map_x, map_y = warp_maps(anchors, moved, (256, 256))
    inverse = cv2.invertAffineTransform(affine)
    for x, y in ((100, 120), (37, 201), (250, 3)):
        np.testing.assert_allclose((map_x[y, x], map_y[y, x]), inverse @ (x, y, 1), atol=0.02)


def test_a_dot_lands_where_its_point_is_sent_and_an_affine_after_is_folded_in():
    image = np.zeros((128, 128, 3), np.uint8)
    cv2.circle(image, (50, 60), 3, (255, 255, 255), -1)
    border = np.array([[0, 0], [127, 0], [0, 127], [127, 127], [64, 0], [0, 64], [127, 64], [64, 127]], float)
    source = np.vstack([[[50, 60], [80, 60], [64, 90]], border])
    destination = np.vstack([[[58, 54], [80, 60], [64, 90]], border])

    def dot(picture):
        ys, xs = np.nonzero(picture[..., 0] > 128)
        return xs.mean(), ys.mean()

    def warped(after=None):
        return cv2.remap(image, *warp_maps(source, destination, (128, 128), after), cv2.INTER_LINEAR)

    np.testing.assert_allclose(dot(warped()), (58, 54), atol=0.6)
    shift = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, -5.0]])
    np.testing.assert_allclose(dot(warped(shift)), (68, 49), atol=0.6)


def test_area_change_reads_a_squeeze_as_more_than_1_and_a_fold_as_negative():
    corners = np.array([[0, 0], [127, 0], [0, 127], [127, 127], [64, 64]], float)
    squeezed = (corners - 64) * 0.5 + 64  # the picture shrunk to half its width and height
    assert np.allclose(area_change(coarse_map(corners, squeezed, (128, 128))), 4.0, atol=1e-3)
    mirrored = corners * (-1, 1) + (127, 0)
    assert area_change(coarse_map(corners, mirrored, (128, 128))).max() < 0


def test_a_warp_that_would_fold_the_mouth_is_cut_back_until_it_does_not(shipped_metadata):
    drawn = shipped_metadata.neutral.astype(np.float64)
    wanted = drawn.copy()
    wanted[list(topology.LOWER_LIP), 1] -= 30.0  # the lower lip far up through the upper one
    motion = _calibrated(shipped_metadata, MotionOptions(max_carry=0.5))
    warp = motion.warp(drawn, wanted)
    assert (motion.frames, motion.fallbacks) == (1, 1)
    assert area_change(np.dstack([warp.map_x, warp.map_y])[::4, ::4]).min() > MIN_AREA_CHANGE  # what is sent
    motion.warp(drawn, drawn)
    assert (motion.frames, motion.fallbacks) == (2, 1)


def test_a_face_that_admits_no_warp_is_only_moved_in_the_plane(shipped_metadata):
    flat = np.zeros((478, 3))  # every point on one spot: no spline passes through it
    motion = _calibrated(shipped_metadata)
    assert motion.warp(flat, flat) is None and motion.fallbacks == 1


def test_the_warp_refuses_point_sets_that_do_not_pair():
    with pytest.raises(ValueError, match="expected equal"):
        ThinPlateSpline(np.zeros((5, 2)), np.zeros((4, 2)), 1.0)


# ------------------------------------------------------------------ head pose


@pytest.mark.parametrize("yaw, pitch, roll", [(15, -8, 0), (-25, 10, 5), (0, 0, 0)])
def test_angles_undo_rotation_and_a_fit_recovers_a_turn(yaw, pitch, roll):
    assert angles(rotation(yaw, pitch, roll)) == pytest.approx((yaw, pitch, roll), abs=1e-9)
    rng = np.random.default_rng(1)
    reference = rng.normal(0, 50, (30, 3))
    turned = 1.1 * reference @ rotation(yaw, pitch, roll).T + (4, -2, 7)
    found, scale = fit_rotation(reference, turned)
    assert angles(found) == pytest.approx((yaw, pitch, roll), abs=1e-6) and scale == pytest.approx(1.1)


def test_a_weighted_fit_ignores_a_point_of_no_weight():
    rng = np.random.default_rng(2)
    reference = rng.normal(0, 50, (12, 3))
    turned = reference @ rotation(10, 5).T
    turned[0] += (40.0, -60.0, 20.0)  # one point moved on its own, as a jaw moves
    weights = np.ones(12)
    weights[0] = 0.0
    assert angles(fit_rotation(reference, turned, weights)[0])[:2] == pytest.approx((10, 5), abs=1e-6)
    assert abs(angles(fit_rotation(reference, turned)[0])[1] - 5) > 1.0  # unweighted, the moved point pulls


def test_the_pose_basis_is_mediapipes_own_and_holds_the_jaws_corners():
    basis, weights = pose_basis()
    assert len(basis) == len(weights) >= 20 and (weights > 0).all()
    assert {136, 365} <= set(basis)  # the jaw's corners: why a yawn reads as a nod
    assert max(basis) < 468  # mesh points, no iris


def test_a_jaw_drop_nods_the_turn_but_stays_an_expression_in_the_frontal_face(shipped_metadata):
    neutral = shipped_metadata.neutral.astype(np.float64)
    pose = HeadPose(calibrate_frames=1)
    pose(neutral, _framed(neutral), SQUARE)
    yawn = neutral.copy()
    jaw = [136, 365, 152, 148, 377, *topology.LOWER_LIP]
    yawn[jaw, 1] += 0.3 * topology.inter_ocular(neutral)
    turn, frontal = pose(yawn, _framed(yawn), SQUARE)
    assert abs(angles(turn)[1]) > 0.5  # read as MediaPipe reads it: a nod
    rigid = list(RIGID_POINTS)
    np.testing.assert_allclose(frontal[rigid], neutral[rigid], atol=1e-6)  # the skull did not move
    assert np.mean(frontal[jaw, 1] - neutral[jaw, 1]) == pytest.approx(0.3 * topology.inter_ocular(neutral), rel=1e-6)


def test_head_pose_calibrates_then_reads_the_turn_and_takes_it_out(shipped_metadata):
    neutral = shipped_metadata.neutral.astype(np.float64)
    pose = HeadPose(calibrate_frames=3)
    for _ in range(3):
        turn, frontal = pose(neutral, _framed(neutral), SQUARE)
        np.testing.assert_allclose(turn, np.eye(3), atol=1e-9)
    centre = neutral[list(RIGID_POINTS)].mean(0)
    turned = (neutral - centre) @ rotation(12, -6).T + centre + (5, -3, 0)
    turned[list(topology.LOWER_LIP), 1] += 4.0  # an expression on top of the turn
    turn, frontal = pose(turned, _framed(turned), SQUARE)
    assert angles(turn)[:2] == pytest.approx((12, -6), abs=0.5)
    rigid = list(RIGID_POINTS)
    np.testing.assert_allclose(frontal[rigid], neutral[rigid], atol=0.5)
    lower_lip = list(topology.LOWER_LIP)
    assert np.mean(frontal[lower_lip, 1] - neutral[lower_lip, 1]) == pytest.approx(4.0, abs=1.0)


# ------------------------------------------------------------------ motion transfer


def _calibrated(metadata, options=MotionOptions(), turn=(0.0, 0.0)) -> MotionTransfer:
    neutral = metadata.neutral.astype(np.float64)
    motion = MotionTransfer(metadata.input_size, metadata.neutral, options, calibrate_frames=1)
    motion.frontalise(neutral, _framed(neutral), SQUARE)
    centre = neutral[list(RIGID_POINTS)].mean(0)
    turned = (neutral - centre) @ rotation(*turn).T + centre
    motion.frontalise(turned, _framed(turned), SQUARE)
    return motion


def test_the_expression_carried_is_bounded_keeps_the_lids_apart_and_follows_its_gain(shipped_metadata):
    drawn = shipped_metadata.neutral.astype(np.float64)
    wanted = drawn.copy()
    wanted[:, 1] += 40.0  # far beyond the bound
    limit = MotionOptions().max_carry * topology.inter_ocular(drawn)
    gap = MIN_LID_GAP * topology.inter_ocular(drawn)
    moved = _calibrated(shipped_metadata).destination(drawn, wanted)
    shift = np.linalg.norm(moved[:, :2] - drawn[:, :2], axis=1)
    assert shift.max() == pytest.approx(limit, rel=1e-6)
    assert shift[[topology.RIGHT_EYE_OUTER, topology.LEFT_IRIS_CENTER]].max() < 1e-9  # corners and gaze stay
    for upper, lower in ((topology.RIGHT_EYE_UPPER, topology.RIGHT_EYE_LOWER),
                         (topology.LEFT_EYE_UPPER, topology.LEFT_EYE_LOWER)):
        assert moved[lower, 1] - moved[upper, 1] >= gap - 1e-9  # never nearer than the gap, let alone crossed
    # A blink the generator drew open: the upper lid comes down to the gap above the lower
    # one, by the driver's own motion (not amplified), and the lower lid does not rise.
    blink = drawn.copy()
    blink[topology.RIGHT_EYE_UPPER, 1] = drawn[topology.RIGHT_EYE_LOWER, 1] + 3.0  # pushed through
    blink[topology.RIGHT_EYE_LOWER, 1] -= 2.0
    closed = _calibrated(shipped_metadata).destination(drawn, blink)
    assert closed[topology.RIGHT_EYE_UPPER, 1] == pytest.approx(drawn[topology.RIGHT_EYE_LOWER, 1] - gap)
    assert closed[topology.RIGHT_EYE_LOWER, 1] == pytest.approx(drawn[topology.RIGHT_EYE_LOWER, 1], abs=1e-6)
    half = drawn.copy()
    half[topology.RIGHT_EYE_UPPER, 1] += 2.0
    assert _calibrated(shipped_metadata).destination(drawn, half)[topology.RIGHT_EYE_UPPER, 1] == pytest.approx(
        drawn[topology.RIGHT_EYE_UPPER, 1] + 2.0)
    still = _calibrated(shipped_metadata, MotionOptions(expression_gain=0.0)).destination(drawn, wanted)
    np.testing.assert_allclose(still, drawn)


def test_a_carried_mouth_opening_shows_a_dark_inside_and_a_drawn_one_does_not(shipped_metadata):
    photo, drawn = shipped_metadata.appearance(), shipped_metadata.neutral.astype(np.float64)
    drawn[list(topology.LOWER_LIP), 1] += 4.0  # the generator drew the mouth a little open
    motion = _calibrated(shipped_metadata)
    assert motion.warp(drawn, drawn).mouth_shade is None  # nothing carried: the generator's mouth as drawn
    wanted = drawn.copy()
    wanted[list(topology.LOWER_LIP), 1] += 8.0  # the jaw dropped 8 px further than drawn
    warp = motion.warp(drawn, wanted)
    moved = motion.destination(drawn, wanted)
    centre = np.round((moved[topology.INNER_LIP_UPPER, :2] + moved[topology.INNER_LIP_LOWER, :2]) / 2).astype(int)
    left, top = warp.shade_at
    assert warp.mouth_shade[centre[1] - top, centre[0] - left] > 0.5
    assert top > moved[topology.RIGHT_EYE_LOWER, 1] and warp.mouth_shade.shape[1] < 128  # the mouth's box alone
    shaded, plain = warp.apply(photo), cv2.remap(photo, warp.map_x, warp.map_y, cv2.INTER_LINEAR)
    assert shaded[centre[1], centre[0]].sum() < 0.8 * plain[centre[1], centre[0]].sum()
    np.testing.assert_array_equal(shaded[:100], cv2.remap(photo, warp.map_x, warp.map_y, cv2.INTER_LINEAR,
                                                           borderMode=cv2.BORDER_REPLICATE)[:100])


def _shut(points: np.ndarray) -> np.ndarray:
    """``points`` with the lower lip raised until the inner lips touch (a tenth of a pixel apart)."""
    shut = points.copy()
    shut[list(topology.LOWER_LIP), 1] -= shut[topology.INNER_LIP_LOWER, 1] - shut[topology.INNER_LIP_UPPER, 1] - 0.1
    return shut


def test_a_mouth_drawn_shut_opens_whole_when_carried_and_stays_shut_when_not(shipped_metadata):
    # At a grin's onset the generator still draws shut lips while the driver's are apart: the
    # spline through two points a tenth of a pixel apart, pulled ten apart, used to fold, and
    # the whole carry was dropped (the output kept a shut mouth while the driver grinned).
    drawn = _shut(shipped_metadata.neutral.astype(np.float64))
    wanted = drawn.copy()
    wanted[list(topology.LOWER_LIP), 1] += 10.0
    motion = _calibrated(shipped_metadata)
    warp = motion.warp(drawn, wanted)
    assert (motion.frames, motion.fallbacks) == (1, 0)
    assert area_change(np.dstack([warp.map_x, warp.map_y])[::4, ::4]).min() > MIN_AREA_CHANGE
    motion.warp(drawn, drawn)  # shut and left shut: nothing parted to squeeze
    assert (motion.frames, motion.fallbacks) == (2, 0)


def test_the_widest_mouth_is_the_targets_own_and_the_shipped_generator_draws_teeth_in_it(shipped_metadata):
    from models.default_model import generator_path
    from models.sketch import render_sketch
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner

    widest = Retargeter.for_model(shipped_metadata).widest_mouth()
    low, high = shipped_metadata.expression_ranges["mouth_open"]
    assert 0.8 * high < topology.mouth_opening(widest) <= high + 1e-3  # clamped into his shapes, still near his widest
    runner = GeneratorRunner.from_file(GeneratorOptions(generator_path(None), num_threads=1))
    inside = MouthInside(runner.generate(render_sketch(widest, runner.size)), widest)
    # Just under the upper inner lip, his upper teeth: far lighter than the dark beyond the drawn opening.
    x, y = np.round(widest[topology.INNER_LIP_UPPER, :2] + (0, 3)).astype(int)
    assert inside.image[y, x].astype(int).sum() > 2 * sum(DARK)


def test_the_mouth_inside_hangs_from_the_upper_lip_at_the_drawn_scale(shipped_metadata):
    points = Retargeter.for_model(shipped_metadata).widest_mouth().astype(np.float64)
    y, x = np.mgrid[:256, :256]
    image = np.dstack([x, y, np.full_like(x, 128)]).astype(np.uint8)  # each pixel's colour says where it is
    inside = MouthInside(image, points)
    centre = points[list(topology.LIPS_INNER), :2].mean(0)
    moved = points.copy()
    moved[:, :2] = (points[:, :2] - centre) * 1.5 + centre + (7.0, 5.0)  # the mouth wider and lower
    fill = inside.fill(moved, 60, 100, 140, 120)
    middle = (moved[topology.INNER_LIP_UPPER, :2] + moved[topology.INNER_LIP_LOWER, :2]) / 2
    sx, sy = np.round(middle).astype(int)
    expected = (middle - (7.0, 5.0) - centre) / 1.5 + centre  # the drawn mouth's middle
    np.testing.assert_allclose(fill[sy - 100, sx - 60, :2], expected, atol=1.5)
    # Twice as deep below the upper lip as the drawn opening went: the dark beyond it.
    opening = moved[topology.INNER_LIP_LOWER, 1] - moved[topology.INNER_LIP_UPPER, 1]
    deep = np.round(moved[topology.INNER_LIP_UPPER, :2] + (0, 2 * opening)).astype(int)
    assert tuple(fill[deep[1] - 100, deep[0] - 60]) == DARK


def test_the_head_turn_is_scaled_by_its_gain_and_held_at_the_bound(shipped_metadata):
    # Given FLAT_PICTURE_GAIN times over: MediaPipe reads a flat picture's turn as less than it is.
    assert _calibrated(shipped_metadata, turn=(10, -5)).head_angles() == pytest.approx(
        (10 * FLAT_PICTURE_GAIN, -5 * FLAT_PICTURE_GAIN), abs=0.3)
    assert _calibrated(shipped_metadata, MotionOptions(pose_gain=0.5), (10, -5)).head_angles() == pytest.approx(
        (5 * FLAT_PICTURE_GAIN, -2.5 * FLAT_PICTURE_GAIN), abs=0.3)
    assert _calibrated(shipped_metadata, turn=(40, 30)).head_angles() == pytest.approx((25, 20), abs=1e-6)
    frontal = _calibrated(shipped_metadata, MotionOptions(pose_gain=0.0), (20, 10))
    drawn = shipped_metadata.neutral.astype(np.float64)
    np.testing.assert_allclose(frontal.destination(drawn, drawn), drawn)


def test_facial_pose_is_mediapipes_facial_transformation_matrix(landmarker_image_mode, sample_images):
    from models.head_pose import facial_pose

    flip = np.diag([1.0, -1.0, -1.0])  # MediaPipe's axes (y up, z towards the camera) and the image's
    for image in sample_images[:3]:
        face = landmarker_image_mode.detect(image)
        height, width = image.shape[:2]
        mine = facial_pose(face.points, width, height)
        np.testing.assert_allclose(flip @ mine @ flip, np.asarray(face.pose)[:3, :3] / np.linalg.norm(
            np.asarray(face.pose)[:3, 0]), atol=1e-3)
        # Where the face sits in the frame changes the reading: perspective, as MediaPipe has it.
        shifted = face.points + (0.0, 0.3 * height, 0.0)
        assert abs(angles(facial_pose(shifted, width, height))[1] - angles(mine)[1]) > 1.0


@pytest.fixture(scope="module")
def landmarker_image_mode():
    from models.landmarker import FaceLandmarker, LandmarkerOptions

    with FaceLandmarker(LandmarkerOptions(video_mode=False)) as landmarker:
        yield landmarker


def test_a_warped_face_turns_as_a_real_landmarker_sees_it(shipped_metadata, landmarker_image_mode):
    """The shipped target's own photo, turned 15 degrees by the warp: MediaPipe finds it turned."""
    photo, drawn = shipped_metadata.appearance(), shipped_metadata.neutral.astype(np.float64)
    motion = _calibrated(shipped_metadata, turn=(15, 0))
    turned = motion.warp(drawn, drawn).apply(photo)

    def read(image):
        face = landmarker_image_mode.detect(cv2.resize(image, (512, 512), interpolation=cv2.INTER_CUBIC))
        assert face is not None
        return face

    before, after = read(photo), read(turned)
    rigid = list(RIGID_POINTS)
    found, _ = fit_rotation(before.points[rigid].astype(np.float64), after.points[rigid].astype(np.float64))
    assert 8.0 <= angles(found)[0] <= 20.0  # a warp of a flat picture turns less than its points: about 0.7-1x
    # MediaPipe's own head pose moves too, in its own sign convention
    assert abs(motion_sample(after)["yaw"] - motion_sample(before)["yaw"]) >= 7.0


# ------------------------------------------------------------------ the measure


def _sample(yaw=0.0, jaw=0.0, smile=0.0):
    sample = {"yaw": yaw, "pitch": 0.0, "roll": 0.0, **{name: 0.0 for name in BLENDSHAPES}}
    sample.update(jawOpen=jaw, mouthSmileLeft=smile, mouthSmileRight=smile)
    return sample


def test_compare_motion_reports_gain_correlation_and_error_where_the_driver_moves():
    t = np.linspace(0, 4 * np.pi, 120)
    driver = [_sample(yaw=20 * np.sin(x), jaw=0.4 * (1 + np.sin(x)), smile=0.01 * np.sin(x)) for x in t]
    output = [_sample(yaw=20 * np.sin(x) + 3, jaw=0.2 * (1 + np.sin(x)), smile=0.0) for x in t]
    output[5] = None  # a frame where the output's face was not found
    report = compare_motion(driver, output, neutral_frames=1)
    yaw, jaw = report["measures"]["yaw"], report["measures"]["jawOpen"]
    assert yaw["moves"] and yaw["gain"] == pytest.approx(1.0) and yaw["corr"] == pytest.approx(1.0)
    assert yaw["paired"] == 119 and yaw["mae"] == pytest.approx(0.0, abs=1e-6)  # the offset is the neutral's
    assert jaw["gain"] == pytest.approx(0.5) and jaw["mae"] > 0.1
    assert not report["measures"]["mouthSmileLeft"]["moves"]  # below the floor: not measured
    assert report["summary"]["blendshape_gain_p50"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="as many"):
        compare_motion(driver, output[:-1])


# ------------------------------------------------------------------ in the loop


def test_the_front_warps_the_face_and_the_window_keys_turn_it_down_to_the_in_plane_motion(sample_images):
    """With both gains stepped to 0 (the p and e keys) the face is moved as before: roll, shift, scale only."""
    from models.default_model import generator_path
    from models.tracking_landmarker import live_landmarker
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner
    from realtime.pipeline import build_stages
    from realtime.retarget import RetargetOptions
    from realtime.sinks import Controls
    from realtime.stages import Packet, PipelineOptions
    from realtime.stats import RunStats

    runner = GeneratorRunner.from_file(GeneratorOptions(generator_path(None)))
    controls, stats = Controls("target"), RunStats()
    options = PipelineOptions(retarget=RetargetOptions(calibrate_frames=3))
    with ListSource(sample_images[:8]) as source, live_landmarker() as landmarker:
        front, back = build_stages(runner, landmarker, stats, options, controls)
        packets = [front(Packet(frame)) for frame in source]
        assert all(packet.face_warp is not None for packet in packets) and "motion" in stats.summary()["stages_ms"]
        for which in ("pose", "pose", "expression", "expression"):
            controls.cycle_motion(which)
        assert controls.motion_scales() == (0.0, 0.0)
        for packet in packets:  # the same frames again, calibrated now
            packet = back.generate(front(Packet(packet.frame)))
            # The face the driver asks for is kept on the packet; the warp sends the drawn points nowhere.
            assert packet.asked.shape == packet.target_aligned.shape == (478, 3)
            np.testing.assert_allclose(packet.face_warp.moved, packet.target_aligned, atol=1e-4)
            moved = packet.face_warp.apply(packet.generated)
            in_plane = cv2.warpAffine(packet.generated, packet.head_motion, (runner.size, runner.size),
                                      flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            assert np.abs(moved.astype(int) - in_plane).mean() < 0.5


def test_a_recalibration_keeps_the_old_neutral_until_the_new_one_is_complete(shipped_metadata):
    neutral = shipped_metadata.neutral.astype(np.float64)
    centre = neutral[list(RIGID_POINTS)].mean(0)
    turned = (neutral - centre) @ rotation(10, 0).T + centre
    pose = HeadPose(calibrate_frames=2)
    pose(neutral, _framed(neutral), SQUARE), pose(neutral, _framed(neutral), SQUARE)
    pose.recalibrate()
    assert angles(pose(turned, _framed(turned), SQUARE)[0])[0] == pytest.approx(10, abs=0.1)  # the old neutral still
    pose(turned, _framed(turned), SQUARE)  # the second of two: the turned face is the neutral now
    assert angles(pose(turned, _framed(turned), SQUARE)[0])[0] == pytest.approx(0, abs=0.1)


def test_a_brow_rises_at_most_so_far_above_its_lid_and_a_frown_is_left_alone(shipped_metadata):
    from realtime.motion_transfer import MAX_BROW_RISE

    neutral = shipped_metadata.neutral.astype(np.float64)
    iod = topology.inter_ocular(neutral)
    brows, lid = list(topology.LEFT_BROW_UPPER), topology.LEFT_EYE_UPPER
    most = MAX_BROW_RISE * (neutral[lid, 1] - neutral[brows, 1])  # each point's own bound
    assert np.all((0.08 * iod < most) & (most < 0.4 * iod))  # between the cases below
    transfer = _calibrated(shipped_metadata, MotionOptions())
    for shift, risen in ((-0.035, 0.07 * iod),  # raised a little: amplified twice, whole
                         (-0.25, most),  # raised far: held at the bound
                         (0.03, -0.06 * iod)):  # lowered (a frown): amplified, not bounded
        wanted = neutral.copy()
        wanted[brows, 1] += shift * iod
        moved = transfer.destination(neutral, wanted)
        assert moved[lid, 1] == pytest.approx(neutral[lid, 1])
        np.testing.assert_allclose(neutral[brows, 1] - moved[brows, 1], risen, atol=1e-6)


def test_a_raised_brow_stretches_the_skin_above_the_eye_evenly_and_the_fold_opens_with_the_lid(shipped_metadata):
    neutral = shipped_metadata.neutral.astype(np.float64)
    iod = topology.inter_ocular(neutral)
    brows, lid, folds = list(topology.LEFT_BROW_UPPER), topology.LEFT_EYE_UPPER, list(topology.LEFT_LID_FOLD)
    middle = len(folds) // 2
    column = int(round(neutral[lid, 0]))
    transfer = _calibrated(shipped_metadata, MotionOptions())

    raised = neutral.copy()
    raised[brows, 1] -= 0.25 * iod  # raised far: the brows rise to their bound, the lids stay
    moved = transfer.destination(neutral, raised)
    share = (neutral[lid, 1] - neutral[folds, 1]) / (neutral[lid, 1] - neutral[brows, 1])
    np.testing.assert_allclose(moved[folds, 1] - neutral[folds, 1], share * (moved[brows, 1] - neutral[brows, 1]))
    warp = transfer.warp(neutral, raised)
    ys = np.array([moved[lid, 1], moved[folds[middle], 1], moved[brows[middle], 1]])
    drawn = np.interp(ys, np.arange(warp.map_y.shape[0]), warp.map_y[:, column])  # where each row comes from
    lid_band = (drawn[0] - drawn[1]) / (ys[0] - ys[1])  # drawn height per output pixel, lid to fold
    skin_band = (drawn[1] - drawn[2]) / (ys[1] - ys[2])  # fold to brow
    assert lid_band == pytest.approx(skin_band, rel=0.15)  # evenly, where the spline alone stretched the lid most

    wide = neutral.copy()
    wide[list(topology.LEFT_UPPER_LID), 1] -= 0.05 * iod  # eyes wide: the lid opens under a still brow,
    moved = transfer.destination(neutral, wide)  # and the fold goes with it, less its share
    opened = moved[lid, 1] - neutral[lid, 1]
    assert opened < -0.04 * iod
    np.testing.assert_allclose(moved[folds, 1] - neutral[folds, 1], (1.0 - share) * opened, atol=1e-9)


def test_the_swap_carries_less_than_re_enactment_and_its_brows_unamplified(shipped_metadata):
    from realtime.reenact_swap_stages import SWAP_MOTION

    neutral = shipped_metadata.neutral.astype(np.float64)
    iod = topology.inter_ocular(neutral)
    brows = list(topology.RIGHT_BROW_UPPER + topology.LEFT_BROW_UPPER)
    wanted = neutral.copy()
    wanted[brows, 1] -= 0.04 * iod  # raised brows
    wanted[topology.MOUTH_LEFT, 0] += 0.05 * iod  # a corner pulled out
    carried = {}
    for name, options in (("reenact", MotionOptions()), ("swap", SWAP_MOTION)):
        moved = _calibrated(shipped_metadata, options).destination(neutral, wanted)
        carried[name] = (np.mean(neutral[brows, 1] - moved[brows, 1]) / iod,
                         (moved[topology.MOUTH_LEFT, 0] - neutral[topology.MOUTH_LEFT, 0]) / iod)
    assert carried["reenact"] == pytest.approx((0.08, 0.05), abs=1e-6)  # brows amplified twice
    assert carried["swap"] == pytest.approx((0.7 * 0.04, 0.7 * 0.05), abs=1e-6)


def test_the_swap_by_re_enactment_runs_with_the_swaps_carry():
    from models.default_model import DEFAULT_GENERATOR
    from models.tracking_landmarker import live_landmarker
    from realtime.generator_runner import GeneratorOptions, GeneratorRunner
    from realtime.pipeline import build_stages
    from realtime.reenact_swap_stages import SWAP_MOTION
    from realtime.stats import RunStats

    runner = GeneratorRunner.from_file(GeneratorOptions(DEFAULT_GENERATOR))
    with live_landmarker() as for_swap, live_landmarker() as for_reenact:
        swap_front, _ = build_stages(runner, for_swap, RunStats(), mode="swap")
        reenact_front, _ = build_stages(runner, for_reenact, RunStats())
    assert swap_front.motion.options == SWAP_MOTION != reenact_front.motion.options
    # Re-enactment reads the driver in the detector's framing, as prepare read the target; a swap,
    # which pastes into the driver's face oval, in the tracked one, where that oval reads larger.
    assert for_reenact.redetect and not for_swap.redetect
