"""How responsive is the viewer while a round trains? A 10 ms QTimer heartbeat, measured.

Runs a real napari viewer on the real acquisition A (5 x 499 x 601, bundled), makes a project
with the real truth on two slices, starts a round from the Train dock and, while it trains,
paints a brush stroke on the truth layer every 0.5 s. It records every gap between heartbeat
ticks beyond the 10 ms interval ("stall"), split into the training phase and the proposal
refresh that follows, and the duration of each brush stroke. A scripted stroke runs all its
brush dabs in one go on the Qt thread (a user's stroke spreads them over mouse-move events), so
gaps overlapping a scripted stroke are reported apart, with the cost per dab.

With ``--compare-cli`` the same round (a copy of the project made before the dock's round: same
truth, same starting model, same steps) then runs through ``napari-cathode train``, so the
round time from the Train dock and from the command line are measured side by side.

Run under Xvfb::

    QT_QPA_PLATFORM=xcb xvfb-run -a .venv/bin/python benchmarks/bench_gui_responsiveness.py \
        --steps 60 --json /tmp/gui.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TICK_MS = 10


def _animated() -> bool:
    from napari_cathode._napari import activity

    return activity.ANIMATE_INDICATOR


def _stats(gaps: list[float]) -> dict:
    if not gaps:
        return {"ticks": 0}
    values = np.asarray(gaps) * 1000
    return {
        "ticks": len(values),
        "worst_ms": round(float(values.max()), 1),
        "p99_ms": round(float(np.percentile(values, 99)), 1),
        "p50_ms": round(float(np.percentile(values, 50)), 2),
        "over_100ms": int((values > 100).sum()),
    }


def _cli_round(project: Path, steps: int) -> dict:
    """Train the next round of ``project`` with ``napari-cathode train``; wall and round times."""
    from napari_cathode.core.project.store import Project

    started = time.perf_counter()
    command = [sys.executable, "-m", "napari_cathode.cli.main", "train", str(project)]
    subprocess.run([*command, "--steps", str(steps)], check=True, capture_output=True)
    wall = time.perf_counter() - started
    (record,) = Project.open(project).rounds()
    return {
        "wall_s": round(wall, 1),
        "total_s": record.metadata["timings"]["total_seconds"],
        "train_s": record.metadata["timings"]["train_seconds"],
        "device": record.metadata.get("device"),
    }


def run(
    steps: int,
    folder: Path,
    *,
    paint: bool = True,
    init_model: str = "none",
    compare_cli: bool = False,
) -> dict:
    import napari
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    from gui_strokes import brush_stroke
    from napari_cathode.core.io.sample_data import load_acquisition_a
    from napari_cathode.core.project.store import Project
    from napari_cathode.jobs.training_runs import set_project_start
    from napari_cathode.ml.config import ModelConfig

    image, truth = load_acquisition_a()
    seed = np.zeros_like(truth)
    seed[[0, 2]] = truth[[0, 2]]
    project = Project.create(folder / "bench.cathode", image, truth=seed)
    set_project_start(project.path, init_model)
    if compare_cli:  # the same round, later, from the command line
        shutil.copytree(project.path, folder / "cli.cathode")
    viewer = napari.Viewer(show=True)
    _, train = viewer.window.add_plugin_dock_widget("napari-cathode", "Train")
    train.session.open(project.path)
    layer = viewer.layers["bench truth"]
    app = QApplication.instance()
    while train._starter_lookup is not None:
        app.processEvents()

    ticks: list[tuple[float, str]] = []
    phase = {"name": "training"}
    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(lambda: ticks.append((time.perf_counter(), phase["name"])))
    config = ModelConfig(steps=steps, validate_every=max(steps // 3, 1))
    strokes: list[float] = []
    windows: list[tuple[float, float]] = []
    events: list[tuple[float, str]] = []
    train.training.event.connect(
        lambda event: events.append((time.perf_counter(), type(event).__name__))
    )
    timer.start()
    started = time.perf_counter()
    train.start_round(config=config)
    next_stroke = started + 0.5
    while train.running or train.runner.running:
        app.processEvents()
        time.sleep(0.002)
        if not train.running:
            phase["name"] = "refresh"
        elif paint and time.perf_counter() > next_stroke and len(strokes) < 40:
            y = 20 + 11 * len(strokes)
            t0 = time.perf_counter()
            brush_stroke(layer, 4, [(y, 30), (y, 90)], label=1 + len(strokes) % 3, size=5)
            strokes.append(time.perf_counter() - t0)
            windows.append((t0, time.perf_counter()))
            next_stroke = time.perf_counter() + 0.5
    timer.stop()
    total = time.perf_counter() - started
    viewer.close()

    rounds = project.rounds()
    done_at = [t for t, name in events if name == "DoneEvent"]
    dock = {
        "wall_s": round(done_at[0] - started, 1) if done_at else None,
        "total_s": rounds[0].metadata["timings"]["total_seconds"] if rounds else None,
        "train_s": rounds[0].metadata["timings"]["train_seconds"] if rounds else None,
    }
    cli = _cli_round(folder / "cli.cathode", steps) if compare_cli else None
    gaps = {"training": [], "refresh": [], "stroke": []}
    stalls = []
    for (t0, _), (t1, name) in itertools.pairwise(ticks):
        gap = max(t1 - t0 - TICK_MS / 1000, 0.0)
        in_stroke = any(a < t1 and b > t0 for a, b in windows)
        gaps["stroke" if in_stroke else name].append(gap)
        if gap > 0.1 and not in_stroke:
            before = [n for t, n in events if t <= t1]
            stalls.append(
                {"at_s": round(t0 - started, 2), "ms": round(gap * 1000), "after": before[-1:]}
            )
    dabs = 2 + round(60 / 5 * 4)  # napari: press dab + dabs every brush_size / 4 of a move
    return {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "data": "real: bundled acquisition A (5 x 499 x 601), truth on slices 0 and 2",
        "steps": steps,
        "activity_animation": _animated(),
        "init_model": init_model,
        "round_saved": bool(rounds),
        "dock_round": dock,
        "cli_round": cli,
        "device": rounds[0].metadata.get("device") if rounds else None,
        "seconds": round(total, 1),
        "training": _stats(gaps["training"]),
        "refresh": _stats(gaps["refresh"]),
        "during_strokes": _stats(gaps["stroke"]),
        "all_outside_strokes": _stats(gaps["training"] + gaps["refresh"]),
        "stalls_over_100ms": stalls,
        "strokes": len(strokes),
        "dab_ms_median": round(float(np.median(strokes)) * 1000 / dabs, 1) if strokes else None,
        "stroke_ms_worst": round(max(strokes, default=0) * 1000, 1),
        "stroke_ms_median": round(float(np.median(strokes)) * 1000, 1) if strokes else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60, help="optimiser steps of the round")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--no-paint", action="store_true", help="only train; paint no strokes")
    parser.add_argument(
        "--animate-activity",
        action="store_true",
        help="leave napari's animated activity indicator running (see _napari/activity.py)",
    )
    parser.add_argument(
        "--init-model", default="none", help="project's starting model: none, starter or a folder"
    )
    parser.add_argument(
        "--compare-cli", action="store_true", help="then run the same round with the CLI"
    )
    args = parser.parse_args(argv)
    if args.animate_activity:
        from napari_cathode._napari import activity

        activity.ANIMATE_INDICATOR = True
    with tempfile.TemporaryDirectory() as folder:
        result = run(
            args.steps,
            Path(folder),
            paint=not args.no_paint,
            init_model=args.init_model,
            compare_cli=args.compare_cli,
        )
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
