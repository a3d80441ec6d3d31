"""``napari-cathode analyze``: microstructure numbers of a segmentation, headless.

Writes ``DIR/summary.json``, ``DIR/particles.csv`` and ``DIR/psd.png`` (and with
``--save-instances`` the particle and crack instance labels as TIFF).
"""

from __future__ import annotations

import argparse
import logging

from napari_cathode.cli.options import non_negative_int, positive_float, positive_int
from napari_cathode.core.errors import CathodeError

__all__ = ["AXES", "EXAMPLE", "register", "run"]

log = logging.getLogger(__name__)

EXAMPLE = """\
example:
  napari-cathode analyze NMC.tif --out results/ --class-map 0=pore,128=active,255=binder
  napari-cathode analyze sample.cathode --out results/ --voxel-size 0.05 0.02 0.02 --unit µm

Value 0 in a labels file without --class-map means unlabeled: it is left out of the volume
fractions. Volume fractions and surface areas are computed block by block (any volume size);
particles and pore connectivity need the particle / pore phase of the whole volume in memory.
"""

AXES = {"z": 0, "y": 1, "x": 2}


def _roi(text: str) -> tuple[slice, ...]:
    """``"z0:z1,y0:y1,x0:x1"`` (any bound may be empty) → a tuple of slices."""
    parts = text.split(",")
    if len(parts) != 3:
        raise argparse.ArgumentTypeError(f"--roi {text!r} needs three ranges z0:z1,y0:y1,x0:x1")
    slices = []
    for part in parts:
        bounds = part.split(":")
        try:
            start, stop = (int(b) if b.strip() else None for b in bounds)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--roi range {part!r} must be START:STOP with integers, e.g. 0:100"
            ) from None
        slices.append(slice(start, stop))
    return tuple(slices)


def register(sub) -> None:
    """Add the ``analyze`` command to the ``napari-cathode`` parser."""
    p = sub.add_parser(
        "analyze",
        help="volume fractions, particle sizes, cracks and pore network of a segmentation",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "labels",
        metavar="LABELS_OR_PROJECT",
        help="labels volume (TIFF, zarr, HDF5, ...) or a project folder",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out folder written by an earlier analyze",
    )
    p.add_argument(
        "--voxel-size",
        nargs=3,
        type=positive_float,
        metavar=("Z", "Y", "X"),
        help="voxel size, overrides the file's",
    )
    p.add_argument("--unit", help="length unit of the voxel size, e.g. nm or µm")
    p.add_argument(
        "--classes",
        type=lambda s: [n for n in s.split(",") if n.strip()],
        metavar="NAMES",
        help="names of classes 1..K, e.g. pore,active,binder",
    )
    p.add_argument(
        "--class-map", metavar="MAP", help="file value → class, e.g. 0=pore,128=active,255=binder"
    )
    p.add_argument("--dataset", help="array inside an HDF5 file or zarr group")
    p.add_argument(
        "--particle-class",
        default="active",
        metavar="NAME",
        help="class holding the particles (default: the one named like 'active')",
    )
    p.add_argument(
        "--pore-class",
        default="pore",
        metavar="NAME",
        help="class whose connectivity is measured (default: 'pore')",
    )
    p.add_argument(
        "--h-max",
        type=positive_float,
        default=2.0,
        help="watershed seed height in voxels; larger merges more (default 2)",
    )
    p.add_argument(
        "--min-particle-voxels",
        type=non_negative_int,
        default=20,
        help="drop particles smaller than this (default 20)",
    )
    p.add_argument(
        "--closing-radius",
        type=non_negative_int,
        default=0,
        help="also count surface-open cracks narrower than ~2x this (default 0)",
    )
    p.add_argument(
        "--min-crack-voxels",
        type=positive_int,
        default=3,
        help="crack voxels that make a particle cracked (default 3)",
    )
    p.add_argument(
        "--axis",
        choices=sorted(AXES),
        default="z",
        help="pore connectivity between the two faces along this axis (default z)",
    )
    p.add_argument(
        "--exclude-border",
        action="store_true",
        help="leave particles cut by the volume border out of the size distribution",
    )
    p.add_argument(
        "--roi",
        type=_roi,
        metavar="Z0:Z1,Y0:Y1,X0:X1",
        help="also report volume fractions inside this box",
    )
    p.add_argument(
        "--save-instances",
        action="store_true",
        help="also write particles.tif and cracks.tif (instance labels)",
    )
    p.set_defaults(func=run)


class _Bars:
    """One tqdm bar per analysis stage, fed by the core's ``progress(stage, done, total)``."""

    def __init__(self) -> None:
        self._bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=stage, unit="block", leave=False)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del self._bars[stage]


def run(args: argparse.Namespace) -> int:
    """Run the analysis and print the headline numbers."""
    from napari_cathode.core.analysis.sources import open_labels_source
    from napari_cathode.core.analysis.summary import AnalysisConfig
    from napari_cathode.jobs.analysis_job import analyse, check_analysis_folder, save_analysis

    # Before any work: the output must not be an input, a project, a file or foreign data.
    check_analysis_folder(args.out, inputs=[args.labels], overwrite=args.overwrite, what="--out")
    source = open_labels_source(
        args.labels,
        class_names=args.classes,
        class_map=args.class_map,
        voxel_size=args.voxel_size,
        unit=args.unit,
        dataset=args.dataset,
    )
    config = AnalysisConfig(
        particle_class=args.particle_class,
        pore_class=args.pore_class,
        h_max=args.h_max,
        min_particle_voxels=args.min_particle_voxels,
        closing_radius=args.closing_radius,
        min_crack_voxels=args.min_crack_voxels,
        connectivity_axis=AXES[args.axis],
        exclude_border_particles=args.exclude_border,
    )
    if args.roi is not None and len(args.roi) != len(source.data.shape):
        raise CathodeError(f"--roi needs one range per axis of {source.data.shape}")
    result = analyse(source, config, region=args.roi, progress=_Bars())
    written = save_analysis(
        result,
        args.out,
        inputs=[args.labels],
        overwrite=args.overwrite,
        save_instances=args.save_instances,
        what="--out",
    )
    summary = result.to_summary()
    unit = summary["length_unit"]
    print(f"{source.path}: {result.shape[0]}x{result.shape[1]}x{result.shape[2]} voxels")
    for name, fraction in summary["volume_fraction"].items():
        print(f"  volume fraction {name:<24} {fraction:.4f}")
    particles = summary["particles"]
    if particles["count"]:
        left_out = ", left out of the sizes" if args.exclude_border else ""
        print(
            f"  particles {particles['count']} ({particles['touching_border']} of "
            f"{particles['measured']} cut by the border{left_out}), "
            f"d10/d50/d90 = {particles['d10']:.3g}/{particles['d50']:.3g}/"
            f"{particles['d90']:.3g} {unit}, dv50 = {particles['dv50']:.3g} {unit}, "
            f"cracked {particles['cracked_fraction']:.1%}"
        )
    else:
        print(f"  no particle of class {particles['class']!r} found")
    if summary["pore_connectivity"] is not None:
        print(f"  pore connectivity along {args.axis}: {summary['pore_connectivity']:.4f}")
    for name, path in written.items():
        print(f"  wrote {name}: {path}")
    return 0
