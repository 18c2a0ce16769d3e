"""Content credentials (C2PA): recordings from the real file sink are signed and read back.

Every test keeps the signing identity out of the real cache: ``REENACT_CACHE`` points at
a temporary folder, or (for the live loop, which needs the landmarker in the real cache)
``REENACT_C2PA_CERT``/``REENACT_C2PA_KEY`` point at an identity made in one.
"""

import shutil
import stat

import cv2
import numpy as np
import pytest

from models.default_model import DEFAULT_ENHANCER, generator_path
from models.errors import UserError
from models.generator_contract import model_id
from models.kinds import KINDS
from models.landmarker_asset import LANDMARKER_FILENAME, landmarker_path
from provenance import content_credentials as cc
from provenance.content_credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    Provenance,
    describe,
    read_credentials,
    sign_recording,
)
from provenance.label import label_present
from provenance.verify import verify
from realtime.pipeline import LiveConfig, run_live
from realtime.sinks import FileSink, SinkError
from realtime.stages import PipelineOptions
from reenact.cli import main
from tests.fakes import ListSource, decode_video

PROVENANCE = Provenance("tiny_int8.tflite", "0123abcd")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder and no configured certificate."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("REENACT_CACHE", str(folder))
    for name in (cc.CERT_ENV, cc.KEY_ENV, cc.TSA_ENV):
        monkeypatch.delenv(name, raising=False)
    return folder


def _frames(count=8, size=(96, 64)):
    width, height = size
    return [np.full((height, width, 3), (20 * index, 255 - 20 * index, 128), np.uint8) for index in range(count)]


def _record(path, provenance=PROVENANCE, frames=None):
    """A small video through the real file sink, closed (and so signed when ``provenance``)."""
    frames = frames if frames is not None else _frames()
    sink = FileSink(path, provenance)
    sink.open(frames[0].shape[1], frames[0].shape[0], 30.0)
    for frame in frames:
        sink.send(frame)
    sink.close()
    return sink


def _frame_count(path):
    capture, count = cv2.VideoCapture(str(path)), 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


def test_file_sink_recording_carries_a_valid_ai_generated_manifest(cache, tmp_path):
    path = tmp_path / "out.mp4"
    sink = _record(path)
    summary = read_credentials(path)
    assert summary == sink.credentials
    assert summary["present"] and summary["valid"] and summary["validation_state"] == "Valid"
    assert summary["digital_source_type"] == TRAINED_ALGORITHMIC_MEDIA and summary["ai_generated"]
    assert summary["model"] == {"name": "tiny_int8.tflite", "id": "0123abcd"}
    assert summary["software"].startswith("reenact ") and summary["claim_generator"].startswith("reenact ")
    assert summary["signer"] == "reenact local signer" and not summary["trusted"]
    assert summary["failures"] == ["signingCredential.untrusted"]  # a local identity: valid, not trusted
    assert _frame_count(path) == 8  # still a playable video, every frame there
    assert not [leftover for leftover in tmp_path.iterdir() if leftover.name.endswith(".part")]
    assert describe(summary)[0].startswith("content credentials: valid signature")


@pytest.fixture(scope="module")
def verified_landmarker():
    """The landmarker model in the real cache (module scope: found before ``cache`` moves the cache)."""
    return landmarker_path()


def test_local_identity_is_made_once_with_a_private_key(verified_landmarker, cache, capsys):
    folder = cc.ensure_local_identity()
    assert folder == cache / "c2pa"
    key = folder / cc.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_bytes()
    # `reenact setup` makes the identity where there is none; it also installs the landmarker: no download.
    shutil.copy(verified_landmarker, cache / LANDMARKER_FILENAME)
    assert main(["setup"]) == 0 and key.read_bytes() == before  # kept, not remade
    assert f"local signing identity in {folder}" in capsys.readouterr().out


def test_a_changed_file_reads_as_invalid(cache, tmp_path):
    path = tmp_path / "out.mp4"
    _record(path)
    data = bytearray(path.read_bytes())
    data[data.find(b"mdat") + 64] ^= 0xFF  # one byte of the video itself
    path.write_bytes(bytes(data))
    summary = read_credentials(path)
    assert summary["present"] and not summary["valid"] and summary["validation_state"] == "Invalid"
    assert "assertion.bmffHash.mismatch" in summary["failures"]
    assert describe(summary)[0].startswith("content credentials: INVALID: assertion.bmffHash.mismatch")


def test_an_unsigned_recording_has_no_credentials(cache, tmp_path):
    path = tmp_path / "plain.mp4"
    sink = _record(path, provenance=None)
    assert sink.credentials is None and read_credentials(path) is None
    assert describe(None) == ["content credentials: none (no C2PA manifest in the file)"]
    assert not cache.exists()  # nothing signed, no identity made


def test_signing_an_existing_video_in_place(cache, tmp_path):
    path = tmp_path / "plain.mp4"
    _record(path, provenance=None)
    summary = sign_recording(path, "model.tflite", "feedbeef")
    assert summary["valid"] and summary["model"] == {"name": "model.tflite", "id": "feedbeef"}
    assert _frame_count(path) == 8


def test_bad_inputs_give_clear_user_errors(cache, tmp_path):
    with pytest.raises(UserError, match="missing.mp4: no such file"):
        read_credentials(tmp_path / "missing.mp4")
    with pytest.raises(UserError, match="missing.mp4: no such file"):
        sign_recording(tmp_path / "missing.mp4", "m", "id")

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"this is not a video at all" * 10)
    with pytest.raises(UserError, match="cannot read it as a media file"):
        read_credentials(garbage)
    with pytest.raises(UserError, match="could not sign it .*left as it was"):
        sign_recording(garbage, "m", "id")
    assert garbage.read_bytes() == b"this is not a video at all" * 10  # untouched, no half-written file
    assert sorted(item.name for item in tmp_path.iterdir()) == ["cache", "garbage.mp4"]

    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(UserError, match="not a kind of file that can carry content credentials"):
        read_credentials(text)
    with pytest.raises(UserError, match="not .txt"):
        sign_recording(text, "m", "id")


def test_file_sink_refuses_a_name_it_could_not_sign(cache, tmp_path):
    with pytest.raises(SinkError, match="name ending in"):
        FileSink(tmp_path / "out.mkv", PROVENANCE).open(64, 48, 30.0)


def test_a_configured_certificate_is_used_and_checked(cache, tmp_path, monkeypatch):
    real = cc.ensure_local_identity(tmp_path / "real")  # stands in for a CA-issued certificate
    monkeypatch.setenv(cc.CERT_ENV, str(real / cc.CHAIN_FILE))
    with pytest.raises(UserError, match="set both"):
        cc.signing_identity()
    with pytest.raises(SinkError, match="set both"):
        FileSink(tmp_path / "out.mp4", PROVENANCE).open(64, 48, 30.0)

    monkeypatch.setenv(cc.KEY_ENV, str(tmp_path / "no-such-key.pem"))
    with pytest.raises(UserError, match="cannot read .*no-such-key.pem"):
        cc.signing_identity()
    monkeypatch.setenv(cc.KEY_ENV, str(real / cc.CHAIN_FILE))  # a certificate where the key belongs
    with pytest.raises(UserError, match="not an unencrypted PEM private key"):
        cc.signing_identity()

    monkeypatch.setenv(cc.KEY_ENV, str(real / cc.KEY_FILE))
    path = tmp_path / "out.mp4"
    _record(path)
    assert read_credentials(path)["valid"]
    assert not cache.exists()  # the configured certificate was used, no local one made


def test_live_loop_recording_names_its_model(tiny_generators, sample_images, tmp_path, monkeypatch):
    identity = cc.ensure_local_identity(tmp_path / "identity")  # the landmarker needs the real cache
    monkeypatch.setenv(cc.CERT_ENV, str(identity / cc.CHAIN_FILE))
    monkeypatch.setenv(cc.KEY_ENV, str(identity / cc.KEY_FILE))
    model = tiny_generators["int8"]
    path = tmp_path / "live.mp4"
    config = LiveConfig(source="sample", model_path=model, outputs=(str(path),),
                        pipeline=PipelineOptions(output_size=128))
    summary = run_live(config, source=ListSource(sample_images[:6]))
    assert summary["frames_out"] == 6
    credentials = read_credentials(path)
    assert credentials["valid"] and credentials["ai_generated"]
    assert credentials["model"] == {"name": model.name, "id": model_id(model.read_bytes())}


@pytest.mark.slow
@pytest.mark.parametrize("kind,model", [(kind, None) for kind in sorted(KINDS)] + [("swap", "autoencoder")])
def test_every_kind_of_model_labels_marks_and_signs_what_it_records(kind, model, sample_images, tmp_path,
                                                                    monkeypatch):
    """The banner, the invisible mark and the signed manifest, for each mode with each kind of model it runs."""
    identity = cc.ensure_local_identity(tmp_path / "identity")
    monkeypatch.setenv(cc.CERT_ENV, str(identity / cc.CHAIN_FILE))
    monkeypatch.setenv(cc.KEY_ENV, str(identity / cc.KEY_FILE))
    model, path = generator_path(model, kind), tmp_path / f"{kind}.mp4"
    config = LiveConfig(source="sample", model_path=model, outputs=(str(path),), mode=kind,
                        enhancer_path=DEFAULT_ENHANCER)
    summary = run_live(config, source=ListSource(sample_images[:8]))
    assert summary["frames_out"] == 8 and "enhance" in summary["stages_ms"]
    frames = decode_video(path)
    assert len(frames) == 8 and all(label_present(frame) for frame in frames)
    report = verify(path)
    assert report["detected"] and report["payload"]["model_id"] == model_id(model.read_bytes())[:4]
    credentials = read_credentials(path)
    assert credentials["valid"] and credentials["ai_generated"] and credentials["model"]["name"] == model.name
