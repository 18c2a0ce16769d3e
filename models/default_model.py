"""Where the shipped default generator lives (trained on the GRID corpus; see MODEL_CARD.md)."""

from pathlib import Path

DEFAULT_GENERATOR = Path(__file__).resolve().parent / "default_generator.tflite"
