"""SIGKILL the napari process while it trains: every stroke it acknowledged is in the project.

A child process runs a real napari viewer (under the same Xvfb) with a project, paints brush
strokes through the Labels layer's mouse callbacks and prints one line per completed stroke,
starts a training round and keeps painting while it trains. The test kills it with SIGKILL
(and its training process), reopens the project and finds every acknowledged stroke.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import gui_strokes
from napari_cathode.core.project.store import Project

pytestmark = [pytest.mark.gui, pytest.mark.slow]

# the folder of the shared test helpers (gui_strokes), wherever this test file lives
HELPERS = str(Path(gui_strokes.__file__).parent)

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
import napari
from qtpy.QtWidgets import QApplication
from gui_strokes import brush_stroke
from napari_cathode.ml.config import ModelConfig

viewer = napari.Viewer(show=False)
_, train = viewer.window.add_plugin_dock_widget("napari-cathode", "Train")
project = train.session.open(sys.argv[1])
truth = viewer.layers[f"{project.name} truth"]
state = {"step": False}
def on_event(event):
    if type(event).__name__ == "StepEvent" and not state["step"]:
        state["step"] = True
        print("STEP", flush=True)
train.training.event.connect(on_event)  # the session's round, whichever dock started it

def stroke(i):
    z, y, label = 2 + (i // 12) % 3, 8 + 9 * (i % 12), 1 + i % 3
    brush_stroke(truth, z, [(y, 20), (y, 60)], label=label, size=5)
    print(f"STROKE {i} {z} {y} 40 {label}", flush=True)  # after the stroke returned

for i in range(4):
    stroke(i)
config = ModelConfig(channels=(8, 16, 32), patch_size=(64, 64), batch_size=4, steps=100000)
assert train.start_round(config=config)
print("TRAINING", flush=True)
for i in range(4, 36):
    for _ in range(10):
        QApplication.processEvents()
        time.sleep(0.01)
    stroke(i)  # painting goes on while the round trains
while True:  # keep printing, so the test's deadline is checked even if no step comes
    for _ in range(100):
        QApplication.processEvents()
        time.sleep(0.01)
    print("WAITING", flush=True)
"""


def test_sigkill_during_training_loses_no_acknowledged_stroke(tmp_path, acquisition_a_crop):
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[0] = labels[0]
    project = Project.create(tmp_path / "kill.cathode", image, truth=truth)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(project.path), HELPERS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    strokes, after_step, lines = [], 0, []
    deadline = time.monotonic() + 240
    stepped = False
    try:
        for line in child.stdout:
            lines.append(line.strip())
            if line.startswith("STROKE"):
                strokes.append(tuple(int(v) for v in line.split()[2:]))
                after_step += stepped
            stepped = stepped or line.startswith("STEP")
            if after_step >= 3 or time.monotonic() > deadline:
                break
        family = psutil.Process(child.pid).children(recursive=True)
        os.kill(child.pid, signal.SIGKILL)  # the napari process dies mid-training
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
        for process in locals().get("family", []):
            if process.is_running():
                process.kill()  # the orphaned training process and its helpers
    assert stepped and after_step >= 3, f"the child never trained and painted: {lines[-5:]}"
    assert child.returncode == -signal.SIGKILL

    reopened = Project.open(project.path, mode="r")
    for z, y, x, label in strokes:
        assert reopened.truth[z, y, x] == label, f"stroke at z={z} y={y} lost"
    np.testing.assert_array_equal(np.asarray(reopened.truth[0]), labels[0])
    assert reopened.rounds() == []  # the killed round was never published
