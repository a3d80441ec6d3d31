"""(c) Blockwise prediction against plain MONAI ``sliding_window_inference``, same weights.

Both run on the same real volume (acquisition A's slices repeated along z), each in its own
fresh process so peak memory is comparable: ours = ``jobs.prediction_job.predict_array``
(blockwise, whole-slice windows, labels + uncertainty written per block); baseline = the plain
MONAI recipe on the whole volume (normalise and compute the model's input channels for the whole
volume, ``sliding_window_inference`` over 2D windows of the training patch size, overlap 0.25,
Gaussian blending, then argmax of the full probability volume). Agreement = fraction of voxels
with the same label.

    .venv/bin/python benchmarks/prediction.py --write
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _common import dump, header, load, write_section


def volume(repeat: int, aligned: bool = False) -> np.ndarray:
    """A's slices repeated; ``aligned`` crops y/x to multiples of 16 (the U-Net's grid)."""
    image, _ = load("A")
    if aligned:
        image = image[:, : image.shape[1] // 16 * 16, : image.shape[2] // 16 * 16]
    return np.concatenate([image] * repeat)


def worker(method: str, model_dir: str, repeat: int, window: int, out: str, aligned: bool) -> None:
    import torch

    from napari_cathode.jobs.prediction_job import make_predictor, predict_array
    from napari_cathode.ml.checkpoint import load_model
    from napari_cathode.ml.features import plane_features

    torch.set_num_threads(2)
    image = volume(repeat, aligned)
    model = load_model(model_dir)
    # warm-up on one slice (first-call allocations), outside the timing
    predict_array(model, image[:1], device="cpu")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if method == "ours":
        labels, _ = predict_array(model, image, device="cpu")
    else:
        from monai.inferers import sliding_window_inference

        predictor = make_predictor(model, image, device="cpu")
        config = model.config
        normalised = predictor.normalization.apply(image)
        inputs = np.stack(
            [
                plane_features(
                    p[None], feature_set=config.input_features, sigmas=config.feature_sigmas
                )
                for p in normalised
            ]
        )
        with torch.inference_mode():
            logits = sliding_window_inference(
                torch.from_numpy(inputs),
                roi_size=(window, window),
                sw_batch_size=8,
                predictor=model.network,
                overlap=0.25,
                mode="gaussian",
                padding_mode="reflect",
            )
            probs = torch.softmax(logits, dim=1)  # the full probability volume
            index = probs.argmax(dim=1).numpy()
        labels = np.array([c.id for c in config.classes], np.uint8)[index]
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    np.save(out + ".npy", labels)
    Path(out + ".json").write_text(
        json.dumps(
            {
                "seconds": seconds,
                "voxels": int(image.size),
                "peak_rss_mb": peak / 1024,
                "peak_rss_growth_mb": (peak - rss_before) / 1024,
            }
        )
    )


def run_pair(args: argparse.Namespace, aligned: bool) -> dict:
    """Ours and the baseline on one volume, alternating, each run in a fresh process.

    Seconds are the median over ``args.runs`` runs of each; memory is the largest seen.
    """
    runs: dict[str, list[dict]] = {"ours": [], "monai": []}
    labels = {}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.runs):
            for method in ("ours", "monai"):
                out = f"{work}/{method}"
                command = [sys.executable, __file__, "--worker", method, "--out", out]
                command += ["--model", args.model, "--repeat", str(args.repeat)]
                command += ["--window", str(args.window)] + (["--aligned"] if aligned else [])
                subprocess.run(command, check=True)
                runs[method].append(json.loads(Path(out + ".json").read_text()))
                labels[method] = np.load(out + ".npy")
    results: dict = {}
    for method, measured in runs.items():
        results[method] = {
            "seconds": float(np.median([r["seconds"] for r in measured])),
            "all_seconds": [round(r["seconds"], 2) for r in measured],
            "voxels": measured[0]["voxels"],
            "peak_rss_mb": max(r["peak_rss_mb"] for r in measured),
            "peak_rss_growth_mb": max(r["peak_rss_growth_mb"] for r in measured),
        }
    results["agreement"] = float(np.mean(labels["ours"] == labels["monai"]))
    results["ratio"] = results["monai"]["seconds"] / results["ours"]["seconds"]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the shipped starter model)")
    parser.add_argument("--repeat", type=int, default=8, help="copies of A's 5 slices along z")
    parser.add_argument("--window", type=int, help="baseline roi (default: training patch)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each method (median)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--aligned", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.model is None:
        from napari_cathode.ml.starter import starter_model_dir

        args.model = str(starter_model_dir())
    if args.window is None:
        from napari_cathode.core.model_document import read_model_document

        args.window = int(read_model_document(args.model)["config"]["patch_size"][-1])
    if args.worker:
        worker(args.worker, args.model, args.repeat, args.window, args.out, args.aligned)
        return
    runs = {"full": run_pair(args, aligned=False), "aligned": run_pair(args, aligned=True)}
    lines = [
        "| volume | method | seconds (median) | runs (s) | Mvoxel/s | peak RSS (MB) | "
        "RSS growth while predicting (MB) | ratio ours / MONAI | label agreement |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, results in runs.items():
        shape = volume(args.repeat, aligned=key == "aligned").shape
        where = f"{shape[0]}×{shape[1]}×{shape[2]}" + (
            " (y/x cropped to multiples of 16)" if key == "aligned" else " (A as stored)"
        )
        for method, name in (
            ("ours", "napari-cathode blockwise (whole slices, + uncertainty)"),
            ("monai", f"plain `sliding_window_inference`, roi {args.window}², overlap 0.25"),
        ):
            r = results[method]
            lines.append(
                f"| {where} | {name} | {r['seconds']:.1f} | "
                + ", ".join(f"{x:.1f}" for x in r["all_seconds"])
                + " | "
                f"{r['voxels'] / r['seconds'] / 1e6:.2f} | {r['peak_rss_mb']:.0f} | "
                f"{r['peak_rss_growth_mb']:.0f} | "
                + (
                    f"**{results['ratio']:.2f}×** | **{results['agreement'] * 100:.2f} %** |"
                    if method == "ours"
                    else "| |"
                )
            )
    text = "\n".join(lines)
    print(text)
    dump(args.json, runs)
    if args.write:
        write_section(
            "prediction",
            header(
                "(c) Prediction throughput and memory vs plain MONAI sliding window",
                data=f"real — acquisition A (5 slices 499×601) repeated {args.repeat}× along z; "
                "the second volume is the same cropped to 496×592",
            )
            + f"\nModel: `{Path(args.model).name}` (same weights for both), CPU, 2 threads, "
            f"each run in a fresh process after a one-slice warm-up, {args.runs} runs of each "
            "method alternating (median seconds). Our run also writes the "
            "uncertainty; the baseline holds the full probability volume. Baseline: "
            "`sliding_window_inference(roi=(128, 128), sw_batch_size=8, overlap=0.25, "
            "mode='gaussian', padding_mode='reflect')`, then softmax and argmax.\n\n"
            + text
            + "\n\n"
            + AGREEMENT_NOTE,
        )


AGREEMENT_NOTE = """Why agreement depends on the crop: a U-Net with four stride-2 downsamplings is
not shift-equivariant, and this model has many voxels where pore and binder are nearly tied. Our
prediction puts the downsampling grid at pixel 0 of every slice (padding only at the end), as
MONAI's tiles do, except that MONAI's last tile in each row/column is aligned to the slice's end,
which on 499×601 slices is off the grid (499 − 128 = 371 is not a multiple of 16). Where every
tile is on the grid (496×592) the two agree on ≥ 99.5 % of voxels; the remaining differences are
the tiles' missing context (128² windows vs whole slices). Before this was understood, our
prediction padded symmetrically (as MONAI does for a window larger than the image) and agreed on
only 95.3 % (previous run)."""


if __name__ == "__main__":
    main()
