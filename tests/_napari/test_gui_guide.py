"""docs/guide.md, run as a user would: the Segmentation loop dock, real key presses on the
canvas, two rounds and the exports, with no error notification; and a script that starts the
viewer without ``if __name__ == "__main__":`` trains a round instead of hanging."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from napari.utils.notifications import NotificationSeverity, notification_manager

from napari_cathode._napari.guide_screens import run_guide
from napari_cathode.core.project.store import ReviewStatus
from napari_cathode.ml.config import ModelConfig

pytestmark = pytest.mark.gui

SMALL = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=4, steps=16, validate_every=8
)


def _errors(start: int) -> list[str]:
    return [
        str(n.message)
        for n in notification_manager.records[start:]
        if n.severity >= NotificationSeverity.ERROR
    ]


@pytest.mark.slow
def test_the_guide_runs_without_an_error_notification(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer(show=True)
    seen = len(notification_manager.records)
    shots: list[str] = []
    result = run_guide(viewer, tmp_path, config=SMALL, shoot=shots.append)
    assert _errors(seen) == []
    project = result["project"]
    assert [r.index for r in project.rounds()] == [1, 2]
    status = project.review_status()
    z = result["reviewed_slice"]
    assert status[0] == status[z] == ReviewStatus.REVIEWED  # both by the key r
    assert np.asarray(project.truth[z])[240, 200:321].tolist().count(3) > 100  # the stroke
    assert [p.name for p in result["written"]] == [
        "acquisition_a_round2.ome.zarr",
        "acquisition_a_round2_round0002.model",
        "acquisition_a_round2_rounds.csv",
    ]
    assert shots == [
        "loop_1_project",
        "loop_3_training",
        "loop_2_review",
        "loop_3_rounds",
        "loop_4_export",
    ]
    loop = result["loop"]
    assert "2 truth slices, 2 rounds" in loop.project.status.text()  # never stale


SCRIPT = """
import sys
print("SCRIPT STARTED", flush=True)  # a spawned child re-running this file prints it again
import napari
from qtpy.QtWidgets import QApplication
from napari_cathode.ml.config import ModelConfig

viewer = napari.Viewer(show=True)
_, train = viewer.window.add_plugin_dock_widget("napari-cathode", "Train")
train.session.open(sys.argv[1])
train.refresh.setChecked(False)  # only the round: no new proposals afterwards
config = ModelConfig(channels=(8, 16, 32), patch_size=(64, 64), batch_size=4, steps=4,
                     validate_every=4)
assert train.start_round(config=config), train.last_error
while train.running or train.runner.running:  # the round, then its new proposals
    QApplication.processEvents()
print("ROUNDS", [r.index for r in train.session.project.rounds()], train.last_error, flush=True)
viewer.close()
"""


@pytest.mark.slow
def test_a_script_without_main_guard_trains_instead_of_hanging(tmp_path, acquisition_a_crop):
    from napari_cathode.core.project.store import Project

    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    project = Project.create(tmp_path / "script.cathode", image, truth=truth)
    script = tmp_path / "no_main_guard.py"
    script.write_text(textwrap.dedent(SCRIPT))
    run = subprocess.run(
        [sys.executable, str(script), str(project.path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count("SCRIPT STARTED") == 1, run.stdout  # no second viewer, no re-run
    assert "ROUNDS [1]" in run.stdout, run.stdout + run.stderr[-3000:]
