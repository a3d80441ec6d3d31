"""Reproduce the shipped starter model ``napari_cathode/models/nmc_nanoct``.

Trains the package's default 2D model on every labelled slice of the real SegmentPy NMC
nano-CT acquisitions A, B and D in ``../shared/data`` (Su et al., npj Comput. Mater. 8, 30
(2022); Apache-2.0) with a fixed seed, and writes model.safetensors + model.json into the
package. The starter carries no forest (``forest_weight=0``): in the leave-one-acquisition-out
benchmark a forest fitted on other acquisitions lowered the network's transfer Dice (0.661 alone,
0.657 at weight 0.25, 0.646 at 0.5) and would add ~15 MB; a project's own rounds fit their
forest on the project's labels (package default weight). CPU, 2 cores: 2 to 10 minutes
(600 steps).

    .venv/bin/python scripts/train_starter_model.py [--steps N] [--seed S] [--out DIR]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tifffile
import torch

from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import DoneEvent, ValidationEvent
from napari_cathode.ml.forest_store import FOREST_FILE
from napari_cathode.ml.training import TrainingVolume, train

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT.parent / "shared" / "data" / "segmentpy-nmc-nanoct" / "stacks"
TARGET = ROOT / "src" / "napari_cathode" / "models" / "nmc_nanoct"
ACQUISITIONS = ("A", "B", "D")
#: Steps of the starter model (2x a project round: it sees three acquisitions).
STEPS = 600

log = logging.getLogger("train_starter_model")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=TARGET)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(min(2, torch.get_num_threads()))
    volumes = [
        TrainingVolume(
            tifffile.imread(STACKS / f"{name}_image.tif").astype(np.float32),
            tifffile.imread(STACKS / f"{name}_labels.tif").astype(np.uint8),
            name,
        )
        for name in ACQUISITIONS
    ]
    config = ModelConfig(
        steps=args.steps, seed=args.seed, device="cpu", validate_every=250, forest_weight=0.0
    )
    metadata = {
        "name": "NMC nano-CT starter model",
        "description": "2D U-Net for pore / active material (NMC) / carbon-binder in X-ray "
        "nano-CT of NMC cathodes; starting point for new projects",
        "trained_by": "scripts/train_starter_model.py",
        "training_data": "SegmentPy NMC nano-CT acquisitions A, B, D (ZeliangSu/SegmentPy @ "
        "93ff84a, Su et al., npj Comput. Mater. 8, 30 (2022), Apache-2.0)",
    }
    with tempfile.TemporaryDirectory() as work:
        # No hold-out: every labelled slice trains; the last checkpoint is shipped.
        for event in train(
            volumes, config=config, out_dir=work, metadata=metadata, validation="none"
        ):
            if isinstance(event, ValidationEvent):
                log.info("step %d: training-slice Dice %s", event.step, event.dice)
            if isinstance(event, DoneEvent):
                log.info("done in %.0f s on %s", event.seconds, event.device)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / FOREST_FILE).unlink(missing_ok=True)
        for name in ("model.safetensors", FOREST_FILE, "model.json"):
            if (Path(work) / name).is_file():
                shutil.copyfile(Path(work) / name, args.out / name)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
