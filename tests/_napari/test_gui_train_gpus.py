"""The Train dock's GPUs choice: hidden behind a reason without 2 GPUs; with them, the round
runs data-parallel through the same launcher and event stream as ``train --gpus N`` (here on 2
CPU processes with gloo, as no GPU is available in CI)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_cathode.core.project.store import Project, ReviewStatus
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import DoneEvent, StartedEvent, StepEvent, ValidationEvent

pytestmark = pytest.mark.gui

PLUGIN = "napari-cathode"
TINY = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=2, steps=4, validate_every=2, device="cpu"
)
WAIT = 240_000  # ms: three processes import torch on a shared 2-core machine


@pytest.fixture
def project(tmp_path, acquisition_a_crop):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[:4] = labels[:4]
    project = Project.create(tmp_path / "crop.cathode", image, truth=truth)
    project.set_review([0, 1, 2, 3], ReviewStatus.REVIEWED, round=1)
    return project


def test_train_dock_trains_on_two_processes(make_napari_viewer, qtbot, project, monkeypatch):
    monkeypatch.setenv("NAPARI_CATHODE_THREADS", "2")
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget(PLUGIN, "Train")
    train.session.open(project.path)
    train.session.refresh_after_round = False

    # No GPU here: the choice is disabled and says why.
    qtbot.waitUntil(lambda: "torch sees" in train.gpus.toolTip(), timeout=WAIT)
    assert not train.gpus.isEnabled() and "2 or more CUDA GPUs" in train.gpus.toolTip()

    # As on a node with 2 GPUs (device cpu: the 2 processes use gloo on the CPU).
    train.show_gpus(2)
    assert train.gpus.isEnabled() and train.gpus.maximum() == 2
    train.gpus.setValue(2)
    seen = []
    train.training.event.connect(seen.append)
    assert train.start_round(config=TINY)
    qtbot.waitUntil(lambda: not train.running, timeout=WAIT)

    done = seen[-1]
    assert isinstance(done, DoneEvent), seen[-1]
    assert {type(e) for e in seen} >= {StartedEvent, StepEvent, ValidationEvent, DoneEvent}
    # rank 0's steps, in order (napari's progress bar must not reorder them)
    assert [e.step for e in seen if isinstance(e, StepEvent)] == [1, 2, 3, 4]
    assert "2 gloo processes" in done.device and "round saved" in train.eta.text()
    meta = Project.open(project.path, mode="r").latest_round().metadata
    assert meta["distributed"] == {"world_size": 2, "backend": "gloo"}
