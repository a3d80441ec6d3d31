"""Training jobs: project rounds, the subprocess event stream, cancel and crashes."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import torch

from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.jobs.prediction_job import predict_project
from napari_cathode.jobs.training_job import TrainingJob
from napari_cathode.jobs.training_runs import ProjectTrainingRequest, run_training
from napari_cathode.ml import events as ev
from napari_cathode.ml.config import ModelConfig

torch.set_num_threads(2)
TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=4,
    validate_every=4,
    device="cpu",
    seed=2,
)


@pytest.fixture
def project(acquisition_a_crop, tmp_path):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    project = Project.create(tmp_path / "a.cathode", image, truth=truth)
    project.set_review([0, 2], ReviewStatus.REVIEWED, round=1, correction_effort=[10, 20])
    return project


def test_project_round_is_published_with_its_record_and_warm_starts_the_next(project):
    events = list(run_training(ProjectTrainingRequest(str(project.path), config=TINY)))
    done = events[-1]
    assert isinstance(done, ev.DoneEvent)
    first = project.latest_round()
    assert first.index == 1 and done.path == str(first.path)
    meta = first.metadata
    assert meta["correction_effort"] == 30 and meta["reviewed_slices"] == [0, 2]
    assert meta["truth_slices"] == [0, 2] and meta["config"]["steps"] == 4
    assert meta["format"] == "napari-cathode-model" and meta["round"] == 1

    second = list(run_training(ProjectTrainingRequest(str(project.path), config=TINY)))
    assert second[0].warm_start == str(first.path)
    assert [r.index for r in project.rounds()] == [1, 2]

    result = predict_project(project, slices=[1, 3])
    assert result.slices == (1, 3) and result.model == str(project.round_dir(2))
    assert set(np.unique(project.proposal[1])) <= {1, 2, 3} and not project.proposal[4].any()
    status = project.review_status()
    assert status[1] == ReviewStatus.PROPOSED and status[0] == ReviewStatus.REVIEWED
    assert np.isfinite(project.slice_uncertainty()[[1, 3]]).all()


def test_cancelled_job_keeps_the_previous_round(project):
    list(run_training(ProjectTrainingRequest(str(project.path), config=TINY)))
    before = project.latest_round()
    job = TrainingJob(
        ProjectTrainingRequest(str(project.path), config=TINY.replace(steps=5000)), num_threads=1
    ).start()
    seen = []
    try:
        for event in job.events():
            seen.append(event)
            if isinstance(event, ev.StepEvent):
                job.cancel()
    finally:
        job.close()
    assert any(isinstance(e, ev.StartedEvent) for e in seen)
    assert isinstance(seen[-1], ev.CancelledEvent)
    assert project.latest_round().index == before.index
    assert [p.name for p in (project.path / "rounds").iterdir() if not p.name.startswith(".")] == [
        "0001"
    ]


def test_failure_in_the_child_becomes_an_error_event(tmp_path):
    job = TrainingJob(
        ProjectTrainingRequest(str(tmp_path / "missing.cathode"), config=TINY)
    ).start()
    try:
        events = list(job.events())
    finally:
        job.close()
    assert len(events) == 1 and isinstance(events[0], ev.ErrorEvent)
    assert "missing.cathode" in events[0].message and events[0].kind == "ProjectError"


def test_killed_child_becomes_an_error_event_not_a_hang(project):
    job = TrainingJob(
        ProjectTrainingRequest(str(project.path), config=TINY.replace(steps=5000)), num_threads=1
    ).start()
    seen = []
    try:
        for event in job.events():
            seen.append(event)
            if isinstance(event, ev.StepEvent) and event.step == 1:
                os.kill(job.pid, signal.SIGKILL)  # e.g. the out-of-memory killer
    finally:
        job.close()
    assert isinstance(seen[-1], ev.ErrorEvent) and seen[-1].kind == "crash"
    assert "exit code -9" in seen[-1].message
    assert project.latest_round() is None
