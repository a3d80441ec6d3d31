"""The viewer stays responsive while a round trains: a 10 ms QTimer heartbeat never stalls > 1 s.

The benchmark ``benchmarks/bench_gui_responsiveness.py`` measures the same on the full
acquisition with a longer round and records the worst and 99th-percentile stall.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from qtpy.QtCore import QTimer

from gui_strokes import brush_stroke
from napari_cathode.core.project.store import Project
from napari_cathode.ml.config import ModelConfig

pytestmark = pytest.mark.gui

SMALL = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=4, steps=30, validate_every=10
)
TICK_MS = 10
MAX_STALL_S = 1.0


def test_event_loop_never_stalls_while_training(make_napari_viewer, qtbot, tmp_path,
                                                acquisition_a_crop):  # fmt: skip
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    project = Project.create(tmp_path / "beat.cathode", image, truth=truth)
    viewer = make_napari_viewer()
    _, train = viewer.window.add_plugin_dock_widget("napari-cathode", "Train")
    train.session.open(project.path)
    qtbot.waitUntil(lambda: train._starter_lookup is None, timeout=60_000)
    truth_layer = viewer.layers["beat truth"]

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    timeline: list[tuple[float, str]] = []  # what happened when, for the failure message
    train.training.event.connect(
        lambda event: timeline.append((time.perf_counter(), type(event).__name__))
    )
    train.runner.progress.connect(lambda *_: timeline.append((time.perf_counter(), "predict")))
    start = time.perf_counter()
    assert train.start_round(config=SMALL)
    strokes = 0
    try:
        while train.running or train.runner.running:
            qtbot.wait(50)
            if train.running and strokes < 5:  # keep painting while it trains
                brush_stroke(truth_layer, 4, [(20 + 10 * strokes, 20), (20 + 10 * strokes, 40)],
                             label=2, size=3)  # fmt: skip
                strokes += 1
    finally:
        timer.stop()

    assert [r.index for r in project.rounds()] == [1], train.last_error
    assert strokes == 5 and np.count_nonzero(np.asarray(project.truth[4]) == 2) > 0
    gaps = np.diff(ticks) - TICK_MS / 1000
    assert len(ticks) > 100  # the timer really ran during the round
    worst = int(np.argmax(gaps))
    seen = [f"{t - start:.2f} {name}" for t, name in timeline if name != "StepEvent"]
    assert gaps.max() < MAX_STALL_S, (
        f"event loop stalled {gaps.max():.2f} s at {ticks[worst] - start:.2f} s; events: {seen}"
    )
