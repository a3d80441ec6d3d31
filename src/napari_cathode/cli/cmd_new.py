"""``napari-cathode new``: create a project from a volume (and optional initial labels)."""

from __future__ import annotations

import argparse

__all__ = ["EXAMPLES", "register", "run"]

EXAMPLES = """examples:
  napari-cathode new sample.cathode --image A.tif
  napari-cathode new sample.cathode --image A.tif --labels A_labels.tif --classes pore,active,binder
  napari-cathode new sample.cathode --image A.tif --init-model none      # train from scratch

contiguous slices: a 3D acquisition (FIB-SEM, nano-CT) has contiguous slices, and its rounds
train a 2.5D model that sees each slice with its neighbours; a stack of unrelated 2D images does
not. Without --contiguous / --no-contiguous it is measured from the image (neighbouring slices
correlate) and recorded in PROJECT/project.json.

labels: 0 = unlabeled, 1..K the classes in --classes order; they become the initial ground
truth, and their slices are marked reviewed for the first round.

starting model: the first round starts from the NMC nano-CT starter model shipped with
napari-cathode (--init-model starter, the default when the project has 3 classes), from
scratch (--init-model none), or from a model folder you trained (--init-model PATH). The model
is copied into the project, and every round's model.json records where it started.
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
        "--init-model",
        metavar="starter|none|PATH",
        help="starting model of the first round: the shipped NMC nano-CT model (starter, "
        "default for 3 classes), none (from scratch) or a model folder",
    )
    p.add_argument(
        "--contiguous",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the slices are neighbours in a 3D volume (rounds then train a 2.5D model), or "
        "--no-contiguous: separate 2D images (default: measured from the image)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace an existing project at PROJECT"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.model_options import parse_classes
    from napari_cathode.cli.progress import progress_bar
    from napari_cathode.core.io.volumes import open_volume
    from napari_cathode.jobs.new_project import new_project
    from napari_cathode.jobs.volume_files import read_labels

    classes = parse_classes(args.classes)
    volume = open_volume(args.image)
    truth = (
        read_labels(args.labels, classes=classes, shape=volume.data.shape) if args.labels else None
    )
    with progress_bar("copying", "block") as progress:
        created = new_project(
            args.project,
            volume.data,
            classes=classes,
            truth=truth,
            voxel_size=volume.voxel_size or (1.0, 1.0, 1.0),
            unit=volume.unit or "px",
            source=args.image,
            contiguous=args.contiguous,
            init_model=args.init_model,
            overwrite=args.overwrite,
            inputs=[args.labels],
            progress=progress,
        )
    project = created.project
    print(
        f"created {project.path}: shape {project.shape}, classes "
        + ", ".join(f"{c.id}={c.name}" for c in project.classes)
        + f", {len(created.truth_slices)} slices with ground truth; first round starts from "
        + created.describe_start()
        + f"; slices {_contiguity(project)}"
    )
    return 0


def _contiguity(project) -> str:
    """How the project's slices were judged, for the summary line."""
    from napari_cathode.jobs.project_status import slice_kind

    kind = slice_kind(project.contiguous)
    return f"{kind}: {project.contiguity}" if project.contiguity else kind
