"""Image-level states on real data: which acquisition (A, B or D) a nano-CT slice comes from.

Real SegmentPy NMC nano-CT slices (``../shared/data/segmentpy-nmc-nanoct/stacks``): every slice
is one image, its acquisition the "state". The first slices of each acquisition train the tile
classifier (``classify train``'s code path), the last two of each are held out and predicted
(``classify predict``'s code path); one held-out slice is explained with Grad-CAM (PNG for the
guide).

Run: ``nice -n 10 .venv/bin/python benchmarks/image_states.py [--steps 200]``
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
import torch

from napari_cathode.core.states.heat_maps import save_heat_map
from napari_cathode.jobs.image_states_job import ImageStateRequest, explain_image, predict_images

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT.parent / "shared" / "data" / "segmentpy-nmc-nanoct" / "stacks"
HELD_OUT = 2
log = logging.getLogger("benchmarks.image_states")


def write_slices(folder: Path) -> tuple[Path, Path]:
    """Folder-per-state layouts of the training and the held-out slices."""
    train, test = folder / "train", folder / "test"
    for name in ("A", "B", "D"):
        stack = tifffile.imread(STACKS / f"{name}_image.tif")
        for z, plane in enumerate(stack):
            target = (test if z >= len(stack) - HELD_OUT else train) / name
            target.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(target / f"{name}_{z}.tif", plane)
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default="/tmp/image_states_benchmark.json")
    parser.add_argument("--png", default=str(ROOT / "docs" / "images" / "states_image_gradcam.png"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        train, test = write_slices(Path(folder))
        model = Path(folder) / "model"
        started = time.monotonic()
        request = ImageStateRequest(str(train), str(model), steps=args.steps)
        done = list(request.run())[-1]
        seconds = time.monotonic() - started
        result = predict_images(model, test)
        explained = explain_image(model, test / "B" / "B_5.tif")
        save_heat_map(args.png, explained["heat"], explained["image"])
    out = {
        "steps": args.steps,
        "train_seconds": seconds,
        "training_report": done.report,
        "held_out": result,
        "explained": {"image": "B_5", "predicted": explained["predicted"]},
    }
    Path(args.json).write_text(json.dumps(out, indent=1))
    log.info("held-out report: %s", json.dumps(result["report"]))


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
