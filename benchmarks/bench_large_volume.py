"""Benchmark: a generated >= 4 GB zarr volume through new, pyramid, predict and export.

Each step runs as its own child process (the ``napari-cathode`` command, as a user runs it);
wall time comes from the parent's clock and peak RSS from the child's own rusage
(``os.wait4``, the same number ``/usr/bin/time -v`` prints as "Maximum resident set size").

The volume is semi-synthetic: real NMC nano-CT slices of acquisition A
(``../shared/data/segmentpy-nmc-nanoct/stacks/A_image.tif``) tiled to the slice size, shifted
from slice to slice and with seeded noise, saved as uint8. The model has the default
architecture (``ModelConfig()``) with seeded random weights: throughput and memory do not
depend on the weights' values, and training it would cost hours on this machine.

Usage::

    nice -n 10 .venv/bin/python benchmarks/bench_large_volume.py --out /tmp/bench-large \
        --shape 1024 2048 2048 --predict-slices 0-15

Writes ``results.json`` in ``--out`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile
import zarr

REPO = Path(__file__).resolve().parents[1]
ACQUISITION_A = REPO.parent / "shared" / "data" / "segmentpy-nmc-nanoct" / "stacks" / "A_image.tif"
#: The installed command, as a user runs it.
CLI = [str(Path(sys.executable).parent / "napari-cathode")]


def generate_volume(
    path: Path, shape: tuple[int, int, int], *, dtype: str = "uint8", seed: int = 0
) -> float:
    """Write the semi-synthetic volume (0..255 grey values) to a zarr v3 array; seconds taken."""
    started = time.perf_counter()
    source = tifffile.imread(ACQUISITION_A).astype(np.float32)
    low, high = np.percentile(source, (0.5, 99.5))
    source = np.clip((source - low) / (high - low) * 200 + 25, 0, 255)
    depth, size_y, size_x = shape
    reps = (-(-size_y // source.shape[1]) + 1, -(-size_x // source.shape[2]) + 1)
    tiled = [np.tile(plane, reps) for plane in source]
    array = zarr.create_array(
        str(path), shape=shape, dtype=dtype, chunks=(16, 256, 256), overwrite=True
    )
    rng = np.random.default_rng(seed)
    for z0 in range(0, depth, 16):
        z1 = min(depth, z0 + 16)
        block = np.empty((z1 - z0, size_y, size_x), dtype)
        for i, z in enumerate(range(z0, z1)):
            plane = tiled[z % len(tiled)]
            dy, dx = (z * 7) % source.shape[1], (z * 13) % source.shape[2]
            noisy = plane[dy : dy + size_y, dx : dx + size_x] + rng.normal(0, 6, (size_y, size_x))
            block[i] = np.clip(noisy, 0, 255).astype(dtype)
        array[z0:z1] = block
    return time.perf_counter() - started


def add_model_round(project_path: Path) -> str:
    """Save the default architecture with seeded random weights as the project's round 1."""
    import torch

    from napari_cathode.core.project.store import Project
    from napari_cathode.ml.checkpoint import save_model
    from napari_cathode.ml.config import ModelConfig
    from napari_cathode.ml.networks import build_network

    torch.manual_seed(0)
    project = Project.open(project_path)
    config = ModelConfig(classes=project.classes, device="cpu")
    with project.new_round() as folder:
        save_model(folder, build_network(config), config=config, metadata={"benchmark": True})
    return str(project.latest_round().path)


def measured(name: str, argv: list[str], log_dir: Path) -> dict:
    """Run a child process; wall seconds and its peak RSS (MiB) from its own rusage."""
    log_file = log_dir / f"{name}.log"
    started = time.perf_counter()
    with open(log_file, "w") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    child.returncode = code
    if code != 0:
        raise SystemExit(f"{name} failed ({code}); see {log_file}")
    return {"step": name, "seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024}


def parse_range(text: str) -> tuple[int, int]:
    low, high = text.split("-")
    return int(low), int(high)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (needs ~3x volume)")
    parser.add_argument("--shape", type=int, nargs=3, default=(1024, 2048, 2048))
    parser.add_argument(
        "--predict-slices", default=None, help="z range predicted, e.g. 0-15 (default all)"
    )
    parser.add_argument("--dtype", default="uint8", choices=("uint8", "uint16", "float32"))
    parser.add_argument("--skip", nargs="*", default=(), help="steps to skip (generate, new...)")
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    voxels = int(np.prod(shape))
    nbytes = voxels * np.dtype(args.dtype).itemsize
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    volume, project = out / "volume.zarr", out / "big.cathode"
    results: dict = {
        "machine": f"{platform.node()} {os.cpu_count()} cores, shared with other jobs",
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "shape": shape,
        "voxels": voxels,
        "bytes": nbytes,
        "dtype": args.dtype,
        "data": "semi-synthetic (real acquisition A slices tiled, shifted, seeded noise), "
        + args.dtype,
        "steps": [],
    }

    def save() -> None:
        (out / "results.json").write_text(json.dumps(results, indent=2))

    if "generate" not in args.skip:
        results["generate_seconds"] = generate_volume(volume, shape, dtype=args.dtype)
        save()
    if "new" not in args.skip:
        shutil.rmtree(project, ignore_errors=True)
        step = measured("new", [*CLI, "new", str(project), "--image", str(volume)], out)
        results["steps"].append({**step, "voxels": voxels})
        save()
        results["model"] = add_model_round(project)
    if "predict" not in args.skip:
        predict = [*CLI, "predict", str(project), "--device", "cpu"]
        first, last = (0, shape[0] - 1)
        if args.predict_slices:
            first, last = parse_range(args.predict_slices)
            predict += ["--slices", f"{first}-{last}"]
        step = measured("predict", predict, out)
        results["steps"].append({**step, "voxels": (last - first + 1) * shape[1] * shape[2]})
        save()
    if "export" not in args.skip:
        export = [*CLI, "export", str(project), "--out", str(out / "big.ome.zarr"), "--overwrite"]
        step = measured("export", export, out)
        results["steps"].append({**step, "voxels": voxels})
        save()
    print("| step | voxels | wall s | Mvoxel/s | peak RSS MiB |\n|---|---|---|---|---|")
    for step in results["steps"]:
        rate = step["voxels"] / step["seconds"] / 1e6
        print(
            f"| {step['step']} | {step['voxels']:,} | {step['seconds']:.1f} | {rate:.2f} "
            f"| {step['peak_rss_mib']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
