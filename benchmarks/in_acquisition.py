"""Round 0 of the simulated loop on each real acquisition: Dice after N reviewed slices.

For A, B and D: ``simulate`` with ``--initial N --rounds 1`` (spread choice), from scratch or
warm from a model (``X`` in ``--init-model`` is replaced by the acquisition's name, e.g. the
``loao.py --keep`` models ``DIR/without-X-seed0``). ``--set key=value`` overrides ModelConfig
fields, which is how the variants in docs/benchmarks.md were compared. The forest peer
(``_peer.py``) is fitted on the same reviewed slices and scored on the same other slices.

    .venv/bin/python benchmarks/in_acquisition.py --set steps=900
"""

from __future__ import annotations

import argparse
import logging
import tempfile

import numpy as np
from _common import ACQUISITIONS, fmt, load
from _peer import peer
from loao import parse_overrides

from napari_cathode.jobs.simulate import SimulationConfig, simulate
from napari_cathode.ml.config import ModelConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--initial", type=int, default=2)
    parser.add_argument("--init-model", help="model folder; X = the acquisition's name")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    config = ModelConfig(**parse_overrides(args.set))
    means, forest_means = [], []
    for name in ACQUISITIONS:
        image, labels = load(name)
        init = args.init_model.replace("X", name) if args.init_model else None
        with tempfile.TemporaryDirectory() as out:
            document = simulate(
                image,
                labels,
                out_dir=out,
                config=SimulationConfig(initial=args.initial, rounds=1, init_model=init),
                model_config=config,
            )
        first = document["rounds"][0]
        means.append(first["mean_dice"])
        reviewed = first["reviewed_slices"]
        others = [z for z in range(labels.shape[0]) if labels[z].any() and z not in reviewed]
        forest = peer([image], [labels], [reviewed], image, labels, others)
        forest_means.append(forest["mean_dice"])
        dice = " / ".join(fmt(v) for v in first["dice"].values())
        print(
            f"{name}: reviewed {reviewed}, pore / active / binder {dice}, "
            f"mean {fmt(first['mean_dice'])}, {first['train_seconds']:.0f} s; forest peer "
            f"{fmt(forest['mean_dice'])}, "
            f"Δ vs forest {first['mean_dice'] - forest['mean_dice']:+.3f}",
            flush=True,
        )
    delta = float(np.mean(means) - np.mean(forest_means))
    print(
        f"mean over {', '.join(ACQUISITIONS)}: {fmt(float(np.mean(means)))}; forest peer "
        f"{fmt(float(np.mean(forest_means)))}; Δ vs forest {delta:+.3f}"
    )


if __name__ == "__main__":
    main()
