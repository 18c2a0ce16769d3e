"""Multi-worker training: two local worker processes on the CPU agree step by step."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import TINY_TRAIN_FLAGS, write_synthetic_dataset

REPOSITORY = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("localhost", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


@pytest.mark.slow
def test_two_workers_train_the_same_weights_and_write_one_checkpoint(tmp_path):
    from training.checkpoints import load_generator, weights_fingerprint

    data_dir = write_synthetic_dataset(tmp_path / "data")
    run_dir = tmp_path / "run"
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    command = [sys.executable, "-m", "reenact.cli", "train", str(data_dir), "--out", str(run_dir),
               "--steps", "3", "--save-every", "3", "--validate-every", "3", *TINY_TRAIN_FLAGS, "--batch", "4"]
    workers = []
    for index in range(2):
        environment = dict(os.environ, PYTHONPATH=str(REPOSITORY), CUDA_VISIBLE_DEVICES="",
                           TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}))
        workers.append(subprocess.Popen(command, cwd=REPOSITORY, env=environment, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]

    # Both print the fingerprint of their final generator weights; only the chief logs.
    fingerprints = [output.split("weights fingerprint ")[1].split()[0] for output in outputs]
    assert fingerprints[0] == fingerprints[1]
    assert "2 replica(s)" in outputs[0] and "step 3/3" in outputs[0]
    generator, config = load_generator(run_dir)
    assert config.batch == 4
    assert sorted(path.name for path in (run_dir / "checkpoints").glob("ckpt-*.index")) == ["ckpt-3.index"]
    assert weights_fingerprint(generator) == fingerprints[0]
    assert not list(run_dir.glob(".worker-*")), "the non-chief's temporary checkpoints should be gone"
