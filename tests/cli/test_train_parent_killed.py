"""SIGKILL of ``napari-cathode train``'s own process: its training child dies too, no round appears.

A training round runs in a child process. If the command the user started is killed, the
child must not go on and publish a round into a project whose user saw the command die. The
child dies with its parent: on Linux by the kernel's parent-death signal, everywhere by the
end of file on its stdin (the pipe from the parent), which the second test exercises alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from napari_cathode.core.project.lock import project_lock
from napari_cathode.core.project.store import Project
from napari_cathode.jobs.training_job import TrainingJob
from napari_cathode.jobs.training_runs import ProjectTrainingRequest
from napari_cathode.jobs.training_worker import ORPHANED_EXIT
from napari_cathode.ml import events as ev
from napari_cathode.ml.config import ModelConfig

TINY = ModelConfig(
    channels=(8, 16, 32), patch_size=(64, 64), batch_size=2, steps=4000, device="cpu", seed=3
)


@pytest.fixture
def project(acquisition_a_crop, tmp_path) -> Project:
    image, labels = acquisition_a_crop
    truth = np.zeros_like(labels)
    truth[[0, 2]] = labels[[0, 2]]
    return Project.create(tmp_path / "a.cathode", image, truth=truth)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(n) for n in text]
    return found


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie waiting to be reaped has stopped running


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_the_train_command_kills_its_child_and_no_round_appears(project):
    code = (
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from napari_cathode.cli.main import main\n"
        f"sys.exit(main(['train', {str(project.path)!r}, '--steps', '4000', '--device', 'cpu']))\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        for raw in parent.stderr:  # "device: ..." is written when the first step is about to run
            if b"device:" in raw or time.monotonic() > deadline:
                break
        children = _children(parent.pid)
        assert children, "the training child was not started"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while not all(_gone(pid) for pid in children) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(_gone(pid) for pid in children), "the training child outlived its parent"
        time.sleep(2)  # would a round still appear?
        assert Project.open(project.path).latest_round() is None
        assert [p for p in (project.path / "rounds").iterdir() if not p.name.startswith(".")] == []
        with project_lock(project.path, "train"):  # the dead command's lock was released
            pass
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.stderr.close()


def test_child_exits_when_its_stdin_closes_without_publishing(project):
    """The portable watchdog alone: the parent's end of the pipe closes, the child exits."""
    job = TrainingJob(ProjectTrainingRequest(str(project.path), config=TINY), num_threads=1)
    job.start()
    try:
        for event in job.events():
            if isinstance(event, ev.StepEvent):
                break
        job._process.stdin.close()  # what the kernel does when the parent dies
        assert job._process.wait(timeout=20) == ORPHANED_EXIT
    finally:
        job.close()
    assert project.latest_round() is None
