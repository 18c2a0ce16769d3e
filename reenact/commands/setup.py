"""Install what the other verbs need once: MediaPipe's landmarker model and a local signing identity.

Run by ``make`` after the packages are installed. Safe to run again: what is there and
valid is kept. It says what is installed and where the cache lives.
"""

from __future__ import annotations

import argparse

from models.landmarker_asset import cache_dir, landmarker_path
from provenance.content_credentials import ensure_local_identity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No flags: everything goes where REENACT_CACHE (default ~/.cache/reenact) points."""


def run(args: argparse.Namespace) -> int:
    print(f"cache: {cache_dir()} (set REENACT_CACHE to move it)")
    print(f"face landmarker model: {landmarker_path()}")
    print(f"content credentials: local signing identity in {ensure_local_identity()}")
    return 0
