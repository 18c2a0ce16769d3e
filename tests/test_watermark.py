"""The invisible watermark: embedding, the live loop's marked output under attack, no false alarms, verify.

The robustness matrix runs on frames the real live loop wrote (the shipped generator
driven by the ``sample`` source); the false-alarm test reads every frame of the real
footage in ``../shared/data`` and of the ``sample`` source.
"""

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from media.sources import open_source
from models.default_model import DEFAULT_GENERATOR
from models.generator_contract import model_id
from provenance import watermark
from provenance.attacks import ATTACKS
from provenance.watermark import Payload, Watermarker
from realtime.pipeline import LiveConfig, render_frames, run_live
from realtime.sinks import FileSink
from realtime.stages import PipelineOptions
from reenact.cli import main
from tests.fakes import ListSource, RecordingSink, write_video

SHIPPED_ID = model_id(DEFAULT_GENERATOR.read_bytes())


def _live(images, layout, output_size, tmp_path=None):
    """Marked frames of the real loop, from a recording sink (and a file sink with ``tmp_path``)."""
    recorder = RecordingSink()
    sinks = [recorder] + ([FileSink(tmp_path / "live.mp4")] if tmp_path is not None else [])
    config = LiveConfig(source="unused", model_path=DEFAULT_GENERATOR, outputs=(),
                        pipeline=PipelineOptions(layout=layout, output_size=output_size))
    summary = run_live(config, sinks=sinks, source=ListSource(images))
    return recorder.frames, summary


@pytest.fixture(scope="module")
def live_frames(sample_images, tmp_path_factory):
    """36 frames of the live loop at 256 x 256, and the mp4 its file sink wrote."""
    out = tmp_path_factory.mktemp("live")
    frames, summary = _live(sample_images, "target", 256, out)
    return frames, summary, out / "live.mp4"


# ---------------------------------------------------------------- payload and embedding


@pytest.mark.parametrize("model_hex", ["42b28a41", "0000ffff", "ffff0000", "a5a5a5a5"])
def test_payload_round_trips_through_bits_and_through_a_marked_frame(sample_images, model_hex):
    payload = Payload.for_model(model_hex)
    assert payload.tag == watermark.PROJECT_TAG and payload.model_hex == model_hex[:4]
    assert Payload.from_bits(payload.bits()) == payload and payload.bits().size == 32
    marked = Watermarker(payload).embed(cv2.resize(sample_images[0], (256, 256)))
    detection = watermark.detect(marked)
    assert detection.detected and detection.payload == payload


def test_embedding_equals_its_plain_numpy_twin(sample_images):
    marker = Watermarker(Payload.for_model(SHIPPED_ID))
    image = sample_images[3][:200, :300].copy()  # not a multiple of the tile
    levels = np.round(watermark.pattern_tile(marker.payload) * watermark.STRENGTH).astype(np.int16)
    tiled = np.tile(levels, (4, 5))[:200, :300, None]
    expected = np.clip(image.astype(np.int16) + tiled, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(marker.embed(image.copy()), expected)


def test_embedding_refuses_what_is_not_a_colour_frame():
    with pytest.raises(ValueError, match="expected"):
        Watermarker(Payload(1, 2)).embed(np.zeros((8, 8), np.uint8))


def test_the_threshold_holds_the_per_frame_false_positive_rate():
    threshold = watermark.threshold()
    assert watermark.p_value(threshold) <= watermark.FALSE_POSITIVE_RATE < watermark.p_value(threshold - 0.05)
    # Bernstein's bound is more cautious than the normal approximation it replaces.
    assert watermark.tail_bound(threshold) >= 0.5 * math.erfc(threshold / math.sqrt(2))


def test_single_hypothesis_scores_of_unmarked_frames_are_standard_normal(shared_data):
    """Every shift's score on real footage: mean 0, variance 1, no heavy tail (the null the threshold assumes)."""
    capture, scores = cv2.VideoCapture(str(shared_data / "drivers" / "expressions_7s.mp4")), []
    while (result := capture.read())[0] and len(scores) < 40:
        scores.append(watermark.sync_scores(watermark.whitened_band(watermark.luma(result[1]))).ravel())
    capture.release()
    scores = np.concatenate(scores)
    assert abs(scores.mean()) < 0.05 and 0.9 < scores.std() < 1.1
    assert np.mean(scores > 3.0) < 3 * 1.35e-3  # a Gaussian's share above 3 sigma is 1.35e-3


# ---------------------------------------------------------------- the live loop's output


def test_every_frame_of_the_live_loop_is_marked_with_the_model_and_invisibly(live_frames, sample_images):
    frames, summary, _ = live_frames
    assert len(frames) == 36 and "watermark" in summary["stages_ms"]
    detections = [watermark.detect(frame) for frame in frames]
    assert all(d.detected for d in detections)
    assert {d.payload for d in detections} == {Payload.for_model(SHIPPED_ID)}
    unmarked, payload = render_frames(12, 256)  # the same stages, stopped before the mark
    marker = Watermarker(payload)
    assert min(watermark.psnr(marker.embed(frame.copy()), frame) for frame in unmarked) >= 40.0


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_the_mark_survives_each_attack_on_at_least_99_percent_of_frames(live_frames, attack):
    frames, _, _ = live_frames
    attacked = ATTACKS[attack](frames)
    detected = [watermark.detect(frame).detected for frame in attacked]
    assert np.mean(detected) >= 0.99, f"{attack}: {sum(detected)} of {len(detected)} frames"


@pytest.mark.parametrize("attack", ["jpeg 50", "mp4 x2", "resize 0.5x", "crop 10%"])
def test_side_by_side_frames_survive_the_hardest_attacks(sample_images, attack):
    frames, _ = _live(sample_images[:12], "side-by-side", 256)
    assert frames[0].shape == (256, 512, 3)
    assert all(watermark.detect(frame).detected for frame in ATTACKS[attack](frames))


def test_frames_without_a_face_are_marked_too(sample_images):
    blank = np.full_like(sample_images[0], 128)
    frames, summary = _live(sample_images[:4] + [blank] * 4, "target", 256)
    assert summary["frames_without_face"] == 4
    assert all(watermark.detect(frame).detected for frame in frames[4:])


# ---------------------------------------------------------------- never a false alarm


def _every_frame(path: Path):
    capture = cv2.VideoCapture(str(path))
    while (result := capture.read())[0]:
        yield result[1]
    capture.release()


@pytest.mark.slow
def test_no_frame_of_the_real_footage_or_the_sample_is_flagged(shared_data):
    clips = sorted(shared_data.rglob("*.mp4")) + sorted(shared_data.rglob("*.mpg"))
    assert clips
    counts, flagged, best = {}, [], 0.0
    for clip in clips:
        counts[clip.name] = 0
        for index, image in enumerate(_every_frame(clip)):
            detection = watermark.detect(image)
            counts[clip.name] += 1
            best = max(best, detection.score)
            if detection.detected:
                flagged.append((clip.name, index, detection.score))
    with open_source("sample") as source:
        for frame in source:
            detection = watermark.detect(frame.image)
            best = max(best, detection.score)
            if detection.detected:
                flagged.append(("sample", frame.index, detection.score))
    assert all(count > 0 for count in counts.values()), counts
    assert not flagged, flagged
    assert best < watermark.threshold() - 1.0  # not a near miss either


# ---------------------------------------------------------------- reenact verify


def test_verify_finds_the_mark_and_the_model_in_the_live_loops_file(live_frames, tmp_path, capsys):
    _, _, video = live_frames
    report_path = tmp_path / "report.json"
    assert main(["verify", str(video), "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert {"detected", "frames", "frames_marked", "score", "p_value", "payload", "content_credentials"} <= set(report)
    assert report["detected"] and report["frames"] == report["frames_marked"] == 36
    assert report["p_value"] < 1e-20 and report["score"] > watermark.threshold()
    assert report["payload"]["tag_matches"] and report["payload"]["model_id"] == SHIPPED_ID[:4]
    assert "watermark detected in 36 of 36 frames" in capsys.readouterr().out


def test_verify_reads_a_marked_still_after_jpeg(live_frames, tmp_path):
    frames, _, _ = live_frames
    still = tmp_path / "still.jpg"
    cv2.imwrite(str(still), frames[5], [cv2.IMWRITE_JPEG_QUALITY, 60])
    assert main(["verify", str(still), "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["detected"] and report["frames"] == 1 and report["payload"]["model_id"] == SHIPPED_ID[:4]


def test_verify_says_not_detected_on_an_unmarked_file(sample_images, tmp_path, capsys):
    video = write_video(tmp_path / "plain.mp4", sample_images[:20])
    assert main(["verify", str(video), "--json", str(tmp_path / "r.json")]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert not report["detected"] and report["frames"] == 20 and report["frames_marked"] == 0
    assert report["payload"] is None and report["p_value"] > 1e-3
    assert "not detected" in capsys.readouterr().out


@pytest.mark.parametrize("case, message", [("missing", "no such file"), ("text", "not an image or a video"),
                                           ("folder", "not a file"), ("bad.png", "cannot be read as an image")])
def test_verify_bad_inputs_are_one_line_errors_with_status_2(tmp_path, capsys, case, message):
    path = {"missing": tmp_path / "absent.mp4", "text": tmp_path / "notes.mp4", "folder": tmp_path,
            "bad.png": tmp_path / "bad.png"}[case]
    if case in ("text", "bad.png"):
        path.write_text("not a picture\n")
    assert main(["verify", str(path)]) == 2
    error = capsys.readouterr().err
    assert message in error and len(error.strip().splitlines()) == 1 and "Traceback" not in error
