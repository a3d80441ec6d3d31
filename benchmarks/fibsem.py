"""z-context on a contiguous, semi-synthetic FIB-SEM-like volume: 2D vs 2.5D vs the forest.

The volume: the real 3D three-phase NMC segmentation of ``../shared/data/slicegan-nmc-3phase``
(30 x 252 x 253, exact truth) rendered into grey values by
:func:`napari_cathode.core.synthetic.imaging_model.render_fib_sem` (pore shine-through along z,
blur, shading, curtaining, shot noise). The simulated reviewer starts from scratch (or from the
shipped 2D starter model), reviews 1 slice in round 0 and ``--per-round`` more per round
(``spread``; default 2, so the rounds score 1 and 3 reviewed slices), and
Dice is pooled over every slice not yet reviewed. The forest (ilastik-style, 100 trees, from
``napari_cathode.ml.forest``, 2D or 3D features) trains on exactly the slices each round
reviewed (those of the ``2d`` run).

    .venv/bin/python benchmarks/fibsem.py --variants 2d 2.5d forest forest-3d --json-dir /tmp/fib
    .venv/bin/python benchmarks/fibsem.py --json-dir /tmp/fib --write
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from _common import ROOT, fmt, header

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.core.synthetic.imaging_model import render_fib_sem
from napari_cathode.jobs.simulate import SimulationConfig, simulate
from napari_cathode.ml.config import ModelConfig

log = logging.getLogger("benchmarks.fibsem")

GEOMETRY = ROOT.parent / "shared" / "data" / "slicegan-nmc-3phase" / "NMC.tif"
SECTION = ROOT / "docs" / "benchmarks.d" / "fibsem.md"
#: name -> (ModelConfig changes, init model)
VARIANTS = {
    "2d": ({}, None),
    "2.5d": ({"context_slices": 3}, None),
    "2.5d-5": ({"context_slices": 5}, None),
    "3d": ({"spatial_dims": 3, "patch_size": (16, 128, 128), "batch_size": 2}, None),
    "2d-starter": ({}, "starter"),
    "2.5d-starter": ({"context_slices": 3}, "starter"),
    "2.5d-starter-300": ({"context_slices": 3, "steps": 300}, "starter"),  # package default steps
}
DATA_NOTE = (
    "semi-synthetic — real 3D geometry (SliceGAN NMC three-phase segmentation, 30 × 252 × 253, "
    "exact truth: 0 → pore, 128 → active, 255 → binder) rendered by "
    "`core/synthetic/imaging_model.render_fib_sem` (defaults, seed 0): "
    "contiguous slices, pore shine-through"
)


def fib_sem_volume(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The rendered FIB-SEM-like image (float32) and its exact labels (1 pore/2 active/3 binder)."""
    raw = tifffile.imread(GEOMETRY)
    labels = np.select([raw == 0, raw == 128, raw == 255], [1, 2, 3]).astype(np.uint8)
    return render_fib_sem(labels, rng=np.random.default_rng(seed)), labels


def run_network(name: str, image, labels, args) -> dict:
    changes, init = VARIANTS[name]
    from napari_cathode.ml.starter import resolve_init_model

    init_model = None if init is None else str(resolve_init_model(init))
    config = ModelConfig(device="cpu", **changes)
    if args.steps and "steps" not in changes:
        config = config.replace(steps=args.steps)
    with tempfile.TemporaryDirectory() as work:
        document = simulate(
            image,
            labels,
            out_dir=work,
            config=SimulationConfig(
                initial=1,
                per_round=args.per_round,
                rounds=args.rounds,
                seed=args.seed,
                init_model=init_model,
            ),
            model_config=config,
        )
    return document


def run_forest(image, labels, reviewed_per_round: list[list[int]], *, three_d: bool) -> dict:
    """The forest peer trained on each round's reviewed slices, scored on the rest."""
    from napari_cathode.ml.forest import ForestConfig, ForestSegmenter

    rounds = []
    for index, reviewed in enumerate(reviewed_per_round):
        started = time.perf_counter()
        forest = ForestSegmenter(DEFAULT_CLASSES, ForestConfig(three_d=three_d))
        forest.fit([image], [labels], [reviewed])
        remaining = [z for z in range(labels.shape[0]) if z not in reviewed]
        proposal = forest.predict(image, remaining)
        counts = DiceCounts()
        for z, predicted in zip(remaining, proposal):
            counts.add(labels[z], predicted)
        dice = counts.scores(DEFAULT_CLASSES)
        rounds.append(
            {
                "round": index,
                "reviewed_slices": reviewed,
                "dice": dice,
                "mean_dice": mean_dice(dice),
                "train_seconds": round(time.perf_counter() - started, 1),
            }
        )
    return {"rounds": rounds}


def table(results: dict[str, dict]) -> str:
    forest_by: dict[int, float] = {}  # the better forest (2D or 3D features) per slice count
    for name in ("forest", "forest-3d"):
        for r in results.get(name, {}).get("rounds", []):
            n = len(r["reviewed_slices"])
            forest_by[n] = max(forest_by.get(n, 0.0), r["mean_dice"])
    lines = [
        "| model | steps | reviewed slices | pore | active | binder | mean Dice "
        "| Δ vs best forest | round s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, document in results.items():
        steps = document.get("config", {}).get("model", {}).get("steps", "–")
        for r in document["rounds"]:
            n = len(r["reviewed_slices"])
            d = r["dice"]
            delta = (
                "–"
                if name.startswith("forest") or n not in forest_by
                else f"{r['mean_dice'] - forest_by[n]:+.3f}"
            )
            lines.append(
                f"| {name} | {steps} | {n} | {fmt(d.get('pore'))} | "
                f"{fmt(d.get('active material'))} | {fmt(d.get('carbon-binder'))} | "
                f"**{fmt(r['mean_dice'])}** | {delta} | "
                f"{r.get('train_seconds', 0):.0f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--variants", nargs="*", default=[], help=f"of {[*VARIANTS, 'forest', 'forest-3d']}"
    )
    parser.add_argument("--rounds", type=int, default=2, help="rounds, round 0 included")
    parser.add_argument("--per-round", type=int, default=2, help="slices reviewed per later round")
    parser.add_argument("--steps", type=int, help="optimiser steps per round (default: package)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json-dir", type=Path, required=True, help="one JSON per variant")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.d/fibsem.md")
    parser.add_argument("--note", default="", help="appended to the section (load, findings)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    args.json_dir.mkdir(parents=True, exist_ok=True)
    image, labels = fib_sem_volume()
    for name in args.variants:
        started = time.perf_counter()
        if name.startswith("forest"):
            reference = json.loads((args.json_dir / "2d.json").read_text())
            reviewed = [r["reviewed_slices"] for r in reference["rounds"]]
            document = run_forest(image, labels, reviewed, three_d=name == "forest-3d")
        else:
            document = run_network(name, image, labels, args)
        document["wall_seconds"] = round(time.perf_counter() - started, 1)
        (args.json_dir / f"{name}.json").write_text(json.dumps(document, indent=2))
        for r in document["rounds"]:
            log.info("%s: %d reviewed -> %s", name, len(r["reviewed_slices"]), r["mean_dice"])
    if args.write:
        order = [*VARIANTS, "forest", "forest-3d"]
        results = {
            n: json.loads((args.json_dir / f"{n}.json").read_text())
            for n in order
            if (args.json_dir / f"{n}.json").is_file()
        }
        text = header("Contiguous FIB-SEM-like volume: 2D vs 2.5D vs forest", data=DATA_NOTE)
        text = "## z-context on contiguous slices (issue 10)\n\n" + text
        SECTION.write_text(text + "\n" + table(results) + "\n\n" + args.note.strip() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
