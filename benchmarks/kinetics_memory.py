"""Peak memory of the kinetics pass against the number of time points (issue 15).

Run after ``bench_kinetics.py --part speed`` has rendered the series into ``--workdir``::

    .venv/bin/python benchmarks/kinetics_memory.py --workdir /tmp/kin256 5
    .venv/bin/python benchmarks/kinetics_memory.py --workdir /tmp/kin256 20

Each call is a fresh process: it separates the reference particles, then runs
``analyse_kinetics`` on the first ``T`` time points, and prints one JSON line with the peak RSS
after each step. If the series were held whole, the second peak would grow with ``T``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import tifffile
from bench_kinetics import ACTIVE, analyse_kinetics, separate_particles

from napari_cathode.core.timeseries.series import open_series


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("time_points", type=int, help="analyse the first T time points")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kinetics_bench"))
    args = parser.parse_args()
    series = open_series(args.workdir / "series.zarr")
    classes = tifffile.imread(args.workdir / "classes.tif")
    started = time.perf_counter()
    particles = separate_particles(classes == ACTIVE, h_max=2.0, min_voxels=20)
    after_separation = _peak_mib()
    result = analyse_kinetics(
        series.data[: args.time_points], particles, classes, static_classes=(1, 3)
    )
    report = {
        "time_points": args.time_points,
        "peak_after_separation_mib": round(after_separation),
        "peak_total_mib": round(_peak_mib()),
        "seconds": round(time.perf_counter() - started, 1),
        "fits_ok": int(result.particles["ok"].sum()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
