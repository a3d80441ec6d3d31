"""``napari-cathode new``: create a project from a volume (and optional initial labels)."""

from __future__ import annotations

import argparse
import contextlib

EXAMPLES = """examples:
  napari-cathode new sample.cathode --image A.tif
  napari-cathode new sample.cathode --image A.tif --labels A_labels.tif --classes pore,active,binder
  napari-cathode new sample.cathode --image A.tif --init-model none      # train from scratch

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
        "--overwrite", action="store_true", help="replace an existing project at PROJECT"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.cmd_train import parse_classes, progress_bar
    from napari_cathode.core.errors import OutputError
    from napari_cathode.core.outputs import check_not_input, project_containing
    from napari_cathode.core.project import Project, ReviewStatus
    from napari_cathode.core.project_lock import project_lock
    from napari_cathode.core.volumes import open_volume
    from napari_cathode.jobs.training_runs import check_start_model, set_project_start
    from napari_cathode.jobs.volume_files import read_labels

    target = check_not_input(
        args.project,
        [args.image, args.labels, None if args.init_model in (None, "starter", "none")
         else args.init_model],
        what="project",
    )  # fmt: skip
    outer = project_containing(target.parent)
    if outer is not None:
        raise OutputError(
            f"{target} would lie inside the project {outer}; create projects outside other projects"
        )
    classes = parse_classes(args.classes)
    init_model = _default_init_model(args.init_model, classes)
    check_start_model(init_model, classes)  # refuse a bad choice before copying anything
    volume = open_volume(args.image)
    truth = (
        read_labels(args.labels, classes=classes, shape=volume.data.shape) if args.labels else None
    )
    # Replacing a project waits for no one: a job that is writing into it keeps it.
    replacing = args.overwrite and (target / "project.json").is_file()
    lock = project_lock(target, "new --overwrite") if replacing else None
    with lock or contextlib.nullcontext(), progress_bar("copying", "block") as progress:
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
    start = set_project_start(project.path, init_model)
    print(
        f"created {project.path}: shape {project.shape}, classes "
        + ", ".join(f"{c.id}={c.name}" for c in project.classes)
        + f", {len(truth_slices)} slices with ground truth; first round starts from "
        + {"starter": "the NMC nano-CT starter model", "none": "scratch"}.get(
            start["choice"], str(start["source"])
        )
    )
    return 0


def _default_init_model(choice: str | None, classes) -> str:
    """``--init-model`` as given, else the project default (:func:`default_start_choice`)."""
    from napari_cathode.ml.starter import default_start_choice

    return choice if choice is not None else default_start_choice(classes)
