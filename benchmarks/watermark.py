"""Invisible watermark: this project's spread-spectrum mark against invisible-watermark's DWT-DCT.

Run: ``.venv/bin/python -m benchmarks.watermark [--frames N] [--sizes 256 512] [--json OUT.json]``.

Both methods mark the same real output of the live loop (the shipped generator driven by
the ``sample`` source, labelled, before the mark), carry the same 32-bit payload, and
face the same attacks. For each: embedding milliseconds per frame (p50/p95), PSNR of
marked against unmarked, and the share of frames still detected after each attack.

DWT-DCT is the ``dwtDct`` method of the ``invisible-watermark`` package (the one Stable
Diffusion ships), reimplemented here because the package pulls in torch and
``opencv-python``: a one-level Haar DWT of the YUV frame's U channel, and in every 4 x 4
block of its LL band the largest-magnitude coefficient but the first quantised with step
36 so that its remainder says the block's bit (the package's defaults). The package's
code quantises the LL values themselves, without the DCT its name promises; a second row
adds the 4 x 4 DCT. The reimplementation is vectorised with numpy where the package loops
in Python per block, so its time here flatters it. The package has no detection score; a frame counts as
detected when at most 2 of the 32 decoded bits are wrong, the rule whose chance on random
bits is 1.2e-7 (3 errors would be 1.3e-6).
"""

from __future__ import annotations

import argparse
import json
import time
from math import comb
from pathlib import Path

import cv2
import numpy as np

from models.files import write_json
from provenance import watermark
from provenance.attacks import ATTACKS
from realtime.pipeline import render_frames

# ---------------------------------------------------------------- the two methods


class SpreadSpectrum:
    """This project's mark (:mod:`provenance.watermark`)."""

    name = "tiled spread spectrum (ours)"

    def __init__(self, payload: watermark.Payload):
        self.payload = payload
        self._marker = watermark.Watermarker(payload)

    def embed(self, frame):
        return self._marker.embed(frame)

    def detected(self, frame) -> bool:
        return watermark.detect(frame).detected

    def bit_errors(self, frame) -> int:
        return int(np.sum(watermark.detect(frame).payload.bits() != self.payload.bits()))


class DwtDct:
    """invisible-watermark's ``dwtDct`` (``EmbedMaxDct``, block 4, scales [0, 36, 36]), vectorised.

    The package's code quantises the LL band's values themselves (``with_dct=False``);
    ``with_dct=True`` applies the 4 x 4 DCT to each block first, as the method's name says.
    """

    BLOCK, STEP, MAX_ERRORS = 4, 36.0, 2

    def __init__(self, payload: watermark.Payload, with_dct: bool = False):
        self.bits = payload.bits()
        self.with_dct = with_dct
        self.name = "DWT-DCT, 4x4 DCT added" if with_dct else "DWT-DCT (invisible-watermark's code)"
        k, n = np.meshgrid(np.arange(self.BLOCK), np.arange(self.BLOCK), indexing="ij")
        self._dct = np.sqrt((1.0 + (k > 0)) / self.BLOCK) * np.cos(np.pi * (2 * n + 1) * k / (2 * self.BLOCK))
        # (the orthonormal DCT-II matrix D: a block's DCT is D B D^T, as cv2.dct computes it)

    def _blocks(self, low: np.ndarray):
        rows, cols = low.shape[0] // self.BLOCK, low.shape[1] // self.BLOCK
        view = low[:rows * self.BLOCK, :cols * self.BLOCK].reshape(rows, self.BLOCK, cols, self.BLOCK)
        blocks = view.transpose(0, 2, 1, 3).reshape(rows * cols, self.BLOCK, self.BLOCK)
        if self.with_dct:
            blocks = self._dct @ blocks @ self._dct.T
        return blocks.reshape(rows * cols, self.BLOCK * self.BLOCK), rows, cols

    def _unblock(self, change: np.ndarray, rows: int, cols: int) -> np.ndarray:
        change = change.reshape(-1, self.BLOCK, self.BLOCK)
        if self.with_dct:  # the DCT is linear and orthonormal: the change's inverse is the pixels' change
            change = self._dct.T @ change @ self._dct
        return change.reshape(rows, cols, self.BLOCK, self.BLOCK).transpose(0, 2, 1, 3).reshape(
            rows * self.BLOCK, cols * self.BLOCK)

    def _largest(self, blocks):
        position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
        return position, blocks[np.arange(len(blocks)), position]

    @staticmethod
    def _haar_low(channel):
        return (channel[0::2, 0::2] + channel[0::2, 1::2] + channel[1::2, 0::2] + channel[1::2, 1::2]) / 2.0

    def embed(self, frame):
        yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV)
        height, width = frame.shape[0] // 4 * 4, frame.shape[1] // 4 * 4
        channel = yuv[:height, :width, 1].astype(np.float64)
        low = self._haar_low(channel)
        blocks, rows, cols = self._blocks(low)
        position, value = self._largest(blocks)
        bit = self.bits[np.arange(len(blocks)) % self.bits.size]
        quantised = np.sign(value + (value == 0)) * ((np.abs(value) // self.STEP + 0.25 + 0.5 * bit) * self.STEP)
        change = np.zeros_like(blocks)
        change[np.arange(len(blocks)), position] = quantised - value
        change = self._unblock(change, rows, cols)
        # Only LL changed, so the inverse Haar adds half of its change to each of the 2 x 2 pixels.
        channel[:change.shape[0] * 2, :change.shape[1] * 2] += np.repeat(np.repeat(change / 2.0, 2, 0), 2, 1)
        yuv[:height, :width, 1] = np.clip(np.round(channel), 0, 255).astype(np.uint8)
        frame[:] = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
        return frame

    def decode(self, frame) -> np.ndarray:
        yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV)
        height, width = frame.shape[0] // 4 * 4, frame.shape[1] // 4 * 4
        blocks, _, _ = self._blocks(self._haar_low(yuv[:height, :width, 1].astype(np.float64)))
        _, value = self._largest(blocks)
        votes = (np.abs(value) % self.STEP) > 0.5 * self.STEP
        slot = np.arange(len(blocks)) % self.bits.size
        return (np.bincount(slot, votes, self.bits.size) / np.bincount(slot, minlength=self.bits.size)) > 0.5

    def bit_errors(self, frame) -> int:
        return int(np.sum(self.decode(frame) != self.bits))

    def detected(self, frame) -> bool:
        return self.bit_errors(frame) <= self.MAX_ERRORS


def dwt_dct_false_positive_rate(bits: int = 32, max_errors: int = DwtDct.MAX_ERRORS) -> float:
    """Chance that random bits fall within ``max_errors`` of the payload."""
    return sum(comb(bits, errors) for errors in range(max_errors + 1)) / 2.0 ** bits


def _embed_times(method, frames, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        for frame in frames:
            copy = frame.copy()
            start = time.perf_counter()
            method.embed(copy)
            samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def measure(frames: list[np.ndarray], payload: watermark.Payload, repeats: int = 5) -> list[dict]:
    """One row per method: embed ms, PSNR, payload bit errors unattacked, detection rate per attack,
    false alarms on the unmarked frames."""
    rows = []
    for method in (SpreadSpectrum(payload), DwtDct(payload), DwtDct(payload, with_dct=True)):
        method.embed(frames[0].copy())  # first-call costs out of the timing
        marked = [method.embed(frame.copy()) for frame in frames]
        times = _embed_times(method, frames, repeats)
        rows.append({
            "method": method.name,
            "size": f"{frames[0].shape[1]}x{frames[0].shape[0]}",
            "embed_ms": {"p50": round(float(np.percentile(times, 50)), 3),
                         "p95": round(float(np.percentile(times, 95)), 3)},
            "psnr_db": round(float(np.mean([watermark.psnr(m, f) for m, f in zip(marked, frames)])), 2),
            "bit_error_rate": round(float(np.mean([method.bit_errors(frame) for frame in marked])) / 32, 3),
            "detected": {name: round(float(np.mean([method.detected(frame) for frame in attack(marked)])), 3)
                         for name, attack in ATTACKS.items()},
            "false_alarms_unmarked": int(sum(method.detected(frame) for frame in frames)),
        })
    return rows


def null_report(clips: list[Path], single_frames: int = 200) -> dict:
    """Scores of unmarked real footage: each frame's best over all hypotheses, and single hypotheses.

    The threshold assumes each hypothesis's score is at most as heavy-tailed as N(0, 1);
    ``single`` checks that on every shift of the first ``single_frames`` frames.
    """
    from media.sources import open_source

    best, single = [], []
    sources = [str(clip) for clip in clips] + ["sample"]
    for name in sources:
        with open_source(name) as frames_in:
            for frame in frames_in:
                best.append(watermark.detect(frame.image).score)
                if len(single) < single_frames:
                    grey = watermark.luma(frame.image)
                    single.append(watermark.sync_scores(watermark.whitened_band(grey)).ravel())
    single = np.concatenate(single)
    flagged = int(np.sum(np.array(best) >= watermark.threshold()))
    return {"sources": len(sources), "frames": len(best), "flagged": flagged,
            "best_score": {"max": round(float(np.max(best)), 2), "p50": round(float(np.median(best)), 2)},
            "single": {"count": int(single.size), "mean": round(float(single.mean()), 4),
                       "std": round(float(single.std()), 4), "max": round(float(single.max()), 2),
                       "above_3": float(np.mean(single > 3)), "above_4": float(np.mean(single > 4))}}


def print_table(rows: list[dict]) -> None:
    attacks = list(ATTACKS)
    header = ["method", "size", "embed p50/p95 ms", "PSNR dB", "bit errors", *attacks, "false alarms"]
    print(" | ".join(header))
    print(" | ".join("---" for _ in header))
    for row in rows:
        cells = [row["method"], row["size"], f"{row['embed_ms']['p50']:.2f} / {row['embed_ms']['p95']:.2f}",
                 f"{row['psnr_db']:.1f}", f"{row['bit_error_rate']:.0%}",
                 *(f"{row['detected'][name]:.2f}" for name in attacks),
                 str(row["false_alarms_unmarked"])]
        print(" | ".join(cells))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, prog="python -m benchmarks.watermark",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="output frames of the sample (default %(default)s)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512], help="output sizes (default 256 512)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the rows here")
    parser.add_argument("--null", type=Path, metavar="DATA", help="instead, score every frame of the videos "
                        "under DATA (e.g. ../shared/data) and of the sample, unmarked")
    args = parser.parse_args(argv)
    if args.null is not None:
        clips = sorted(args.null.rglob("*.mp4")) + sorted(args.null.rglob("*.mpg"))
        report = null_report(clips)
        print(json.dumps(report, indent=2))
        print(f"threshold {watermark.threshold():.2f} over {watermark.candidates()} hypotheses a frame; "
              f"N(0, 1) has 1.35e-3 above 3 and 3.2e-5 above 4")
        return 0
    rows = []
    for size in args.sizes:
        frames, payload = render_frames(args.frames, size)
        rows.extend(measure(frames, payload))
    print(f"{args.frames} frames of the sample through the shipped generator; payload {payload}; "
          f"per-frame threshold {watermark.threshold():.2f} (ours), DWT-DCT false-positive rate "
          f"{dwt_dct_false_positive_rate():.1e}")
    print_table(rows)
    if args.json is not None:
        write_json(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
