"""``napari-cathode evaluate``: Dice of a model on an image with labels, as JSON."""

from __future__ import annotations

import argparse
import json

__all__ = ["EXAMPLES", "register", "run"]

EXAMPLES = """examples:
  napari-cathode evaluate --model nmc-model --image C.tif --labels C_labels.tif
  napari-cathode evaluate --model nmc-model --image C.tif --labels C_labels.tif \
      --save-prediction C_pred.tif

prints {"dice": {"<class name>": x, ...}, "mean_dice": m}: Dice pooled over every voxel whose
label is > 0 (0 = unlabeled is ignored); null for a class in neither labels nor prediction.
"""


def register(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="per-class Dice of a model on labelled data (JSON)",
        description="Predict --image with --model and print per-class Dice against --labels.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="model folder (written by train, or a project round)"
    )
    p.add_argument("--image", required=True, help="image volume")
    p.add_argument(
        "--labels", required=True, help="labels: 0 = unlabeled, 1..K the model's classes"
    )
    p.add_argument(
        "--save-prediction", metavar="P.tif", help="write the predicted labels (all slices)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --save-prediction file written by napari-cathode",
    )
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--tta", action="store_true", help="average over flipped copies (slower)")
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.progress import progress_bar
    from napari_cathode.jobs.evaluation import evaluate_files
    from napari_cathode.ml.prediction import PredictionOptions

    with progress_bar("predicting", "slice") as progress:
        result = evaluate_files(
            args.model,
            args.image,
            args.labels,
            save_prediction=args.save_prediction,
            overwrite=args.overwrite,
            device=args.device,
            options=PredictionOptions(tta=args.tta),
            progress=progress,
        )
    print(json.dumps(result))
    return 0
