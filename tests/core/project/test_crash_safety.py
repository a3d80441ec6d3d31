"""SIGKILL a process mid-stream of truth, review and checkpoint writes; reopen; nothing lost.

A child Python process (a fresh interpreter, not a fork of pytest) opens a project made from
the real acquisition A and streams seeded operations: whole-slice truth writes (6 chunks each),
brush-sized truth patches, review updates and one round checkpoint (4 MB via ``new_round``),
printing ``done <i>`` after each returns. The parent kills it with SIGKILL - once while the
checkpoint is half written, once while a truth chunk sits in its temporary file before the
rename, and at seeded random moments - then reopens the project and checks that it opens,
the truth reads in full, every acknowledged write is there exactly, the write in flight is
either absent or present voxel by voxel, and ``rounds()`` lists only complete rounds.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from napari_cathode.core.errors import ProjectError
from napari_cathode.core.project.store import Project, ReviewStatus

N_OPERATIONS = 40
CHECKPOINT_BYTES = 4 * 1024 * 1024
TESTS = Path(__file__).resolve().parent


# ---------------------------------------------------------------------------- shared by both
def operations(seed: int, shape) -> list[tuple]:
    """The seeded stream of writes the child performs (and the parent replays)."""
    rng = np.random.default_rng(seed)
    round_at = int(rng.integers(4, N_OPERATIONS - 4))
    ops: list[tuple] = []
    for i in range(N_OPERATIONS):
        z = int(rng.integers(shape[0]))
        kind = "round" if i == round_at else str(rng.choice(["slice", "patch", "patch", "review"]))
        if kind == "patch":
            h, w = (int(v) for v in rng.integers(3, 80, size=2))
            y0, x0 = int(rng.integers(0, shape[1] - h)), int(rng.integers(0, shape[2] - w))
            ops.append(("patch", z, y0, y0 + h, x0, x0 + w, int(rng.integers(0, 4))))
        elif kind == "review":
            ops.append(("review", z, int(rng.integers(0, 10_000))))
        else:
            ops.append((kind, z))
    return ops


def slice_values(seed: int, i: int, shape) -> np.ndarray:
    return np.random.default_rng([seed, i]).integers(0, 4, size=shape[1:], dtype=np.uint8)


def checkpoint(seed: int, i: int) -> bytes:
    return np.random.default_rng([seed, i, 7]).bytes(CHECKPOINT_BYTES)


def child_main() -> None:
    """Entry point of the child process: argv = project, seed, pause ('', 'round', 'replace')."""
    path, seed, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    armed = {"replace": False}
    if pause == "replace":  # stop inside a truth chunk write, its temp file complete, unrenamed
        real_replace = os.replace

        def replace(src, dst):
            if armed["replace"] and f"labels{os.sep}truth{os.sep}c" in str(dst):
                print("replacing", flush=True)
                time.sleep(60)
            real_replace(src, dst)

        os.replace = replace
    project = Project.open(path)
    for i, op in enumerate(operations(seed, project.shape)):
        armed["replace"] = i >= 3  # let a few writes through first
        if op[0] == "slice":
            project.write_truth(op[1], slice_values(seed, i, project.shape))
        elif op[0] == "patch":
            _, z, y0, y1, x0, x1, value = op
            project.write_truth((z, slice(y0, y1), slice(x0, x1)), value)
        elif op[0] == "review":
            project.set_review(op[1], ReviewStatus.REVIEWED, correction_effort=op[2])
        else:
            payload = checkpoint(seed, i)
            with (
                project.new_round({"operation": i, "seed": seed}) as folder,
                open(folder / "model.safetensors", "wb") as f,
            ):
                for start in range(0, len(payload), 1 << 18):
                    f.write(payload[start : start + (1 << 18)])
                    f.flush()
                    if pause == "round" and start >= len(payload) // 2:
                        print("round-half", flush=True)
                        time.sleep(60)
        print(f"done {i}", flush=True)
    time.sleep(60)  # wait to be killed


# ---------------------------------------------------------------------------- parent side
def _run_and_kill(path: Path, seed: int, pause: str, kill_after: int, delay: float) -> list[str]:
    """Start the child, SIGKILL it at the chosen moment, return every line it printed."""
    code = (
        f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_crash_safety as t; "
        "t.child_main()"
    )
    errors = path.parent / f"child-{seed}.stderr"
    with open(errors, "w") as stderr:  # a file, so a chatty child can never block on a pipe
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(path), str(seed), pause],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(
        target=lambda: [lines.put(x.strip()) for x in child.stdout], daemon=True
    )
    reader.start()
    seen, acks, deadline = [], 0, time.monotonic() + 30
    try:
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"child made no progress: {seen[-3:]}, {errors.read_text()[-2000:]}")
            seen.append(line)
            acks += line.startswith("done")
            if (
                (pause == "round" and line == "round-half")
                or (pause == "replace" and line == "replacing")
                or (not pause and acks >= kill_after)
            ):
                time.sleep(delay)
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        reader.join(timeout=10)
    while not lines.empty():
        seen.append(lines.get())
    assert child.returncode == -signal.SIGKILL
    return seen


def _check_after_kill(path: Path, seed: int, lines: list[str], before: dict) -> dict:
    """Reopen and compare with the replayed acknowledged writes; return the new state."""
    project = Project.open(path)  # opens, and clears the killed writer's temporaries
    truth = project.truth[:]  # every chunk decodes
    status, effort = project.review_status(), project.correction_effort()
    ops = operations(seed, project.shape)
    acked = [int(line.split()[1]) for line in lines if line.startswith("done")]
    assert acked == list(range(len(acked)))
    expected = {key: before[key].copy() for key in ("truth", "status", "effort")}
    rounds = set(before["rounds"])
    for i in acked:
        _apply(ops[i], i, seed, expected, rounds)
    # the write in flight may be absent, complete, or (truth) applied to some of its chunks;
    # each chunk is whole, and everywhere else the state is exactly the acknowledged writes
    after = {key: value.copy() for key, value in expected.items()}
    in_flight = len(acked) if len(acked) < len(ops) else None
    if in_flight is not None:
        _apply(ops[in_flight], in_flight, seed, after, set())
    for z, y, x in np.ndindex(truth.shape[0], *(-(-n // 256) for n in truth.shape[1:])):
        chunk = (z, slice(256 * y, 256 * y + 256), slice(256 * x, 256 * x + 256))
        assert np.array_equal(truth[chunk], expected["truth"][chunk]) or np.array_equal(
            truth[chunk], after["truth"][chunk]
        ), f"truth chunk {chunk} is neither before nor after the write in flight"
    for key, actual in (("status", status), ("effort", effort)):
        assert np.all((actual == expected[key]) | (actual == after[key])), f"{key} differs"
    listed = {(r.metadata["seed"], r.metadata["operation"]): r for r in project.rounds()}
    assert rounds <= set(listed) <= rounds | {(seed, in_flight)}
    for (round_seed, operation), record in listed.items():  # a listed round is complete
        payload = (record.path / "model.safetensors").read_bytes()
        assert payload == checkpoint(round_seed, operation)
    leftovers = [p.name for p in (path / "rounds").iterdir() if p.name.startswith(".")]
    assert leftovers == [], "a killed round's temporary folder was not cleaned on open"
    return {
        "truth": truth,
        "status": status,
        "effort": effort,
        "rounds": set(listed),
        "acked": len(acked),
    }


def _apply(op, i, seed, state, rounds) -> None:
    if op[0] == "slice":
        state["truth"][op[1]] = slice_values(seed, i, state["truth"].shape)
    elif op[0] == "patch":
        _, z, y0, y1, x0, x1, value = op
        state["truth"][z, y0:y1, x0:x1] = value
    elif op[0] == "review":
        state["status"][op[1]], state["effort"][op[1]] = ReviewStatus.REVIEWED, op[2]
    else:
        rounds.add((seed, i))


def test_sigkill_mid_stream_loses_nothing_acknowledged(tmp_path, acquisition_a):
    image, _labels = acquisition_a  # real (5, 499, 601): 6 truth chunks per slice
    project = Project.create(tmp_path / "crash.cathode", image)
    state = {
        "truth": project.truth[:],
        "status": project.review_status(),
        "effort": project.correction_effort(),
        "rounds": set(),
    }
    rng = np.random.default_rng(2024)
    plans = [("round", 0, 0.0), ("replace", 0, 0.0)] + [
        ("", int(rng.integers(1, N_OPERATIONS)), float(rng.uniform(0, 0.02))) for _ in range(4)
    ]
    for iteration, (pause, kill_after, delay) in enumerate(plans):
        seed = 100 + iteration
        lines = _run_and_kill(project.path, seed, pause, kill_after, delay)
        partial = list(project.path.rglob("*.partial"))
        state = _check_after_kill(project.path, seed, lines, state)
        assert not [p for p in partial if p.exists()], "killed writer's temporaries remain"
        if pause == "round":  # the half-written checkpoint is not a round
            ops = operations(seed, project.shape)
            round_operation = next(i for i, op in enumerate(ops) if op[0] == "round")
            assert "round-half" in lines and (seed, round_operation) not in state["rounds"]
            assert any(p.parent.name == "rounds" for p in partial)
        if pause == "replace":  # killed between a chunk's temp file and its rename
            assert "replacing" in lines and state["acked"] >= 3
            assert any("truth" in p.parts for p in partial)
    assert state["rounds"]  # some kills came after a completed checkpoint
    assert state["truth"].any() and (state["status"] == ReviewStatus.REVIEWED).any()


def test_a_failed_chunk_write_keeps_the_old_chunk(tmp_path, acquisition_a_crop, monkeypatch):
    """In-process complement: a write that dies before its rename changes nothing on disk."""
    from napari_cathode.core import atomic

    project = Project.create(tmp_path / "p.cathode", acquisition_a_crop[0])
    project.write_truth(2, acquisition_a_crop[1][2])

    def die(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "replace", die)
    with pytest.raises(ProjectError, match="No space left on device"):
        project.write_truth(2, 3)
    monkeypatch.undo()
    reopened = Project.open(project.path)
    np.testing.assert_array_equal(reopened.truth[2], acquisition_a_crop[1][2])
    chunk_folder = project.path / "labels" / "truth" / "c" / "2"
    assert not [p for p in chunk_folder.rglob("*") if p.name.endswith(".partial")]
