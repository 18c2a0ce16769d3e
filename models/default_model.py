"""Where the shipped default generator lives (trained on the GRID corpus; see MODEL_CARD.md)."""

from __future__ import annotations

from pathlib import Path

from models.errors import UserError

DEFAULT_GENERATOR = Path(__file__).resolve().parent / "default_generator.tflite"


def generator_path(model: Path | None) -> Path:
    """``model``, or the shipped generator where none is given (UserError where that one is missing).

    A given file is checked where it is loaded (:func:`models.generator_contract.load_generator_file`).
    """
    if model is not None:
        return Path(model)
    if not DEFAULT_GENERATOR.is_file():
        raise UserError(f"the shipped model {DEFAULT_GENERATOR} is missing; reinstall reenact or pass "
                        "--model MODEL.tflite (made by `reenact export`)")
    return DEFAULT_GENERATOR
