"""``reenact verify PATH``: does an image or a video carry the live loop's invisible mark?

It also reports the file's C2PA content credentials, which the file sink signs
(:mod:`provenance.content_credentials`); the two are independent: the mark survives
re-encoding and screenshots, the signed manifest proves an untouched recording.

Every frame is searched on its own (:func:`provenance.watermark.detect`). A file counts as
marked when its best frame's score is unlikely for unmarked footage even after a union
bound over all of its frames: for one image that is the per-frame threshold, for a video
of N frames the per-frame false-positive probability times N. The payload is read from
the marked frames together (their bit scores summed), so a video tells which model drew
it even where single frames are too damaged to say.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from media.formats import IMAGE_SUFFIXES
from media.recording import recording_finished
from models.default_model import DEFAULT_GENERATOR
from models.errors import UserError
from models.native_logs import quiet_native_stderr
from provenance import watermark


def _frames(path: Path):
    """The frames of ``path`` (BGR uint8), one image or a video's in order; UserError if unreadable."""
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if not path.is_file():
        raise UserError(f"{path}: not a file, expected an image or a video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise UserError(f"{path}: cannot be read as an image")
        yield image
        return
    with quiet_native_stderr():  # FFmpeg complains on fd 2 about files that are no video
        capture = cv2.VideoCapture(str(path))
        ok, frame = capture.read() if capture.isOpened() else (False, None)
    try:
        if not ok:
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # an image without a telling suffix
            if image is None:
                raise UserError(f"{path}: not an image or a video that can be decoded")
            yield image
            return
        while ok:
            yield frame
            ok, frame = capture.read()
    finally:
        capture.release()


def _known_model(model_hex: str) -> str | None:
    """A name for the model id, where it is the shipped generator's."""
    from models.generator_contract import model_id

    if DEFAULT_GENERATOR.is_file() and model_id(DEFAULT_GENERATOR.read_bytes()).startswith(model_hex):
        return f"the shipped generator ({DEFAULT_GENERATOR.name})"
    return None


def verify(path: Path) -> dict:
    """The report for one file (what ``--json`` writes): the watermark, and the content credentials.

    ``recording_finished`` is False for a recording cut short (the process was killed before
    it closed the file, so it was never signed), None where the file's structure cannot tell.
    """
    report = detect_in_file(path)
    report["content_credentials"] = _credentials(path)
    report["recording_finished"] = recording_finished(path)
    return report


def detect_in_file(path: Path) -> dict:
    """The watermark part of the report: searched in every frame, payload read from the marked ones."""
    frames = marked = 0
    best: watermark.Detection | None = None
    marked_bits = np.zeros(watermark.PAYLOAD_BITS)
    for image in _frames(path):
        if min(image.shape[:2]) < 16:
            raise UserError(f"{path}: frames of {image.shape[1]}x{image.shape[0]} pixels, expected at least 16x16")
        detection = watermark.detect(image)
        frames += 1
        if detection.detected:
            marked += 1
            marked_bits += detection.bit_scores
        if best is None or detection.score > best.score:
            best = detection
    if best is None:
        raise UserError(f"{path}: a video without a single decodable frame")
    p_value = watermark.p_value(best.score, hypotheses=frames)
    detected = p_value <= watermark.FALSE_POSITIVE_RATE
    bit_scores = marked_bits if marked else best.bit_scores
    payload = watermark.Payload.from_bits(bit_scores > 0)
    return {
        "path": str(path),
        "detected": detected,
        "frames": frames,
        "frames_marked": marked,
        "score": round(best.score, 3),
        "threshold": round(watermark.threshold(), 3),
        "p_value": p_value,
        "payload": {
            "tag": f"{payload.tag:#06x}",
            "tag_matches": payload.tag == watermark.PROJECT_TAG,
            "model_id": payload.model_hex,
            "model": _known_model(payload.model_hex) if detected else None,
            "weakest_bit_score": round(float(np.min(np.abs(bit_scores))), 3),
        } if detected else None,
    }


def describe(report: dict) -> str:
    """One line for a person."""
    where = f"{report['frames_marked']} of {report['frames']} frame{'s' if report['frames'] != 1 else ''}"
    if not report["detected"]:
        return (f"{report['path']}: watermark not detected ({where} over the threshold; best score "
                f"{report['score']:.1f}, threshold {report['threshold']:.1f})")
    payload = report["payload"]
    tag = "reenact tag" if payload["tag_matches"] else f"unexpected tag {payload['tag']}"
    model = f"model {payload['model_id']}" + (f", {payload['model']}" if payload["model"] else "")
    return (f"{report['path']}: watermark detected in {where} (score {report['score']:.1f}, false-positive "
            f"probability {report['p_value']:.1e}); {tag}, {model}")


def _credentials(path: Path) -> dict | None:
    """The file's C2PA summary (None: no manifest); a file c2pa cannot parse is no error here."""
    from provenance.content_credentials import CredentialsError, read_credentials

    try:
        return read_credentials(path)
    except CredentialsError as error:
        return {"present": False, "error": str(error)}


def describe_all(report: dict) -> list[str]:
    """The whole report for a person: the watermark's line, then the credentials' lines."""
    from provenance.content_credentials import describe as describe_credentials

    credentials = report["content_credentials"]
    lines = [describe(report)]
    unsigned = credentials is None or not credentials.get("present", True)
    if unsigned and report.get("recording_finished") is False:
        lines.append("content credentials: missing, because the recording did not finish (the recorder "
                     "stopped before closing the file, e.g. killed or out of power); the frames it kept "
                     "still carry the watermark")
    elif unsigned and credentials is not None:
        lines.append(f"content credentials: none readable ({credentials['error']})")
    else:
        lines.extend(describe_credentials(credentials))
    return lines
