"""A prepared data set (``reenact prepare``) as arrays and as a resumable tf.data pipeline.

The data order is a pure function of (seed, step): the stream of training samples is the
concatenation of one permutation of the training frames per epoch, each drawn from
``(seed, epoch)``, and step ``s`` takes samples ``s * batch`` to ``(s + 1) * batch - 1``.
A resumed run therefore sees exactly the batches that an uninterrupted run would have,
and with several workers each takes its own fixed slice of every global batch.

Frames are held in memory as uint8 (150 frames at 256 x 256 take 59 MB).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.errors import UserError
from models.face_topology import LIPS_OUTER
from models.sampling import spread
from models.sketch import SKETCH_VERSION

SPLITS = ("train", "val")
LANDMARK_COUNT = 478
MOUTH_MARGIN = 0.02  # the lip mask reaches this fraction of the crop beyond the outer lip line


@dataclass(frozen=True)
class FrameArrays:
    """One split of a data set: BGR uint8 images, (N, S, S, 3) each, and frame ids.

    ``mouths`` is each frame's lip mask, (N, S, S, 1) uint8 of 0/1 (see :func:`mouth_mask`);
    None where a caller has no landmarks (the loss then has no mouth term to weigh).
    ``clips`` names each frame's source clip (for a generator with an appearance photo,
    which comes from the same clip); None counts all frames as one clip.
    """

    sketches: np.ndarray
    photos: np.ndarray
    ids: tuple
    mouths: np.ndarray | None = None
    clips: tuple | None = None

    def __len__(self) -> int:
        return len(self.ids)


def read_manifest(data_dir: Path) -> dict:
    """The data set's manifest, checked against this sketch version; UserError otherwise."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"data {data_dir}: no such folder (make one with `reenact prepare VIDEO --out {data_dir}`)")
    manifest_path = data_dir / "manifest.json"
    if not manifest_path.is_file():
        raise UserError(f"data {data_dir}: no manifest.json, not a prepared data set (run `reenact prepare`)")
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError as error:
        raise UserError(f"data {data_dir}: manifest.json is not valid JSON ({error})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("frames"), list):
        raise UserError(f"data {data_dir}: manifest.json has no frame list; rerun `reenact prepare`")
    if manifest.get("sketch_version") != SKETCH_VERSION:
        raise UserError(f"data {data_dir}: sketches drawn by {manifest.get('sketch_version')!r}, but this "
                        f"version draws {SKETCH_VERSION!r}; rerun `reenact prepare`")
    if not any(frame.get("split") == "train" for frame in manifest["frames"]):
        raise UserError(f"data {data_dir}: no training frames in manifest.json; "
                        "was a face found in the videos given to `reenact prepare`?")
    return manifest


def read_frame(data_dir: Path, frame_id: str, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named arrays of one prepared frame, never unpickled; UserError when damaged."""
    path = Path(data_dir) / "frames" / f"{frame_id}.npz"
    try:
        with np.load(path, allow_pickle=False) as frame:
            return {key: frame[key] for key in keys}
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise UserError(f"data {data_dir}: frame {path.name} is missing or damaged ({error}); "
                        "rerun `reenact prepare`") from None


def recorded_outside_share(data_dir: Path, frame_id: str) -> float:
    """The share of a prepared frame's crop that lay outside the picture (mirrored in by
    ``prepare``); NaN for frames prepared before it was recorded."""
    with np.load(Path(data_dir) / "frames" / f"{frame_id}.npz", allow_pickle=False) as frame:
        return float(frame["outside"]) if "outside" in frame.files else float("nan")


def mouth_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """(size, size, 1) uint8: 1 inside the outer lip line, widened by MOUTH_MARGIN."""
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(landmarks[list(LIPS_OUTER), :2]).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    reach = max(1, int(round(MOUTH_MARGIN * size)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)))
    return mask[:, :, None]


def load_split(data_dir: Path, manifest: dict, split: str, limit: int | None = None) -> FrameArrays:
    """The frames of ``split`` ("train" or "val") as arrays, evenly thinned to at most ``limit``.

    UserError on a damaged frame.
    """
    if split not in SPLITS:
        raise ValueError(f"got split {split!r}, expected one of {SPLITS}")
    data_dir = Path(data_dir)
    size = int(manifest["size"])
    entries = [frame for frame in manifest["frames"] if frame.get("split") == split]
    if limit is not None:
        entries = [entries[i] for i in spread(len(entries), limit)]
    ids = tuple(frame["id"] for frame in entries)
    clips = tuple(str(frame.get("source", "")) for frame in entries)
    sketches = np.empty((len(ids), size, size, 3), np.uint8)
    photos = np.empty_like(sketches)
    mouths = np.empty((len(ids), size, size, 1), np.uint8)
    for index, frame_id in enumerate(ids):
        frame = read_frame(data_dir, frame_id, ("sketch", "crop", "landmarks"))
        for name in ("sketch", "crop"):
            image = frame[name]
            if image.shape != (size, size, 3) or image.dtype != np.uint8:
                raise UserError(f"data {data_dir}: frame {frame_id}.npz has {name} {image.shape} {image.dtype}, "
                                f"expected ({size}, {size}, 3) uint8")
        if frame["landmarks"].shape != (LANDMARK_COUNT, 3):
            raise UserError(f"data {data_dir}: frame {frame_id}.npz has landmarks {frame['landmarks'].shape}, "
                            f"expected ({LANDMARK_COUNT}, 3)")
        sketches[index], photos[index] = frame["sketch"], frame["crop"]
        mouths[index] = mouth_mask(frame["landmarks"], size)
    return FrameArrays(sketches, photos, ids, mouths, clips)


def clip_members(frames: FrameArrays) -> list[np.ndarray]:
    """For each frame, the indices of the frames of its clip, in split order."""
    clips = frames.clips if frames.clips is not None else ("",) * len(frames)
    members: dict[str, list[int]] = {}
    for index, clip in enumerate(clips):
        members.setdefault(clip, []).append(index)
    arrays = {clip: np.array(indices) for clip, indices in members.items()}
    return [arrays[clip] for clip in clips]


def first_of_clip(frames: FrameArrays) -> np.ndarray:
    """For each frame, the index of its clip's first frame: the appearance photo with which
    validation and evaluation measure an appearance generator (the clip's first frame given,
    the rest of the clip drawn from sketches)."""
    return np.array([members[0] for members in clip_members(frames)], dtype=np.int64)


def network_inputs(frames: FrameArrays, indices, firsts: np.ndarray | None = None) -> list[np.ndarray]:
    """The generator's float32 [-1, 1] inputs for ``frames[indices]``: the sketches, and with
    ``firsts`` (:func:`first_of_clip`, for an appearance generator) each frame's clip's first
    frame as its photo, as validation, evaluation and the batch-norm statistics give it."""
    sketches = frames.sketches[indices].astype(np.float32) / 127.5 - 1.0
    if firsts is None:
        return [sketches]
    return [sketches, frames.photos[firsts[indices]].astype(np.float32) / 127.5 - 1.0]


def appearance_schedule(frames: FrameArrays, seed: int, indices: np.ndarray, first_step: int) -> np.ndarray:
    """An appearance photo for every scheduled sample: another frame of the sample's clip.

    ``indices`` are :func:`sample_schedule`'s global batches, (steps, batch) from step
    ``first_step``; the result has their shape. Each step's draws are a pure function of
    (seed, step), so a resumed run pairs every sample as the uninterrupted run did. Never
    the frame itself where its clip has another: the generator must learn to draw the
    sketch's expression, not to copy its photo.
    """
    members = clip_members(frames)
    appearances = np.empty(indices.shape, np.int64)
    for row, batch_indices in enumerate(indices):
        draws = np.random.default_rng([seed, 1, first_step + row]).random(len(batch_indices))
        for column, (index, draw) in enumerate(zip(batch_indices, draws)):
            others = members[index][members[index] != index]
            if len(others) == 0:
                others = members[index]
            appearances[row, column] = others[int(draw * len(others))]
    return appearances


def epoch_order(frame_count: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, flip flags) of one epoch, a pure function of (seed, epoch)."""
    generator = np.random.default_rng([seed, epoch])
    return generator.permutation(frame_count), generator.random(frame_count) < 0.5


def sample_schedule(frame_count: int, seed: int, batch: int, first_step: int,
                    end_step: int) -> tuple[np.ndarray, np.ndarray]:
    """(frame indices, flip flags), each (end_step - first_step, batch): the global batches."""
    if frame_count < 1:
        raise ValueError("got no frames, expected at least one")
    first, end = first_step * batch, end_step * batch
    indices, flips = [], []
    for epoch in range(first // frame_count, -(-end // frame_count)):
        order, flip = epoch_order(frame_count, seed, epoch)
        indices.append(order)
        flips.append(flip)
    offset = (first // frame_count) * frame_count
    indices = np.concatenate(indices)[first - offset:end - offset] if indices else np.empty(0, int)
    flips = np.concatenate(flips)[first - offset:end - offset] if flips else np.empty(0, bool)
    return indices.reshape(-1, batch), flips.reshape(-1, batch)


def to_network_range(images):
    """uint8 images (0..255) as float32 in [-1, 1] (a TensorFlow op)."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def training_dataset(frames: FrameArrays, seed: int, global_batch: int, first_step: int, end_step: int,
                     flip: bool, input_context=None, appearance: bool = False):
    """Batches of (sketch, photo, mouth) for steps ``first_step`` to ``end_step``, and with
    ``appearance`` (sketch, photo, mouth, appearance photo): see :func:`appearance_schedule`.

    Sketch and photos are float32 in [-1, 1]; mouth is the float32 0/1 lip mask, all zero
    when ``frames`` has none.

    With an ``input_context`` (tf.distribute), this worker's slice of each global batch,
    batched per replica; the strategy hands consecutive batches to consecutive replicas.
    """
    import tensorflow as tf

    workers = input_context.num_input_pipelines if input_context else 1
    worker = input_context.input_pipeline_id if input_context else 0
    replica_batch = input_context.get_per_replica_batch_size(global_batch) if input_context else global_batch
    if global_batch % workers != 0:
        raise UserError(f"got batch {global_batch} for {workers} workers, expected a multiple of {workers}")
    indices, flips = sample_schedule(len(frames), seed, global_batch, first_step, end_step)
    appearances = appearance_schedule(frames, seed, indices, first_step) if appearance else indices
    per_worker = global_batch // workers
    columns = slice(worker * per_worker, (worker + 1) * per_worker)
    indices, flips = indices[:, columns].reshape(-1), flips[:, columns].reshape(-1)
    appearances = appearances[:, columns].reshape(-1)
    if not flip:
        flips = np.zeros_like(flips)

    mouths = frames.mouths if frames.mouths is not None else \
        np.zeros((len(frames), *frames.sketches.shape[1:3], 1), np.uint8)

    def gather(batch_indices, batch_appearances):
        return (frames.sketches[batch_indices], frames.photos[batch_indices], mouths[batch_indices],
                frames.photos[batch_appearances])

    def load(batch_indices, batch_flips, batch_appearances):
        # numpy_function reads the in-memory arrays without copying them into the graph.
        sketch, photo, mouth, other = tf.numpy_function(
            gather, [batch_indices, batch_appearances], (tf.uint8,) * 4, stateful=False)
        shape = (None, frames.sketches.shape[1], frames.sketches.shape[2], 3)
        sketch, photo, other = (tf.ensure_shape(image, shape) for image in (sketch, photo, other))
        mouth = tf.ensure_shape(mouth, shape[:3] + (1,))
        # Flip sketch, photos and mask together: the sketch colours both eyes and brows
        # alike, so a mirrored sketch is the sketch of the mirrored face.
        mirrored = batch_flips[:, None, None, None]
        sketch, photo, mouth, other = (tf.where(mirrored, tf.reverse(image, axis=[2]), image)
                                       for image in (sketch, photo, mouth, other))
        batch = (to_network_range(sketch), to_network_range(photo), tf.cast(mouth, tf.float32))
        return (*batch, to_network_range(other)) if appearance else batch

    dataset = tf.data.Dataset.from_tensor_slices((indices, flips, appearances))
    dataset = dataset.batch(replica_batch, drop_remainder=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    # The schedule already shards the data between workers.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def read_target_profile(run_dir: Path, data_dir: Path) -> dict:
    """RUN/target_profile.json, or the data set's when the run has no copy."""
    for path in (run_dir / "target_profile.json", data_dir / "target_profile.json"):
        if path.is_file():
            profile = json.loads(path.read_text())
            if np.asarray(profile.get("neutral_landmarks")).shape != (478, 3):
                raise UserError(f"{path}: neutral landmarks missing or not (478, 3); rerun `reenact prepare`")
            return profile
    raise UserError(f"no target_profile.json in {run_dir} or {data_dir}; rerun `reenact prepare`")
