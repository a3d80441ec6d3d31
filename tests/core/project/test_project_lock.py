"""One writer job per project: the lock names its holder and dies with its process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from napari_cathode.core.project.lock import ProjectBusyError, is_locked, project_lock


def test_second_holder_is_refused_with_the_holder_named(tmp_path):
    with project_lock(tmp_path, "train"):
        with pytest.raises(ProjectBusyError) as info:
            with project_lock(tmp_path, "predict"):
                pass
        message = str(info.value)
        assert f"process {os.getpid()}" in message
        assert "'train'" in message and "cannot predict" in message
        assert is_locked(tmp_path).command == "train"
    assert is_locked(tmp_path) is None
    with project_lock(tmp_path, "predict"):  # released on exit
        pass


def test_missing_folder_is_a_project_error(tmp_path):
    from napari_cathode.core.errors import ProjectError

    with pytest.raises(ProjectError, match="not a project folder"):
        with project_lock(tmp_path / "nope", "train"):
            pass


def test_lock_of_a_killed_process_is_released(tmp_path):
    code = (
        "import sys, time\n"
        "from napari_cathode.core.project.lock import project_lock\n"
        f"with project_lock({str(tmp_path)!r}, 'train'):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(ProjectBusyError, match=f"process {child.pid}"):
            with project_lock(tmp_path, "train"):
                pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
        deadline = time.monotonic() + 5
        while is_locked(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        with project_lock(tmp_path, "train"):
            pass
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
