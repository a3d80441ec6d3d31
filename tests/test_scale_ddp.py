"""Data-parallel training through torchrun: 2 CPU processes (gloo) keep one model in step."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from napari_cathode.core.project import Project, ReviewStatus
from napari_cathode.jobs.prediction_job import predict_project
from napari_cathode.ml.config import ModelConfig

TINY = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=2, steps=5, device="cpu", seed=4
)


def test_torchrun_with_two_processes_trains_one_round(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    project = Project.create(tmp_path / "ddp.cathode", image, truth=truth)
    project.set_review([0, 2], ReviewStatus.REVIEWED, round=1)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(TINY.to_json()))

    run = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "napari_cathode.ml.ddp", str(project.path), "--config", str(config_file),
        ],
        capture_output=True, text=True, timeout=180, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = [
        json.loads(line.split("result ", 1)[1])
        for line in run.stderr.splitlines()
        if "napari_cathode.ml.ddp: result " in line
    ]
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert {r["world_size"] for r in results} == {2} and {r["backend"] for r in results} == {"gloo"}
    # Each rank drew different patches, yet the gradients were averaged: identical weights.
    assert results[0]["weights"] == results[1]["weights"]
    assert results[0]["final_loss"] != results[1]["final_loss"]

    published = project.latest_round()
    assert published is not None and published.index == 1
    assert published.metadata["distributed"]["world_size"] == 2
    prediction = predict_project(project, slices=[1])
    assert prediction.model == str(published.path)
    assert set(np.unique(project.proposal[1])) <= {1, 2, 3}
