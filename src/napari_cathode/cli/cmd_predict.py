"""``napari-cathode predict``: write a project's proposal and uncertainty, block by block."""

from __future__ import annotations

import argparse

from napari_cathode.core.errors import CathodeError

__all__ = ["EXAMPLES", "parse_slices", "register", "run"]

EXAMPLES = """examples:
  napari-cathode predict sample.cathode                      # latest round, every slice
  napari-cathode predict sample.cathode --slices 10-20,42 --tta
  napari-cathode predict sample.cathode --model nmc-model    # a model from elsewhere
  napari-cathode predict big.cathode --scheduler tcp://head-node:8786   # on a dask cluster
"""


def parse_slices(text: str | None) -> list[int] | None:
    """``"3,5-8"`` -> ``[3, 5, 6, 7, 8]``; None for all."""
    if not text:
        return None
    out: list[int] = []
    try:
        for part in text.split(","):
            if "-" in part.strip()[1:]:
                lo, hi = (int(n) for n in part.split("-", 1))
                if hi < lo:
                    raise CathodeError(f"--slices range {part.strip()!r} runs backwards")
                out += range(lo, hi + 1)
            else:
                out.append(int(part))
    except ValueError as exc:
        raise CathodeError(f"--slices {text!r} must look like 3,5-8") from exc
    return out


def register(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="propose labels (and uncertainty) for a project",
        description="Predict PROJECT with its latest round (or --model) into labels/proposal and "
        "labels/uncertainty, and update the review queue.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", help="project folder (*.cathode)")
    p.add_argument("--model", help="model folder (default: the project's latest round)")
    p.add_argument("--slices", help="slices to predict, e.g. 0,4-9 (default: all)")
    p.add_argument("--tta", action="store_true", help="average over flipped copies (slower)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the blocks on a dask.distributed cluster: scheduler address "
        "(tcp://host:8786) or scheduler file (*.json); the project folder must be on a file "
        "system every worker sees (default: this process)",
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.progress import progress_bar
    from napari_cathode.jobs.prediction_job import run_prediction
    from napari_cathode.ml.prediction import PredictionOptions

    with progress_bar("predicting", "slice") as progress:
        result = run_prediction(
            args.project,
            model=args.model,
            slices=parse_slices(args.slices),
            device=args.device,
            options=PredictionOptions(tta=args.tta),
            progress=progress,
            scheduler=args.scheduler,
        )
    most = sorted(result.slice_uncertainty.items(), key=lambda item: -item[1])[:5]
    print(
        f"predicted {len(result.slices)} slices with {result.model} on {result.device} "
        f"in {result.seconds:.1f} s; most uncertain: "
        + ", ".join(f"{z} ({u:.2f})" for z, u in most)
    )
    return 0
