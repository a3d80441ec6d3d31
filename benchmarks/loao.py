"""(a) Leave-one-acquisition-out over the real NMC nano-CT acquisitions A, B, D.

For each held-out acquisition and seed: train on the other two (all their labelled slices,
the package's own validation rule), predict every slice of the held-out one, Dice pooled over
its labelled voxels. ``--set key=value`` overrides ModelConfig fields (JSON values), which is
how design choices were ranked; ``--write`` puts the table into docs/benchmarks.d/model.md.

    .venv/bin/python benchmarks/loao.py --seeds 0 1 --write
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import (
    ACQUISITIONS,
    BASE_NOTE,
    IKTS,
    command,
    dump,
    fmt,
    header,
    load,
    write_section,
)
from _peer import at_default_weight, blends, loao_peer, weight_table

from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import DoneEvent
from napari_cathode.ml.training import TrainingVolume, train

log = logging.getLogger("benchmarks.loao")


def parse_overrides(pairs: list[str]) -> dict:
    """``key=value`` pairs (values as JSON, else strings) for ModelConfig."""
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
        if isinstance(out[key], list):
            out[key] = tuple(out[key])
    return out


def run_fold(
    held_out: str, seed: int, config: ModelConfig, data: dict, keep: str | None = None
) -> dict:
    """Train on the other acquisitions, evaluate on ``held_out`` (model kept in ``keep``)."""
    volumes = [
        TrainingVolume(data[name][0], data[name][1], name)
        for name in ACQUISITIONS
        if name != held_out
    ]
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        for event in train(volumes, config=config.replace(seed=seed), out_dir=work):
            if isinstance(event, DoneEvent):
                done = event
        seconds = time.perf_counter() - started
        image, labels = data[held_out]
        proposal, _ = predict_array(work, image, device=config.device)
        evaluated = [z for z in range(labels.shape[0]) if labels[z].any()]
        mixes = blends(work, image, labels, evaluated)
        adapted = blends(work, image, labels, evaluated, adabn=True)
        if keep:
            shutil.copytree(work, f"{keep}/without-{held_out}-seed{seed}", dirs_exist_ok=True)
    dice = DiceCounts().add(labels, proposal).scores(config.classes)
    forest = loao_peer(data, held_out, evaluated)
    result = {
        "held_out": held_out,
        "seed": seed,
        "dice": dice,
        "mean_dice": mean_dice(dice),
        "train_seconds": round(seconds, 1),
        "best_step": done.best_step,
        "forest": forest,
        "blends": mixes,
        "adabn": adapted,
    }
    log.info("%s", json.dumps(result))
    return result


def table(results: list[dict], classes: list[str]) -> str:
    """Markdown: per held-out acquisition mean over seeds (min–max of the mean), plus overall."""
    lines = [
        "| held out | "
        + " | ".join(classes)
        + " | mean | runs (min–max of mean) | train s | network alone | forest peer "
        "(pore / active / binder → mean) | Δ vs forest |",
        "|---|" + "---|" * (len(classes) + 6),
    ]
    groups = {}
    for r in results:
        groups.setdefault(r["held_out"], []).append(r)
    groups["all (mean of folds)"] = results
    for name, rows in groups.items():
        cells = [fmt(np.mean([r["dice"][c] for r in rows])) for c in classes]
        means = [r["mean_dice"] for r in rows]
        seconds = np.mean([r["train_seconds"] for r in rows])
        peer_rows = [r["forest"] for r in rows if "forest" in r]
        net = [r["blends"]["0.0"]["mean_dice"] for r in rows if "blends" in r]
        extra = " – | – | – |"
        if peer_rows:
            forest_cells = " / ".join(
                fmt(np.mean([p["dice"][c] for p in peer_rows]), 2) for c in classes
            )
            forest_mean = np.mean([p["mean_dice"] for p in peer_rows])
            delta = np.mean(means) - forest_mean
            extra = (
                f" {fmt(np.mean(net)) if net else '–'} | {forest_cells} → {fmt(forest_mean)} | "
                f"**{delta:+.3f}** |"
            )
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | **{fmt(np.mean(means))}** | "
            f"{len(rows)} ({fmt(min(means))}–{fmt(max(means))}) | {seconds:.0f} |" + extra
        )
    lines.append(
        "| IKTS FIB-SEM (45 annotated images, own test set) | "
        + " | ".join(IKTS[c] for c in classes)
        + " | – | – | – | – | – | – |"
    )
    lines.append(
        "| BASELINES.md plain UNet, A+B+D 1,500 steps → unseen acq. | 0.57 | 0.92 | 0.48 "
        "| 0.66 | – | ~540 | – | – | – |"
    )
    lines.append(
        "| BASELINES.md random forest, A+B+D → unseen acq. | 0.57 | 0.93 | 0.62 | 0.71 | – | ~90 "
        "| – | – | – |"
    )
    with_blends = [r for r in results if "blends" in r]
    if with_blends:
        lines.append(
            "\nForest weight w of the hybrid (prediction = (1 − w) · network + w · its own "
            "forest; w = 0 is the network alone, w = 1 the round's small forest alone), mean "
            "Dice on the same held-out slices:\n"
        )
        groups = {
            name: [r["blends"] for r in with_blends if r["held_out"] == name]
            for name in sorted({r["held_out"] for r in with_blends})
        }
        groups["all folds"] = [r["blends"] for r in with_blends]
        groups["all folds, AdaBN network"] = [r["adabn"] for r in with_blends if "adabn" in r]
        lines.append(weight_table(groups))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--held-out", nargs="+", default=list(ACQUISITIONS))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="also write raw results here")
    parser.add_argument("--from-json", help="write the table of an earlier --json run")
    parser.add_argument("--keep", help="keep each fold's model in KEEP/without-X-seedS")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.d/model.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("napari_cathode").setLevel(logging.WARNING)
    if args.from_json:  # re-render a finished run's table (its own command is recorded there)
        previous = json.loads(Path(args.from_json).read_text())
        config, results = ModelConfig.from_json(previous["config"]), previous["results"]
        args.set = previous.get("overrides", [])
    else:
        config = ModelConfig(device="cpu", **parse_overrides(args.set))
        data = {name: load(name) for name in ACQUISITIONS}
        results = [
            run_fold(h, s, config, data, args.keep) for h in args.held_out for s in args.seeds
        ]
    classes = [c.name for c in config.classes]
    weight = at_default_weight(results)
    text = table(results, classes)
    print(text)
    if not args.from_json:
        dump(
            args.json,
            {
                "config": config.to_json(),
                "results": results,
                "overrides": args.set,
                "command": command(),
            },
        )
    if args.write:
        write_section(
            "loao",
            header(
                "(a) Leave-one-acquisition-out (train on two, test on the third)", data=BASE_NOTE
            )
            + f"\nConfig: package defaults{' + ' + ', '.join(args.set) if args.set else ''} "
            f"({config.steps} steps; 'ours' = the hybrid at the default forest weight {weight}). "
            "Dice pooled over all labelled voxels of every slice of the held-out acquisition."
            + (f" Measured by `{previous['command']}`." if args.from_json else "")
            + "\n\n"
            + text,
        )


if __name__ == "__main__":
    main()
