"""Data-parallel training through torchrun: 2 CPU processes (gloo) keep one model in step.

A DDP round is a full project round: the same held-out validation and best checkpoint as a
single-process round, a warm start from the previous round, and ``train --gpus N`` launches it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from napari_cathode.cli.cmd_train import launch_ddp
from napari_cathode.cli.main import main
from napari_cathode.core.errors import CathodeError
from napari_cathode.core.project import Project, ReviewStatus
from napari_cathode.jobs.prediction_job import predict_project
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig

TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=5,
    validate_every=2,
    device="cpu",
    seed=4,
)
#: The model.json fields of a single-process project round (``ml.training``, ``jobs``).
ROUND_FIELDS = {
    "classes", "normalization", "data_split", "metrics", "best_step", "dice", "mean_dice",
    "device", "warm_start", "timings", "truth_slices", "start", "round", "config",
}  # fmt: skip


@pytest.fixture(scope="module")
def ddp_round(acquisition_a_crop, tmp_path_factory):
    """A project with 4 reviewed slices (z = 3 held out) and a round trained by torchrun."""
    image, labels = acquisition_a_crop
    folder = tmp_path_factory.mktemp("ddp")
    truth = np.zeros_like(labels)
    truth[:4] = labels[:4]
    project = Project.create(folder / "ddp.cathode", image, truth=truth)
    project.set_review([0, 1, 2, 3], ReviewStatus.REVIEWED, round=1)
    config_file = folder / "config.json"
    config_file.write_text(json.dumps(TINY.to_json()))
    run = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
            "-m", "napari_cathode.ml.ddp", str(project.path), "--config", str(config_file),
        ],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    results = [
        json.loads(line.split("result ", 1)[1])
        for line in run.stderr.splitlines()
        if "napari_cathode.ml.ddp: result " in line
    ]
    return project, sorted(results, key=lambda r: r["rank"])


def test_torchrun_with_two_processes_trains_one_round(ddp_round):
    project, results = ddp_round
    assert [r["rank"] for r in results] == [0, 1]
    assert {r["world_size"] for r in results} == {2} and {r["backend"] for r in results} == {"gloo"}
    # Each rank drew different patches, yet the gradients were averaged: identical weights.
    assert results[0]["weights"] == results[1]["weights"]
    assert results[0]["final_loss"] != results[1]["final_loss"]

    published = project.rounds()[0]
    assert published.index == 1 and results[0]["round"] == str(published.path)
    assert published.metadata["distributed"]["world_size"] == 2
    prediction = predict_project(project, slices=[4])
    assert prediction.model == str(project.latest_round().path)
    assert set(np.unique(project.proposal[4])) <= {1, 2, 3}


def test_ddp_round_validates_on_held_out_slices_and_keeps_the_best(ddp_round):
    project, results = ddp_round
    meta = project.rounds()[0].metadata
    assert ROUND_FIELDS <= set(meta)
    assert meta["data_split"]["held_out"] and meta["data_split"]["validation"] == [
        {"volume": project.name, "z": 3}
    ]
    # Rank 0 validated every 2 steps and at the last one, with a Dice per class.
    metrics = meta["metrics"]
    assert [m["step"] for m in metrics] == [2, 4, 5]
    names = [c.name for c in project.classes]
    assert all(list(m["dice"]) == names and m["held_out"] for m in metrics)
    best = max(metrics, key=lambda m: m["mean_dice"])  # the first of equal scores is kept
    assert meta["best_step"] == best["step"] == results[0]["best_step"]
    assert meta["dice"] == best["dice"] and meta["mean_dice"] == pytest.approx(best["mean_dice"])
    assert meta["start"] == {"choice": "none", "model": None} and meta["warm_start"] is None
    assert meta["config"]["validate_every"] == 2 and meta["device"].startswith("cpu")


def _parameters(path) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in load_model(path).network.named_parameters()}


def test_cli_gpus_trains_a_round_warm_from_the_previous_one(ddp_round, tmp_path, capsys):
    project, _ = ddp_round
    copy = shutil.copytree(project.path, tmp_path / "copy.cathode")
    first = Project.open(copy).latest_round()

    argv = ["train", str(copy), "--gpus", "2", "--device", "cpu", "--steps", "4"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "model saved to" in captured.out and "2 gloo processes" in captured.out
    assert "result " in captured.err  # the ranks' log is streamed

    second = Project.open(copy).latest_round()
    assert second.index == 2
    meta = second.metadata
    assert meta["start"] == {"choice": "previous round", "model": str(first.path)}
    assert meta["warm_start"] == str(first.path)
    assert meta["distributed"]["world_size"] == 2 and meta["config"]["steps"] == 4
    # The network (and so its architecture) came from round 1: 4 small steps stay close.
    assert meta["config"]["channels"] == list(TINY.channels)
    before, after = _parameters(first.path), _parameters(second.path)
    assert before.keys() == after.keys()
    moved = max(float((after[k] - before[k]).abs().max()) for k in before)
    assert 0 < moved < 0.05


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "--device cpu"),  # 2 GPUs asked for, none seen
        (["--device", "cpu", "--gpus", "1"], "--gpus 1"),
        (["--image", "a.tif", "--labels", "b.tif", "--out", "m"], "project round only"),
    ],
)
def test_cli_gpus_refuses_what_it_cannot_run(tmp_path, monkeypatch, capsys, extra, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    project = [] if "--image" in extra else [str(tmp_path / "p.cathode")]
    gpus = [] if "--gpus" in extra else ["--gpus", "2"]
    assert main(["train", *project, *gpus, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("napari-cathode train: error: --gpus") and message in err


def test_a_failed_launch_is_a_clear_error(capsys):
    failing = "import sys; print('E napari_cathode.ml.ddp: error: no truth', file=sys.stderr); "
    with pytest.raises(CathodeError, match=r"exit status 3.*no truth"):
        launch_ddp([sys.executable, "-c", failing + "sys.exit(3)"])
    assert "no truth" in capsys.readouterr().err
