"""``napari-cathode export``: a project's labels to OME-Zarr or TIFF, locally or on a cluster."""

from __future__ import annotations

import argparse

__all__ = ["EXAMPLES", "register", "run"]

EXAMPLES = """examples:
  napari-cathode export sample.cathode --out sample.ome.zarr
  napari-cathode export sample.cathode --out labels.tif --format tiff
  napari-cathode export sample.cathode --out truth.ome.zarr --truth-only
  napari-cathode export big.cathode --out big.ome.zarr --scheduler tcp://head-node:8786

The labels are the ground truth where a human painted it, else the model's proposal
(--truth-only: the ground truth alone, 0 elsewhere). The Export dock has the same options.
OME-Zarr holds the image and a multiscale label image with class names and colours.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="export a project's labels (OME-Zarr or TIFF)",
        description="Write PROJECT's labels (truth over proposal) to --out, chunk by chunk.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", help="project folder (*.cathode)")
    p.add_argument("--out", required=True, help="output: *.ome.zarr folder or *.tif file")
    p.add_argument(
        "--format",
        choices=("ome-zarr", "tiff"),
        help="output format (default: from the --out suffix, else ome-zarr)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a dask.distributed cluster: scheduler address (tcp://host:8786) or "
        "scheduler file (*.json); --out must be on a file system every worker sees "
        "(default: local threads)",
    )
    p.add_argument(
        "--truth-only",
        action="store_true",
        help="export the ground truth alone (0 = unlabeled), not truth over proposal",
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing export")
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.progress import progress_bar
    from napari_cathode.core.project.store import Project
    from napari_cathode.jobs.export_job import export_project

    fmt = args.format or ("tiff" if args.out.lower().endswith((".tif", ".tiff")) else "ome-zarr")
    project = Project.open(args.project, mode="r")
    with progress_bar("exporting", "level") as progress:
        result = export_project(
            project,
            args.out,
            format=fmt,
            scheduler=args.scheduler,
            overwrite=args.overwrite,
            truth_only=args.truth_only,
            progress=progress,
        )
    print(f"exported {project.path} to {result.path} ({result.format}) in {result.seconds:.1f} s")
    return 0
