"""Silence what native libraries print straight to file descriptor 2.

MediaPipe (absl) and OpenCV's camera probing write INFO/WARNING lines from C++,
bypassing Python's logging; a user sees a screenful of noise before the first frame.
Errors we care about reach Python as exceptions or return values, so the few native
calls that are known to chatter run with fd 2 pointed at /dev/null.
"""

from __future__ import annotations

import contextlib
import os
import sys


@contextlib.contextmanager
def quiet_native_stderr(enabled: bool = True):
    """Redirect fd 2 to /dev/null for the block (set REENACT_VERBOSE=1 to keep it)."""
    if not enabled or os.environ.get("REENACT_VERBOSE"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (e.g. captured by a test runner)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
