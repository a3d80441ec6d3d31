"""The training process uses every core unless the user says otherwise, and says so."""

from __future__ import annotations

import os

import numpy as np

from napari_cathode.core.project.round_table import round_rows
from napari_cathode.core.project.store import Project
from napari_cathode.jobs.threads import THREADS_ENV, training_threads
from napari_cathode.jobs.training_job import TrainingJob
from napari_cathode.jobs.training_runs import ProjectTrainingRequest
from napari_cathode.ml import events as ev
from napari_cathode.ml.config import ModelConfig

TINY = ModelConfig(
    channels=(8, 16, 32),
    patch_size=(64, 64),
    batch_size=2,
    steps=2,
    validate_every=2,
    device="cpu",
)


def test_thread_count_is_all_cores_unless_asked(monkeypatch, caplog):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert training_threads() == cores
    assert training_threads(3) == 3
    monkeypatch.setenv(THREADS_ENV, "1")
    assert training_threads() == 1
    monkeypatch.setenv(THREADS_ENV, "many")
    assert training_threads() == cores and THREADS_ENV in caplog.text


def test_a_round_from_a_job_uses_all_cores_and_the_table_says_so(
    acquisition_a_crop, tmp_path, monkeypatch
):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[1] = labels[1]
    project = Project.create(tmp_path / "a.cathode", image, truth=truth)
    job = TrainingJob(ProjectTrainingRequest(str(project.path), config=TINY)).start()
    try:
        events = list(job.events())
    finally:
        job.close()
    assert isinstance(events[-1], ev.DoneEvent), events[-1]
    cores = len(os.sched_getaffinity(0))
    expected = f"cpu, {cores} thread{'s' if cores != 1 else ''}"
    assert events[-1].device == expected
    assert round_rows(project)[0].device == expected
