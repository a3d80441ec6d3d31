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


def volume(repeat: int) -> np.ndarray:
    image, _ = load("A")
    return np.concatenate([image] * repeat)


def worker(method: str, model_dir: str, repeat: int, window: int, out: str) -> None:
    import torch

    from napari_cathode.jobs.prediction_job import make_predictor, predict_array
    from napari_cathode.ml.checkpoint import load_model
    from napari_cathode.ml.features import plane_features

    torch.set_num_threads(2)
    image = volume(repeat)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: the shipped starter model)")
    parser.add_argument("--repeat", type=int, default=8, help="copies of A's 5 slices along z")
    parser.add_argument("--window", type=int, help="baseline roi (default: training patch)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--json")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.model is None:
        from napari_cathode.ml.starter import starter_model_dir

        args.model = str(starter_model_dir())
    if args.window is None:
        from napari_cathode.ml.checkpoint import read_model_json

        args.window = int(read_model_json(args.model)["config"]["patch_size"][-1])
    if args.worker:
        worker(args.worker, args.model, args.repeat, args.window, args.out)
        return
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for method in ("ours", "monai"):
            out = f"{work}/{method}"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    method,
                    "--out",
                    out,
                    "--model",
                    args.model,
                    "--repeat",
                    str(args.repeat),
                    "--window",
                    str(args.window),
                ],
                check=True,
            )
            results[method] = json.loads(Path(out + ".json").read_text())
            results[method]["labels"] = np.load(out + ".npy")
    agreement = float(np.mean(results["ours"].pop("labels") == results["monai"].pop("labels")))
    shape = volume(1).shape
    lines = [
        "| method | seconds | Mvoxel/s | peak RSS (MB) | RSS growth while predicting (MB) |",
        "|---|---|---|---|---|",
    ]
    for method, name in (
        ("ours", "napari-cathode blockwise (whole-slice windows, + uncertainty)"),
        ("monai", f"plain `sliding_window_inference`, roi {args.window}², overlap 0.25"),
    ):
        r = results[method]
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['voxels'] / r['seconds'] / 1e6:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['peak_rss_growth_mb']:.0f} |"
        )
    ratio = results["monai"]["seconds"] / results["ours"]["seconds"]
    text = "\n".join(lines) + (
        f"\n\nThroughput ratio ours / MONAI: **{ratio:.2f}×**; label agreement: "
        f"**{agreement * 100:.2f} %** of {results['ours']['voxels']:,} voxels."
    )
    print(text)
    dump(args.json, {"results": results, "ratio": ratio, "agreement": agreement})
    if args.write:
        write_section(
            "prediction",
            header(
                "(c) Prediction throughput and memory vs plain MONAI sliding window",
                data=f"real — acquisition A ({shape[0]} slices {shape[1]}×{shape[2]}) repeated "
                f"{args.repeat}× along z, one volume for both",
            )
            + f"\nModel: `{Path(args.model).name}` (same weights for both), CPU, 2 threads, "
            "each method in a fresh process after a one-slice warm-up. Our run also writes the "
            "uncertainty; the baseline holds the full probability volume.\n\n" + text,
        )


if __name__ == "__main__":
    main()
