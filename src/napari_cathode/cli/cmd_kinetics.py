"""``napari-cathode kinetics``: follow every particle of a project's time series.

Writes ``DIR/trajectories.csv`` (mean, spread and switched fraction of each particle at each
time point), ``DIR/particles.csv`` (fitted onset time and rate, flags), ``DIR/frames.csv``
(drift and intensity normalisation per time point), Parquet copies when pyarrow is installed,
and ``DIR/summary.json``.
"""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["EXAMPLE", "register", "run"]

log = logging.getLogger(__name__)

EXAMPLE = """\
examples:
  # first time: create a project from the reference time point, segment it, attach the series
  napari-cathode new cell.cathode t05.tif
  napari-cathode predict cell.cathode
  napari-cathode kinetics cell.cathode --series series_folder/ --reference 5 --out kinetics/
  # later runs use the attached series
  napari-cathode kinetics cell.cathode --out kinetics/ --mode predict

The series: an OME-Zarr/HDF5/zarr/TIFF with a time axis, a folder of volume files (one per
time point, natural sort order) or several files. Registration is translation-only (phase
correlation); the fit is a logistic in time: onset = half conversion, rate per time point.
"""


def register(sub) -> None:
    """Add the ``kinetics`` command to the ``napari-cathode`` parser."""
    p = sub.add_parser(
        "kinetics",
        help="per-particle grey-value kinetics of a time series (onset, rate, front)",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", metavar="PROJECT", help="project folder (its reference time point)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument(
        "--series",
        nargs="+",
        metavar="PATH",
        help="attach this series (file, folder or files in time order) to the project",
    )
    p.add_argument(
        "--reference", type=int, help="time point the project's image is (with --series)"
    )
    p.add_argument("--dataset", help="array inside an HDF5 file or zarr group (with --series)")
    p.add_argument("--axes", help="axis letters of a series file that does not name them, e.g. tyx")
    p.add_argument(
        "--mode",
        choices=("static", "predict"),
        default="static",
        help="static: move the reference particles with the drift (default); predict: segment "
        "every time point with the project model and match particles by overlap",
    )
    p.add_argument("--particle-class", default="active", metavar="NAME")
    p.add_argument(
        "--static-classes",
        default="pore,binder",
        metavar="NAMES",
        help="classes that do not react, for the intensity normalisation (default pore,binder)",
    )
    p.add_argument("--h-max", type=float, default=2.0, help="watershed seed height (default 2)")
    p.add_argument("--min-particle-voxels", type=int, default=20)
    p.add_argument("--device", default="auto", help="for --mode predict: auto, cpu or cuda")
    p.set_defaults(func=run)


class _StageBars:
    """One tqdm bar per stage on stderr, fed by ``progress(stage, done, total)``."""

    def __init__(self) -> None:
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, file=sys.stderr, leave=False)
        bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def run(args: argparse.Namespace) -> int:
    from napari_cathode.jobs.kinetics_job import KineticsRequest, run_kinetics

    request = KineticsRequest(
        project=args.project,
        out=args.out,
        series=tuple(args.series or ()),
        reference=args.reference,
        dataset=args.dataset,
        axes=args.axes,
        mode=args.mode,
        particle_class=args.particle_class,
        static_classes=tuple(n for n in args.static_classes.split(",") if n.strip()),
        h_max=args.h_max,
        min_voxels=args.min_particle_voxels,
        device=args.device,
    )
    bars = _StageBars()
    try:
        output = run_kinetics(request, progress=bars)
    finally:
        bars.close()
    fits = output.result.particles
    ok = fits[fits["ok"]]
    print(
        f"{len(fits)} particles over {len(output.result.frames)} time points; "
        f"{len(ok)} fitted: median onset {ok['onset'].median():.2f}, "
        f"median rate {ok['rate'].median():.3f} per time point ({output.seconds:.1f} s)"
    )
    for path in output.files:
        print(path)
    return 0
