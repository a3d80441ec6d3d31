"""``napari-cathode demo``: one full round of the loop on the bundled real sample, headless.

It runs the same commands a user would type (printed as it goes): a new project from NMC nano-CT
acquisition A with two slices of ground truth, a training round from scratch, proposals for every
slice, the Dice of those proposals on the three slices nobody reviewed, an OME-Zarr and TIFF
export, and the microstructure analysis. ``--gui`` opens napari with the sample instead.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from napari_cathode.cli.options import positive_int

__all__ = ["EXAMPLES", "REVIEWED_SLICES", "register", "run", "unreviewed_dice", "write_inputs"]

EXAMPLES = """examples:
  napari-cathode demo                      # headless, writes ./demo-output
  napari-cathode demo --out /tmp/demo --steps 100
  napari-cathode demo --gui                # open napari with the plugin and the sample
"""

#: Slices of acquisition A whose truth the demo keeps, as a reviewer would have done.
REVIEWED_SLICES = (0, 3)


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="run one round of the loop on the bundled real sample",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    p.add_argument("--steps", type=positive_int, help="training steps (default: the model default)")
    p.add_argument("--gui", action="store_true", help="open napari instead (needs a display)")
    p.set_defaults(func=run)


def _step(title: str, argv: list[str]) -> None:
    from napari_cathode.cli.main import main

    print(f"\n== {title}\n$ napari-cathode {' '.join(argv)}", flush=True)
    code = main(argv)
    if code:
        raise SystemExit(code)


def write_inputs(folder: Path) -> tuple[Path, Path, Path]:
    """Write the bundled sample as TIFFs: image, full truth, and truth on ``REVIEWED_SLICES``."""
    import tifffile

    from napari_cathode.core.io.sample_data import load_acquisition_a

    image, truth = load_acquisition_a()
    folder.mkdir(parents=True, exist_ok=True)
    sparse = truth.copy()
    sparse[[z for z in range(truth.shape[0]) if z not in REVIEWED_SLICES]] = 0
    paths = (folder / "A_image.tif", folder / "A_truth.tif", folder / "A_truth_reviewed.tif")
    for path, data in zip(paths, (image, truth, sparse)):
        tifffile.imwrite(path, data, compression="zlib")
    return paths


def unreviewed_dice(project, truth_path: Path) -> dict:
    """Dice of the project's proposal against the full truth on the slices nobody reviewed."""
    import tifffile

    from napari_cathode.core.metrics import dice_scores, mean_dice

    truth = tifffile.imread(truth_path)
    others = [z for z in range(truth.shape[0]) if z not in REVIEWED_SLICES]
    scores = dice_scores(truth[others], project.proposal[others], project.classes)
    return {"slices": others, "dice": scores, "mean_dice": mean_dice(scores)}


def run(args) -> int:
    if args.gui:
        return subprocess.call([sys.executable, "-m", "napari_cathode._napari.demo"])
    from napari_cathode.core.io.export import export_ome_zarr, merge_labels
    from napari_cathode.core.io.export_tiff import export_tiff
    from napari_cathode.core.project.store import Project

    out: Path = args.out.resolve()
    image, truth, reviewed = write_inputs(out / "inputs")
    project_path = out / "acquisition_a.cathode"
    _step(
        "a project from real NMC nano-CT acquisition A, truth on two slices",
        # From scratch: the shipped starter model was trained on all of acquisition A, so a Dice
        # measured on A's unreviewed slices would flatter it. From scratch, the model has seen
        # only the two reviewed slices and the number below is honest.
        [
            "new",
            str(project_path),
            "--image",
            str(image),
            "--labels",
            str(reviewed),
            "--init-model",
            "none",
            "--overwrite",
        ],
    )
    train = ["train", str(project_path)] + (["--steps", str(args.steps)] if args.steps else [])
    _step("train a round on the two reviewed slices", train)
    _step("propose labels and uncertainty for every slice", ["predict", str(project_path)])
    _step("the round table", ["status", str(project_path)])

    project = Project.open(project_path)
    quality = unreviewed_dice(project, truth)
    print("\n== proposal quality on the unreviewed slices (Dice against the authors' labels)")
    print(json.dumps(quality, indent=2))

    print("\n== export labels (truth, proposal where truth is empty)")
    labels = merge_labels(project.truth, project.proposal)
    ome = export_ome_zarr(
        out / "acquisition_a.ome.zarr",
        project.image,
        labels,
        classes=project.classes,
        voxel_size=project.voxel_size,
        unit=project.unit,
        overwrite=True,
    )
    tiff = export_tiff(
        out / "acquisition_a_labels.tif", labels, voxel_size=project.voxel_size, overwrite=True
    )
    print(f"wrote {ome}\nwrote {tiff}")
    _step(
        "microstructure statistics",
        ["analyze", str(project_path), "--out", str(out / "analysis")],
    )
    (out / "proposal_dice.json").write_text(json.dumps(quality, indent=2))
    print(f"\nDemo finished. Everything is in {out}:")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}")
    print(f"Open it in napari with: napari {project_path}")
    return 0
