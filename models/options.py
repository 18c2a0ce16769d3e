"""The one validation rule of option dataclasses: a bad value is a UserError "got X, expected Y".

Every frozen options dataclass checks itself in ``__post_init__`` with :func:`require`, so
a value that no flag could catch (a config file, a library caller) is refused the same
way as a bad flag, with one line a person can act on.
"""

from __future__ import annotations

from models.errors import UserError


def require(ok: bool, got: str, expected: str) -> None:
    """Raise ``UserError("got {got}, expected {expected}")`` unless ``ok``."""
    if not ok:
        raise UserError(f"got {got}, expected {expected}")
