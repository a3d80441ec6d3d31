"""``napari-cathode new``: create a project from a volume (and optional initial labels)."""

from __future__ import annotations

import argparse
import sys

EXAMPLES = """examples:
  napari-cathode new sample.cathode --image A.tif
  napari-cathode new sample.cathode --image A.tif --labels A_labels.tif --classes pore,active,binder

labels: 0 = unlabeled, 1..K the classes in --classes order; they become the initial ground
truth, and their slices are marked reviewed for the first round.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "new",
        help="create a project from an image volume",
        description="Create PROJECT (a zarr folder) from --image, optionally with initial "
        "ground truth.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", help="new project folder (conventionally *.cathode)")
    p.add_argument("--image", required=True, help="image volume (TIFF, zarr, HDF5, MRC, ...)")
    p.add_argument("--labels", help="initial ground truth (0 = unlabeled, 1..K)")
    p.add_argument(
        "--classes",
        help="class names, comma-separated (default: pore,active material,carbon-binder)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing project at PROJECT"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from tqdm import tqdm

    from napari_cathode.cli.cmd_train import parse_classes
    from napari_cathode.core.project import Project, ReviewStatus
    from napari_cathode.core.volumes import open_volume
    from napari_cathode.jobs.volume_files import read_labels

    classes = parse_classes(args.classes)
    volume = open_volume(args.image)
    truth = (
        read_labels(args.labels, classes=classes, shape=volume.data.shape) if args.labels else None
    )
    with tqdm(desc="copying", unit="block", file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        project = Project.create(
            args.project,
            volume.data,
            classes=classes,
            voxel_size=volume.voxel_size or (1.0, 1.0, 1.0),
            unit=volume.unit or "px",
            truth=truth,
            source=str(args.image),
            overwrite=args.overwrite,
            progress=progress,
        )
    truth_slices = project.truth_slices()
    if len(truth_slices):
        project.set_review(truth_slices, ReviewStatus.REVIEWED, round=project.next_round_index())
    print(
        f"created {project.path}: shape {project.shape}, classes "
        + ", ".join(f"{c.id}={c.name}" for c in project.classes)
        + f", {len(truth_slices)} slices with ground truth"
    )
    return 0
