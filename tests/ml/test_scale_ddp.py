"""Data-parallel training: 2 CPU processes (gloo) run the one training loop and keep in step.

A data-parallel round is a project round like any other: the same events, held-out validation
and best checkpoint, the same publishing, a warm start from the previous round, and
``train --gpus N`` runs it through the same training job as a local round.
"""

from __future__ import annotations

import shutil
from typing import ClassVar

import numpy as np
import pytest
import torch

from napari_cathode.cli.main import main
from napari_cathode.core.classes import classes_from_names
from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.jobs import distributed_training
from napari_cathode.jobs.prediction_job import predict_project
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, run_training
from napari_cathode.ml.checkpoint import load_model, save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import (
    CancelledEvent,
    CheckpointEvent,
    DoneEvent,
    ErrorEvent,
    StepEvent,
)
from napari_cathode.ml.networks import build_network

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


class RecordedRound(distributed_training.DistributedRound):
    """The launcher, remembered so a test can read every rank's weights and losses."""

    runs: ClassVar[list] = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        RecordedRound.runs.append(self)


def _project(folder, acquisition_a_crop) -> Project:
    """A project with 4 reviewed slices (z = 3 is held out)."""
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[:4] = labels[:4]
    project = Project.create(folder / "ddp.cathode", image, truth=truth)
    project.set_review([0, 1, 2, 3], ReviewStatus.REVIEWED, round=1)
    return project


@pytest.fixture(scope="module")
def ddp_round(acquisition_a_crop, tmp_path_factory):
    """The project, the events of a round on 2 gloo processes, and the launcher that ran it."""
    project = _project(tmp_path_factory.mktemp("ddp"), acquisition_a_crop)
    request = ProjectTrainingRequest(str(project.path), config=TINY, init_model="none", processes=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(distributed_training, "DistributedRound", RecordedRound)
        RecordedRound.runs.clear()
        events = list(run_training(request))
    return project, events, RecordedRound.runs[-1]


def _steps_and_validations(events) -> list[tuple[str, int]]:
    return [(type(e).__name__, e.step) for e in events if hasattr(e, "step")]


def test_a_distributed_round_streams_the_events_of_a_local_round(
    ddp_round, acquisition_a_crop, tmp_path
):
    project, events, _ = ddp_round
    local = _project(tmp_path, acquisition_a_crop)
    request = ProjectTrainingRequest(str(local.path), config=TINY, init_model="none")
    local_events = list(run_training(request))

    assert {type(e) for e in events} == {type(e) for e in local_events}
    ignore_checkpoints = [e for e in events if not isinstance(e, CheckpointEvent)]
    assert _steps_and_validations(ignore_checkpoints) == _steps_and_validations(
        [e for e in local_events if not isinstance(e, CheckpointEvent)]
    )
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.path == str(project.latest_round().path)
    assert "2 gloo processes" in done.device and "processes" not in local_events[-1].device


def test_both_ranks_end_with_identical_weights(ddp_round):
    project, events, run = ddp_round
    assert sorted(run.digests) == [0, 1]
    # Each rank drew different patches, yet the gradients were averaged: identical weights.
    assert run.digests[0] == run.digests[1] == events[-1].weights
    assert run.losses[0] != run.losses[1]
    steps = [e for e in events if isinstance(e, StepEvent)]
    assert [e.step for e in steps] == list(range(1, TINY.steps + 1))  # rank 0's only

    published = project.rounds()[0]
    assert published.index == 1 and published.metadata["distributed"] == {
        "world_size": 2,
        "backend": "gloo",
    }
    prediction = predict_project(project, slices=[4])
    assert prediction.model == str(project.latest_round().path)
    assert set(np.unique(project.proposal[4])) <= {1, 2, 3}


def test_ddp_round_validates_on_held_out_slices_and_keeps_the_best(ddp_round):
    project, events, _ = ddp_round
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
    assert meta["best_step"] == best["step"] == events[-1].best_step
    assert meta["dice"] == best["dice"] and meta["mean_dice"] == pytest.approx(best["mean_dice"])
    assert meta["start"] == {"choice": "none", "model": None} and meta["warm_start"] is None
    assert meta["config"]["validate_every"] == 2 and meta["device"].startswith("cpu")
    # One loop: rank 0 fits the hybrid's forest like a local round.
    assert meta["timings"]["forest_seconds"] is not None


def _parameters(path) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in load_model(path).network.named_parameters()}


def test_cli_gpus_trains_a_round_warm_from_the_previous_one(ddp_round, tmp_path, capsys):
    project, _, _ = ddp_round
    copy = shutil.copytree(project.path, tmp_path / "copy.cathode")
    first = Project.open(copy).latest_round()

    argv = ["train", str(copy), "--gpus", "2", "--device", "cpu", "--steps", "4"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "model saved to" in captured.out and "2 gloo processes" in captured.out
    assert "step 4: validation Dice" in captured.err  # the same progress as a local round

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


def test_a_failing_rank_is_a_clear_error_and_saves_nothing(ddp_round, tmp_path):
    project, _, _ = ddp_round
    copy = Project.open(shutil.copytree(project.path, tmp_path / "copy.cathode"))
    two = TINY.replace(classes=classes_from_names(["a", "b"]))
    save_model(tmp_path / "two-classes", build_network(two), config=two)
    request = ProjectTrainingRequest(
        str(copy.path), config=TINY, init_model=str(tmp_path / "two-classes"), processes=2
    )
    events = list(run_training(request))
    # Every rank refuses the starting model; the user reads rank 0's message, not a hang.
    assert isinstance(events[-1], ErrorEvent) and "predicts 2 classes" in events[-1].message
    assert [r.index for r in copy.rounds()] == [1]
    assert sorted(p.name for p in (copy.path / "rounds").iterdir()) == ["0001"]


def test_cancel_stops_every_rank_and_keeps_the_previous_round(ddp_round, tmp_path):
    project, _, _ = ddp_round
    copy = Project.open(shutil.copytree(project.path, tmp_path / "copy.cathode"))
    request = ProjectTrainingRequest(
        str(copy.path), config=TINY.replace(steps=500), init_model="none", processes=2
    )
    events: list = []
    # Cancelled once rank 0 has reported a step: both ranks must stop at the same step
    # (a rank left alone in the gradient all-reduce would hang the round).
    for event in run_training(
        request, cancel=lambda: any(isinstance(e, StepEvent) for e in events)
    ):
        events.append(event)
    assert isinstance(events[-1], CancelledEvent) and 0 < events[-1].step < 500
    assert [r.index for r in copy.rounds()] == [1]
