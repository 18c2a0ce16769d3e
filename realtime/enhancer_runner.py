"""The face enhancer on LiteRT: a uint8 BGR face in, the same face at twice the size out.

Like :mod:`realtime.generator_runner` (whose conversions it shares): float or int8 tensors,
each converted through its scale and zero point by the Numba kernels, XNNPACK on
``num_threads`` threads, ``invoke`` releasing the GIL.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.enhancer_contract import EnhancerMetadata, load_enhancer_file
from models.generator_contract import ModelContractError, model_id
from models.native_logs import quiet_native_stderr
from realtime import kernels
from realtime.generator_runner import DEFAULT_THREADS


class EnhancerRunner:
    """One loaded enhancer; :meth:`enhance` maps a (S, S, 3) uint8 face to (2S, 2S, 3)."""

    def __init__(self, model_bytes: bytes, metadata: EnhancerMetadata, num_threads: int = DEFAULT_THREADS,
                 name: str = "enhancer"):
        from ai_edge_litert.interpreter import Interpreter

        self.metadata = metadata
        self.model_id = model_id(model_bytes)
        if tuple(metadata.value_range) != (-1.0, 1.0) or metadata.channel_order != "BGR":
            raise ModelContractError(f"{name}: value range {tuple(metadata.value_range)} and channels "
                                     f"{metadata.channel_order}, expected (-1.0, 1.0) and BGR")
        try:
            with quiet_native_stderr():
                self._interpreter = Interpreter(model_content=model_bytes, num_threads=num_threads)
                self._interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as error:
            raise ModelContractError(f"{name}: LiteRT cannot load it ({str(error).splitlines()[0]})") from None
        (source,), (drawn,) = self._interpreter.get_input_details(), self._interpreter.get_output_details()
        self.size, self.output_size = metadata.input_size, metadata.output_size
        for role, detail, side in (("input", source, self.size), ("output", drawn, self.output_size)):
            if tuple(detail["shape"]) != (1, side, side, 3):
                raise ModelContractError(f"{name}: {role} tensor of shape {tuple(detail['shape'])}, "
                                         f"expected (1, {side}, {side}, 3) as its metadata says")
        self._input_index, self._output_index = source["index"], drawn["index"]
        quantisation = [(float(d["quantization"][0]), int(d["quantization"][1])) for d in (source, drawn)]
        self._input_lut = kernels.input_lut(np.dtype(source["dtype"]), *quantisation[0])
        self._output_lut = kernels.output_lut(np.dtype(drawn["dtype"]), *quantisation[1])
        self._input = np.zeros((1, self.size, self.size, 3), np.dtype(source["dtype"]))

    @classmethod
    def from_file(cls, path: Path, num_threads: int = DEFAULT_THREADS) -> "EnhancerRunner":
        model_bytes, metadata = load_enhancer_file(path)
        return cls(model_bytes, metadata, num_threads, name=f"enhancer {path}")

    def warm_up(self) -> None:
        self.enhance(np.zeros((self.size, self.size, 3), np.uint8))

    def enhance(self, face: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The restored (2S, 2S, 3) uint8 BGR face."""
        if face.shape != (self.size, self.size, 3) or face.dtype != np.uint8:
            raise ValueError(f"got face {face.shape} {face.dtype}, expected ({self.size}, {self.size}, 3) uint8")
        if out is None:
            out = np.empty((self.output_size, self.output_size, 3), np.uint8)
        kernels.sketch_to_input(np.ascontiguousarray(face), self._input_lut, self._input[0])
        self._interpreter.set_tensor(self._input_index, self._input)
        self._interpreter.invoke()
        output = self._interpreter.tensor(self._output_index)()  # a view: dropped before the next invoke
        kernels.output_to_image(output[0], self._output_lut, out)
        return out
