"""What an exported face enhancer carries: its metadata, in the same place as a generator's.

The document sits under the same ``reenact`` name in the TFLite metadata table as a
generator's (``models.generator_contract``), with its own contract version, so neither
file is mistaken for the other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from models.generator_contract import ModelContractError, document_from_json, read_model_file

ENHANCER_CONTRACT = "reenact-enhancer/1"


@dataclass(frozen=True)
class EnhancerMetadata:
    """Everything the live loop and the evaluation must know about an enhancer."""

    input_size: int  # the face it takes, (S, S, 3)
    output_size: int  # the face it draws
    quantization: str
    credit: str
    value_range: tuple = (-1.0, 1.0)
    channel_order: str = "BGR"
    degradation: dict = field(default_factory=dict)  # models.degradation.STATED, as trained for
    held_out: list = field(default_factory=list)  # the people validation kept out of training
    architecture: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)  # validation at export (training.restoration_figures)
    contract: str = ENHANCER_CONTRACT

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "EnhancerMetadata":
        return document_from_json(cls, text)


def load_enhancer_file(path) -> tuple[bytes, EnhancerMetadata]:
    """Read an enhancer file and check what it is; clear errors only."""
    path = Path(path)
    model_bytes, text = read_model_file(path, "enhancer")
    contract = json.loads(text).get("contract", "")
    if contract != ENHANCER_CONTRACT:
        raise ModelContractError(f"enhancer {path}: a {contract or 'generator'} model, not an enhancer "
                                 f"({ENHANCER_CONTRACT}); make one with `reenact train-enhancer` and `reenact export`")
    metadata = EnhancerMetadata.from_json(text)
    if metadata.output_size != 2 * metadata.input_size:
        raise ModelContractError(f"enhancer {path}: draws {metadata.output_size} px from {metadata.input_size}, "
                                 "expected twice the size")
    return model_bytes, metadata
