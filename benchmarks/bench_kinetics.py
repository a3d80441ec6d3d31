"""Kinetics of time series (issue 15): accuracy on semi-synthetic operando series, and speed.

Parts (``--part``):

- ``accuracy``: real 3D NMC geometry (``slicegan-nmc-3phase/NMC.tif``) and the real 2D NMC
  segmentation (``superres-nmc-slice``), rendered as operando series with exact answers
  (:mod:`napari_cathode.core.timeseries.operando`): onset/rate errors of the logistic fits with
  estimated drift, switched-fraction error on shrinking-core particles, and instance matching
  when every time point is segmented on its own (the true geometry moved by the true drift,
  re-separated into particles) and matched with the *estimated* drift.
- ``speed``: a 20 × 256³ float32 series (NMC geometry mirrored to 256³) written to zarr, then
  the whole kinetics (particle separation, registration, statistics, fits) timed in a fresh
  process whose peak memory is read from ``getrusage``.

Run: ``.venv/bin/python benchmarks/bench_kinetics.py --part all`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, header

from napari_cathode.core.analysis.particles import separate_particles
from napari_cathode.core.timeseries.operando import ACTIVE, nmc_classes, render_operando
from napari_cathode.core.timeseries.pipeline import analyse_kinetics
from napari_cathode.core.timeseries.tracking import ShiftedLabels, match_instances

DATA = ROOT.parent / "shared" / "data"
NMC_3D = DATA / "slicegan-nmc-3phase" / "NMC.tif"
NMC_2D = DATA / "superres-nmc-slice" / "large_slice_nmc.tif"
SECTION = ROOT / "docs" / "benchmarks.d" / "kinetics.md"
log = logging.getLogger("bench_kinetics")


def fit_errors(result, truth) -> dict:
    """Median onset error (frames) and rate error (relative) over all particles."""
    fits = result.particles
    fits = fits[fits["particle"] < truth.onset.size]  # not the instances that appeared
    ids = fits["particle"].to_numpy()
    onset = np.abs(fits["onset"].to_numpy() - truth.onset[ids])
    rate = np.abs(fits["rate"].to_numpy() / truth.rate[ids] - 1)
    failed = ~fits["ok"].to_numpy()
    onset[failed], rate[failed] = np.inf, np.inf  # a failed fit counts as a miss
    traj = result.trajectories.pivot(
        index="time_point", columns="particle", values="switched_fraction"
    )
    core = truth.shrinking_core[ids]
    switched = np.nanmean(np.abs(traj.to_numpy()[:, core] - truth.switched[:, ids[core]]))
    drift_error = np.abs(result.drift - truth.drift)
    return {
        "particles": int(ids.size),
        "fits_ok": int((~failed).sum()),
        "median_onset_error_frames": float(np.median(onset)),
        "p90_onset_error_frames": float(np.percentile(onset, 90)),
        "median_rate_error": float(np.median(rate)),
        "p90_rate_error": float(np.percentile(rate, 90)),
        "switched_fraction_mae_shrinking_core": float(switched),
        "shrinking_core_particles": int(core.sum()),
        "drift_error_mean_voxels": drift_error.mean(axis=0).round(3).tolist(),
        "drift_error_max_voxels": drift_error.max(axis=0).round(3).tolist(),
        "true_drift_range_voxels": np.ptp(truth.drift, axis=0).round(2).tolist(),
    }


def matching_accuracy(frames, truth, drift, every: int = 3) -> dict:
    """Segment time points on their own, match with the estimated drift, score identities.

    Every ``every``-th time point (the particle watershed per time point is the slow part).
    A current instance's true identity is the reference particle (moved by the *true* drift)
    holding most of it; instances without one (outside the reference field of view) are not
    scored.
    """
    correct = total = 0
    flags = {"split": 0, "appeared": 0, "disappeared": 0, "merged": 0}
    for t in range(every, frames.shape[0], every):
        classes = ndi.shift(truth.classes, truth.drift[t], order=0, mode="nearest")
        current = separate_particles(classes == ACTIVE, h_max=2.0, min_voxels=20)
        offset = np.round(drift[t] - drift[0])
        match = match_instances(ShiftedLabels(truth.particles, offset)[...], current)
        for key in flags:
            flags[key] += len(getattr(match, key))
        true_ref = ShiftedLabels(truth.particles, np.round(truth.drift[t]))[...]
        for j in np.unique(current[current > 0]):
            ids, counts = np.unique(true_ref[current == j], return_counts=True)
            best = np.argmax(counts)
            if ids[best] == 0 or counts[best] < 0.5 * counts.sum():
                continue  # no true identity (outside the reference field of view)
            total += 1
            correct += int(match.mapping.get(int(j)) == int(ids[best]))
    return {
        "time_points_scored": len(range(every, frames.shape[0], every)),
        "instances_scored": total,
        "correct": correct,
        "accuracy": correct / max(total, 1),
        "flags": flags,
    }


def accuracy(save) -> dict:
    results = {}
    classes = nmc_classes(tifffile.imread(NMC_3D))
    started = time.perf_counter()
    frames, truth = render_operando(classes, time_points=24, seed=15)
    result = analyse_kinetics(frames, truth.particles, truth.classes, static_classes=(1, 3))
    results["nmc_3d"] = {
        "shape": list(frames.shape),
        **fit_errors(result, truth),
        "seconds": time.perf_counter() - started,
    }
    log.info("3D: %s", results["nmc_3d"])
    save(results)
    results["nmc_3d"]["matching"] = matching_accuracy(frames, truth, result.drift)
    log.info("matching: %s", results["nmc_3d"]["matching"])
    save(results)
    slice_classes = nmc_classes(tifffile.imread(NMC_2D))
    started = time.perf_counter()
    frames, truth = render_operando(slice_classes, time_points=24, seed=16)
    result = analyse_kinetics(frames, truth.particles, truth.classes, static_classes=(1, 3))
    results["nmc_2d"] = {
        "shape": list(frames.shape),
        **fit_errors(result, truth),
        "seconds": time.perf_counter() - started,
    }
    log.info("2D: %s", results["nmc_2d"])
    return results


def make_big(path: Path, time_points: int = 20, side: int = 256) -> None:
    import zarr

    classes = nmc_classes(tifffile.imread(NMC_3D))
    pad = [(0, max(0, side - n)) for n in classes.shape]
    classes = np.pad(classes, pad, mode="symmetric")[:side, :side, :side]
    store = zarr.open_array(
        str(path / "series.zarr"),
        mode="w",
        shape=(time_points, side, side, side),
        chunks=(1, 64, side, side),
        dtype="float32",
    )
    _, truth = render_operando(classes, time_points=time_points, seed=20, out=store)
    tifffile.imwrite(path / "classes.tif", classes)
    np.save(path / "drift.npy", truth.drift)


def analyse_big(path: Path) -> dict:
    """Child process: the whole kinetics of the big series, timed, with peak memory."""
    from napari_cathode.core.timeseries.series import open_series

    started = time.perf_counter()
    series = open_series(path / "series.zarr")
    classes = tifffile.imread(path / "classes.tif")
    particles = separate_particles(classes == ACTIVE, h_max=2.0, min_voxels=20)
    separated = time.perf_counter()
    result = analyse_kinetics(series.data, particles, classes, static_classes=(1, 3))
    seconds = time.perf_counter() - started
    drift = np.load(path / "drift.npy")
    return {
        "shape": list(series.data.shape),
        "seconds_total": seconds,
        "seconds_particle_separation": separated - started,
        "particles": int(particles.max()),
        "fits_ok": int(result.particles["ok"].sum()),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "cpu_seconds": resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "load_average_after": list(os.getloadavg()),
        "series_bytes_mib": float(np.prod(series.data.shape) * 4 / 2**20),
        "drift_error_max_voxels": np.abs(result.drift - drift).max(axis=0).round(3).tolist(),
    }


def speed(workdir: Path, side: int) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if not (workdir / "drift.npy").exists():
        make_big(workdir, side=side)
    render = time.perf_counter() - started
    child = subprocess.run(
        [sys.executable, __file__, "--part", "child", "--workdir", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
    )
    result = json.loads(child.stdout.strip().splitlines()[-1])
    result["seconds_render_and_write"] = render
    return result


def write_section(results: dict) -> None:
    lines = [
        "## Time series kinetics (issue 15)\n",
        header(
            "Per-particle kinetics of operando series",
            data="semi-synthetic: real NMC geometry (slicegan-nmc-3phase 3D labels; "
            "superres-nmc-slice 2D labels) with synthetic grey values, per-particle logistic "
            "conversion (a third as shrinking cores), sub-voxel drift (random walk), Gaussian "
            "blur σ=1, a −20 % linear gain change, Gaussian noise σ=0.04 (grey levels "
            "0.15–0.80); 24 time points",
        ),
    ]
    for key, title in (("nmc_3d", "3D NMC geometry"), ("nmc_2d", "2D NMC movie (t, y, x)")):
        r = results.get("accuracy", {}).get(key)
        if not r:
            continue
        lines += [
            f"\n**{title}**, series {r['shape']}: {r['particles']} particles, "
            f"{r['fits_ok']} fits ok ({r['seconds']:.0f} s)\n",
            "| quantity | median | 90th percentile | target |",
            "|---|---|---|---|",
            f"| onset error (frames) | {r['median_onset_error_frames']:.2f} | "
            f"{r['p90_onset_error_frames']:.2f} | ≤ 1 |",
            f"| rate error (relative) | {r['median_rate_error']:.1%} | "
            f"{r['p90_rate_error']:.1%} | ≤ 10 % |",
            "",
            f"- switched fraction, mean absolute error on the {r['shrinking_core_particles']} "
            f"shrinking-core particles: {r['switched_fraction_mae_shrinking_core']:.3f}",
            f"- drift error mean / max (z, y, x voxels): {r['drift_error_mean_voxels']} / "
            f"{r['drift_error_max_voxels']} (true drift range {r['true_drift_range_voxels']})",
        ]
        m = r.get("matching")
        if m:
            lines += [
                f"- instance matching ({m['time_points_scored']} time points, each re-segmented "
                "by the particle watershed on the true geometry moved by the true drift, matched "
                f"with the *estimated* drift): {m['correct']} / {m['instances_scored']} = "
                f"**{m['accuracy']:.2%}** correct (target ≥ 98 %); flags raised {m['flags']}",
            ]
    s = results.get("speed")
    if s:
        lines += [
            f"\n**Speed**, series {s['shape']} float32 ({s['series_bytes_mib']:.0f} MiB) in zarr: "
            f"whole kinetics **{s['seconds_total']:.0f} s** wall (target ≤ 300 s on 2 cores), of "
            f"which particle separation {s['seconds_particle_separation']:.0f} s; "
            f"{s['cpu_seconds']:.0f} CPU seconds (on an idle 2-core machine the wall time would "
            f"lie between half of that and all of it: most steps use one core); load average "
            f"afterwards {s['load_average_after'][0]:.1f} "
            f"(other engineers' jobs on the same 2 cores); peak memory "
            f"{s['peak_rss_mib']:.0f} MiB (the series is read by 4-Mvoxel blocks; the reference "
            f"labels are held whole); {s['particles']} particles, {s['fits_ok']} fits ok; "
            f"drift error max {s['drift_error_max_voxels']}. Rendering and writing the series "
            f"took {s['seconds_render_and_write']:.0f} s (not counted).",
        ]
        voxels = float(np.prod(s["shape"]))
        full = 20 * 256**3
        if voxels < full:
            factor = full / voxels
            lines += [
                f"\n**Not measured at 20 × 256³**: on this shared VM (load average ~20 on 2 "
                "cores, our job niced) rendering the 256³ series alone did not finish in 20 "
                "minutes, so the run above is a smaller series. Scaling its CPU time by the "
                f"voxel ratio ({factor:.0f}×, every step but the fixed 128³ registration box is "
                f"linear or better in voxels) gives about {s['cpu_seconds'] * factor:.0f} CPU "
                "seconds for 20 × 256³ — an *extrapolation*, to be confirmed by "
                "`--part speed --side 256` on an idle 2-core machine.",
            ]
    lines += [
        "\nNotes: failed fits count as misses (infinite error) in the medians. The 2D movie is "
        "rendered from the superres-nmc-slice *segmentation* (that folder holds labels, no raw "
        "grey values), so both series are semi-synthetic. Split/merge/appear/disappear flags "
        "in the matching run come from the watershed cutting the moved geometry differently "
        "at some time points (and particles leaving the field of view), not from wrong "
        "identities. The machine was shared with ~6 other engineers' jobs (load average "
        "about 20 on 2 cores during these runs), so all times are inflated.",
    ]
    SECTION.parent.mkdir(parents=True, exist_ok=True)
    SECTION.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("accuracy", "speed", "all", "child"), default="all")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/kinetics_bench"))
    parser.add_argument("--json", type=Path, default=Path("/tmp/kinetics_bench.json"))
    parser.add_argument("--side", type=int, default=256, help="side of the speed series (256)")
    args = parser.parse_args()
    if args.part == "child":
        print(json.dumps(analyse_big(args.workdir)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    results = json.loads(args.json.read_text()) if args.json.exists() else {}
    if args.part in ("accuracy", "all"):

        def save(part: dict) -> None:
            results["accuracy"] = part
            args.json.write_text(json.dumps(results, indent=2))

        save(accuracy(save))
    if args.part in ("speed", "all"):
        results["speed"] = speed(args.workdir, args.side)
        args.json.write_text(json.dumps(results, indent=2))
    write_section(results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
