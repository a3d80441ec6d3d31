"""Predicting a volume of a few hundred MB holds far less memory than its probabilities need."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import dask.array as da
import numpy as np
import pytest
import torch

from large_volumes import tiled_acquisition
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.ml.checkpoint import save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.networks import build_network

SHAPE = (192, 1024, 1024)  # uint8: 201 MB, its float32 probabilities 2.4 GB
#: Memory, not quality, is measured: the smallest U-Net, with seeded random weights.
TINY = ModelConfig(channels=(2, 4), residual_units=0, patch_size=(64, 64), device="cpu", seed=0)

CHILD = textwrap.dedent(
    """
    import json, resource, sys, torch
    from napari_cathode.core.project.store import Project
    from napari_cathode.jobs.prediction_job import predict_project
    from napari_cathode.ml.prediction import PredictionOptions

    torch.set_num_threads(2)
    # One slice per block and one window per forward pass: the low-memory settings.
    options = PredictionOptions(block_voxels=1024 * 1024, batch_size=1)
    result = predict_project(Project.open(sys.argv[1]), device="cpu", options=options)
    # VmHWM is this process's own peak RSS; unlike ru_maxrss it starts afresh at exec, so a
    # large parent (a whole pytest session) cannot inflate it.
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    print(json.dumps({"slices": len(result.slices), "peak_kib": int(status.split()[0])}))
    """
)


def _semi_synthetic(acquisition_a) -> da.Array:
    return tiled_acquisition(acquisition_a[0], SHAPE, chunks=(8, 512, 512))


@pytest.mark.slow
def test_prediction_peak_memory_is_a_small_fraction_of_the_probability_volume(
    acquisition_a, tmp_path
):
    project = Project.create(tmp_path / "big.cathode", _semi_synthetic(acquisition_a))
    torch.manual_seed(0)
    config = TINY.replace(classes=project.classes)
    with project.new_round() as folder:
        save_model(folder, build_network(config), config=config)

    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project.path)], stdout=subprocess.PIPE, text=True
    )
    output, _ = child.communicate()
    assert child.returncode == 0, output
    report = json.loads(output.strip().splitlines()[-1])
    assert report["slices"] == SHAPE[0]

    peak_bytes = report["peak_kib"] * 1024
    voxels = int(np.prod(SHAPE))
    probability_bytes = voxels * len(project.classes) * 4  # float32, one value per class
    assert peak_bytes < probability_bytes / 3, (
        f"peak RSS {peak_bytes / 2**20:.0f} MiB vs float32 probabilities "
        f"{probability_bytes / 2**20:.0f} MiB"
    )
    # Everything was written to disk: the last slice has a proposal and all are queued.
    assert set(np.unique(project.proposal[SHAPE[0] - 1])) <= {1, 2, 3}
    assert project.proposal[SHAPE[0] - 1].any()
    assert (project.review_status() == ReviewStatus.PROPOSED).all()
