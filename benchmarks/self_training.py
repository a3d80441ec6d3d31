"""Forest self-training on the unlabelled target acquisition (a transfer experiment).

For each leave-one-acquisition-out model kept by ``loao.py --keep DIR``: predict every slice of
the held-out acquisition with the hybrid, take the voxels whose combined probability is at least
``--threshold`` as pseudo-labels (the truth is never read for this), fit a forest of the model's
own settings on them (target-domain features), and score blends on the same slices, against
the truth. Nothing is written anywhere but the printed table / ``--json``.

    .venv/bin/python benchmarks/self_training.py --models /tmp/w10/loao
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
from _common import ACQUISITIONS, load
from _peer import dice_of

from napari_cathode.jobs.prediction_job import make_predictor
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.forest import model_forest

log = logging.getLogger("benchmarks.self_training")


def fold(models: Path, name: str, threshold: float, balanced: bool) -> dict:
    image, truth = load(name)
    model = load_model(models / f"without-{name}-seed0")
    predictor = make_predictor(model, image, device="cpu")
    predictor.forest = None
    slices = [z for z in range(truth.shape[0]) if truth[z].any()]
    ids = np.array([c.id for c in model.config.classes], np.uint8)
    net = np.stack(
        [
            predictor.probabilities(image, z, z + 1, slice(None), slice(None))[:, 0].numpy()
            for z in slices
        ]
    )
    source = model.forest.predict_proba(image, slices, predictor.normalization)
    hybrid = 0.5 * net + 0.5 * source
    best, top = np.argmax(hybrid, axis=1), hybrid.max(axis=1)
    if balanced:
        # Per class, its most confident voxels, the same number for every class: a plain
        # threshold keeps mostly active material and starves binder (measured on fold A).
        confident = np.zeros_like(top, bool)
        per_class = min(int(np.count_nonzero(best == k) * 0.3) for k in range(len(ids)))
        for k in range(len(ids)):
            where = np.flatnonzero(best.ravel() == k)
            keep = where[np.argsort(top.ravel()[where])[-per_class:]]
            confident.ravel()[keep] = True
    else:
        confident = top >= threshold
    pseudo = np.zeros((image.shape[0], *image.shape[1:]), np.uint8)
    pseudo[slices] = np.where(confident, ids[best], 0)
    target = model_forest(model.config).fit(
        [image], [pseudo], [slices], normalizations=[predictor.normalization]
    )
    adapted = target.predict_proba(image, slices, predictor.normalization)
    variants = {
        "hybrid (network + source forest)": hybrid,
        "target forest on pseudo-labels": adapted,
        "network + target forest": 0.5 * net + 0.5 * adapted,
        "network + source forest + target forest": (net + source + adapted) / 3,
    }
    out = {
        "held_out": name,
        "confident_fraction": float(confident.mean()),
        "pseudo_label_accuracy": float(
            (pseudo[slices][confident] == truth[slices][confident]).mean()
        ),
    }
    for label, probs in variants.items():
        out[label] = dice_of(truth, ids[np.argmax(probs, axis=1)], slices)
    log.info("%s", json.dumps(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--held-out", nargs="+", default=list(ACQUISITIONS))
    parser.add_argument(
        "--balanced", action="store_true", help="the same number of pseudo-labels per class"
    )
    parser.add_argument("--json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = [fold(args.models, name, args.threshold, args.balanced) for name in args.held_out]
    labels = [k for k in results[0] if isinstance(results[0][k], dict)]
    print("| variant | " + " | ".join(r["held_out"] for r in results) + " | mean |")
    print("|---|" + "---|" * (len(results) + 1))
    for label in labels:
        values = [r[label]["mean_dice"] for r in results]
        cells = " | ".join(f"{v:.3f}" for v in values)
        print(f"| {label} | {cells} | {np.mean(values):.3f} |")
    for r in results:
        print(
            f"{r['held_out']}: {r['confident_fraction']:.0%} of voxels confident, "
            f"pseudo-labels {r['pseudo_label_accuracy']:.1%} correct"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
