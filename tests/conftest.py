"""Shared fixtures: the test doubles' (``tests/fakes.py``) and where the real footage lives.

The real footage is ``../shared/data`` beside the repository, or the folder named by
``REENACT_SHARED_DATA``; the tests that need it skip where it is absent (a fresh clone).
Set ``REENACT_SHARED_DATA=/nonexistent`` to run the suite as a clone without it would.
"""

import os
from pathlib import Path

import pytest

pytest_plugins = ["tests.fakes"]

SHARED_DATA_ENV = "REENACT_SHARED_DATA"
SHARED_DATA = Path(os.environ.get(SHARED_DATA_ENV) or Path(__file__).resolve().parents[1].parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real footage (GRID target clips, driver clips); skips the test where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the real footage (GRID corpus clips in target/, driver clips in drivers/) in "
                    f"{SHARED_DATA}, which is absent: it is kept beside the repository, never in it; put a copy "
                    f"there or set {SHARED_DATA_ENV} to one")
    return SHARED_DATA
