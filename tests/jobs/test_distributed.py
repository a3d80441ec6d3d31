"""Prediction on a dask.distributed LocalCluster (2 worker processes) equals the local run."""

from __future__ import annotations

import shutil

import distributed
import numpy as np
import pytest
import torch
import zarr

from napari_cathode.cli.main import main
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.jobs.distributed import chunk_aligned_tasks, cluster_client
from napari_cathode.jobs.prediction_job import predict_project
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, run_training
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.prediction import PredictionOptions

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=6,
    validate_every=6,
    device="cpu",
    seed=3,
)


@pytest.fixture(scope="module")
def trained_project(acquisition_a, tmp_path_factory):
    """Real acquisition A (5 x 499 x 601) with truth on two slices and one trained round."""
    image, labels = acquisition_a
    truth = np.zeros_like(labels)
    truth[[0, 3]] = labels[[0, 3]]
    project = Project.create(tmp_path_factory.mktemp("dist") / "a.cathode", image, truth=truth)
    project.set_review([0, 3], ReviewStatus.REVIEWED, round=1)
    events = list(run_training(ProjectTrainingRequest(str(project.path), config=TINY)))
    assert project.latest_round() is not None, events[-1]
    return project


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local_cluster:
        yield local_cluster


def test_cluster_prediction_is_voxel_identical_to_the_local_run(trained_project, cluster, capsys):
    local = trained_project
    remote = Project.open(shutil.copytree(local.path, local.path.with_name("remote.cathode")))
    again = Project.open(shutil.copytree(local.path, local.path.with_name("cli.cathode")))
    # One slice per block (499 x 601 pixels > block_voxels / 2): 5 blocks -> 5 tasks.
    options = PredictionOptions(block_voxels=400_000)
    # dask workers run torch with one thread (distributed sets OMP_NUM_THREADS=1); the float
    # sums inside a convolution depend on the thread split, so compare at the same setting.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        local_result = predict_project(local, options=options)
    finally:
        torch.set_num_threads(threads)

    with distributed.Client(cluster) as client:
        remote_result = predict_project(remote, options=options, scheduler=client)
        # Both worker processes loaded the model from the project's round and did work.
        loaded = client.run(
            lambda: (
                __import__("napari_cathode.jobs.distributed", fromlist=["_worker_predictor"])
                ._worker_predictor.cache_info()
                .currsize
            )
        )
    assert sorted(loaded.values()) == [1, 1]
    assert remote_result.model == str(remote.round_dir(1))

    proposal = np.asarray(local.proposal[:])
    assert set(np.unique(proposal)) == {1, 2, 3}, "a trained model proposes every class"
    np.testing.assert_array_equal(np.asarray(remote.proposal[:]), proposal)
    np.testing.assert_array_equal(np.asarray(remote.uncertainty[:]), local.uncertainty[:])
    assert remote_result.slice_uncertainty == local_result.slice_uncertainty
    np.testing.assert_array_equal(remote.review_status(), local.review_status())
    assert remote.review_status()[1] == ReviewStatus.PROPOSED

    # The command line reaches the same cluster by address and writes the same voxels.
    address = cluster.scheduler_address
    assert main(["predict", str(again.path), "--scheduler", address, "--slices", "1-2"]) == 0
    assert "predicted 2 slices" in capsys.readouterr().out
    np.testing.assert_array_equal(np.asarray(again.proposal[1:3]), proposal[1:3])
    assert not np.asarray(again.proposal[4]).any(), "only the asked slices are written"


def test_blocks_sharing_a_chunk_go_to_one_task():
    blocks = [(0, 3), (3, 6), (6, 8), (10, 11)]
    assert chunk_aligned_tasks(blocks, 1) == [(b,) for b in blocks]
    # With 4-slice chunks, (0,3) and (3,6) share chunk 0 and (3,6)/(6,8) share chunk 1.
    assert chunk_aligned_tasks(blocks, 4) == [((0, 3), (3, 6), (6, 8)), ((10, 11),)]


def test_an_unreachable_scheduler_is_a_one_line_user_error():
    with pytest.raises(CathodeError, match="cannot reach the dask scheduler"):
        with cluster_client("tcp://127.0.0.1:9", timeout=1):
            pass


def test_export_on_the_cluster_equals_the_local_export(trained_project, cluster, tmp_path):
    project = Project.open(trained_project.path, mode="r")
    local = tmp_path / "local.ome.zarr"
    remote = tmp_path / "remote.ome.zarr"
    assert main(["export", str(project.path), "--out", str(local)]) == 0
    address = cluster.scheduler_address
    assert main(["export", str(project.path), "--out", str(remote), "--scheduler", address]) == 0
    for name in ("s0", "s1", "labels/segmentation/s0", "labels/segmentation/s1"):
        expected = zarr.open_array(str(local / name), mode="r")[:]
        np.testing.assert_array_equal(zarr.open_array(str(remote / name), mode="r")[:], expected)
    labels = zarr.open_array(str(remote / "labels/segmentation/s0"), mode="r")[:]
    truth = np.asarray(project.truth[:])
    np.testing.assert_array_equal(labels[truth > 0], truth[truth > 0])  # truth wins
    assert set(np.unique(labels)) == {1, 2, 3}
