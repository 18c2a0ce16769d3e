"""Shared fixtures: where the real footage lives, and skipping when it does not."""

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; tests skip where a fresh clone lacks it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real footage not available: {SHARED_DATA} is absent")
    return SHARED_DATA
