"""Writing files so that an interruption never leaves a half-written one in place."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from models.errors import UserError


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _file_mode()


def write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then move it into place.

    The data is flushed to disk before the rename, and a failed write removes the
    temporary file, so ``path`` holds either its old content or the whole new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".part",
                                     delete=False) as temporary:
        try:
            write(temporary)
            temporary.flush()
            os.fsync(temporary.fileno())
            # NamedTemporaryFile makes owner-only files; the result should read like any other.
            os.chmod(temporary.name, _FILE_MODE)
        except BaseException:
            temporary.close()
            os.unlink(temporary.name)
            raise
    os.replace(temporary.name, path)


def write_bytes_atomically(path: Path, data: bytes) -> None:
    """:func:`write_atomically` for a bytes payload."""
    write_atomically(path, lambda file: file.write(data))


def write_json(path: Path, document) -> None:
    """Write a JSON report atomically (indented, newline-terminated): the one way every verb writes one.

    A report that cannot be written (no permission, a folder in the way) is a UserError
    naming the file, not a traceback.
    """
    text = json.dumps(document, indent=2) + "\n"
    try:
        write_bytes_atomically(path, text.encode("utf-8"))
    except OSError as error:
        raise UserError(f"{path}: cannot write the report ({error.strerror or error})") from None
