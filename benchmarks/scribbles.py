"""Dice vs brush strokes: our loop with a scribbling reviewer, and the forest on the same strokes.

``simulate --reviewer scribbles`` on a real acquisition: each round the simulated reviewer
paints ``--strokes`` strokes (brush radius 4 px, paths up to 30 px) into the largest regions the
current proposal got wrong, and the network retrains warm. After each round the ilastik-style
forest (``napari_cathode.ml.forest``, 100 trees, 2D features) is fitted on exactly the voxels
painted so far ("same strokes"). A second forest runs its own loop ("forest's own strokes": its
strokes go where *its* proposal is wrong), so it is not handicapped by strokes chosen for our
errors. Dice is pooled over every labelled voxel not painted yet, on all slices.

    .venv/bin/python benchmarks/scribbles.py --acquisition A --strokes 5 --rounds 4 \\
        --json /tmp/scribbles-A.json
    .venv/bin/python benchmarks/scribbles.py --from-json /tmp/scribbles-A.json --write
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import ROOT, fmt, header, load

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.metrics import mean_dice
from napari_cathode.core.synthetic.scribbles import paint_scribbles
from napari_cathode.jobs.simulate_scribbles import ScribbleConfig, _dice, simulate_scribbles
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.forest import ForestSegmenter

log = logging.getLogger("benchmarks.scribbles")
SECTION = ROOT / "docs" / "benchmarks.d" / "scribbles.md"


def _forest_scores(image, labels, annotation) -> tuple[dict, np.ndarray]:
    slices = [int(z) for z in np.flatnonzero(annotation.reshape(len(annotation), -1).any(1))]
    forest = ForestSegmenter(DEFAULT_CLASSES).fit([image], [annotation], [slices])
    proposal = forest.predict(image, list(range(labels.shape[0])))
    return _dice(labels, proposal, annotation, DEFAULT_CLASSES), proposal


def run(name: str, args) -> dict:
    image, labels = load(name)
    same: list[dict] = []

    def on_annotation(index: int, annotation: np.ndarray) -> None:
        started = time.perf_counter()
        dice, _ = _forest_scores(image, labels, annotation)
        same.append({"dice": dice, "mean_dice": mean_dice(dice)})
        log.info("forest on the same strokes, round %d: %s", index, same[-1]["mean_dice"])
        same[-1]["seconds"] = round(time.perf_counter() - started, 1)

    config = ModelConfig(device="cpu")
    if args.steps:
        config = config.replace(steps=args.steps)
    with tempfile.TemporaryDirectory() as work:
        ours = simulate_scribbles(
            image,
            labels,
            out_dir=work,
            config=ScribbleConfig(strokes=args.strokes, rounds=args.rounds),
            model_config=config,
            on_annotation=on_annotation,
        )
    own = []  # the forest's own loop
    annotation = np.zeros_like(labels)
    proposal = np.zeros_like(labels)
    total = 0
    for _ in range(args.rounds):
        strokes = paint_scribbles(labels, proposal, annotation, strokes=args.strokes)
        total += len(strokes)
        dice, proposal = _forest_scores(image, labels, annotation)
        own.append({"total_strokes": total, "dice": dice, "mean_dice": mean_dice(dice)})
        log.info("forest's own loop, %d strokes: %s", total, own[-1]["mean_dice"])
    return {"acquisition": name, "ours": ours, "forest_same_strokes": same, "forest_own": own}


def strokes_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """Fewest strokes at which ``curve`` (strokes, Dice) reaches ``target``."""
    return next((s for s, d in curve if d is not None and d >= target - 1e-9), None)


def section(results: list[dict]) -> str:
    lines = []
    for result in results:
        rounds = result["ours"]["rounds"]
        lines += [
            f"**Acquisition {result['acquisition']}** ({rounds[0]['strokes']} strokes per round)",
            "",
            "| strokes | painted voxels | ours: mean Dice (pore / active / binder) | forest, "
            "same strokes | forest, its own strokes | Δ ours vs forest (same) | train s |",
            "|---|---|---|---|---|---|---|",
        ]
        ours_curve, forest_curve = [], []
        for r, same, own in zip(rounds, result["forest_same_strokes"], result["forest_own"]):
            d = r["dice"]
            best_forest = max(same["mean_dice"], own["mean_dice"])
            ours_curve.append((r["total_strokes"], r["mean_dice"]))
            forest_curve.append((r["total_strokes"], best_forest))
            lines.append(
                f"| {r['total_strokes']} | {r['total_painted_voxels']} | "
                f"**{fmt(r['mean_dice'])}** ({fmt(d['pore'])} / {fmt(d['active material'])} / "
                f"{fmt(d['carbon-binder'])}) | {fmt(same['mean_dice'])} | "
                f"{fmt(own['mean_dice'])} | {r['mean_dice'] - same['mean_dice']:+.3f} | "
                f"{r['train_seconds']:.0f} |"
            )
        lines += ["", "Strokes needed for the Dice the better forest reaches with S strokes:", ""]
        for strokes, dice in forest_curve:
            needed = strokes_to_reach(ours_curve, dice)
            verdict = (
                "not reached within the run"
                if needed is None
                else f"ours needs {needed} ({needed / strokes:.2f} × S)"
            )
            lines.append(f"- S = {strokes} (forest {dice:.3f}): {verdict}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisition", nargs="*", default=["A"])
    parser.add_argument("--strokes", type=int, default=5, help="strokes per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, help="optimiser steps per round (default: package)")
    parser.add_argument("--json", type=Path, help="write raw results here")
    parser.add_argument("--from-json", type=Path, nargs="*", help="tabulate earlier --json runs")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.d/scribbles.md")
    parser.add_argument("--note", default="", help="appended to the section")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.from_json:
        results = [r for f in args.from_json for r in json.loads(f.read_text())["results"]]
    else:
        results = [run(name, args) for name in args.acquisition]
        if args.json:
            args.json.write_text(json.dumps({"results": results}, indent=2))
    text = section(results)
    print(text)
    if args.write:
        data = "real — SegmentPy NMC nano-CT stacks from ../shared/data (truth of every slice)"
        SECTION.write_text(
            "## Scribbles: Dice vs brush strokes (issue 10)\n\n"
            + header("Scribbling reviewer: ours vs the forest", data=data)
            + "\n"
            + text
            + "\n"
            + args.note.strip()
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
