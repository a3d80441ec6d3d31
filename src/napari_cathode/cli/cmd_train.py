"""``napari-cathode train``: a project round, or fully supervised training from files.

The model options live in :mod:`napari_cathode.cli.model_options`, the progress rendering in
:mod:`napari_cathode.cli.progress`, the round itself in :mod:`napari_cathode.jobs.training_round`.
``--gpus N`` trains the project round data-parallel on N GPUs, through the same job, events
and publishing as a local round (:mod:`napari_cathode.jobs.distributed_training`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from napari_cathode.cli.model_options import add_model_options, classes_for, model_config_from_args
from napari_cathode.cli.options import positive_int
from napari_cathode.core.errors import CathodeError, VolumeError

__all__ = ["EXAMPLES", "check_gpus", "register", "run"]

log = logging.getLogger(__name__)

EXAMPLES = """examples:
  napari-cathode train sample.cathode                 # next round, warm from the latest
  napari-cathode train sample.cathode --init-model none   # this round from scratch
  napari-cathode train big.cathode --gpus 4 --steps 2000  # one round on 4 GPUs (DDP)
  napari-cathode train --image A.tif --labels A_labels.tif \\
      --image B.tif --labels B_labels.tif --out nmc-model --steps 1500
  napari-cathode train --image C.tif --labels C_labels.tif --out tuned --init-model nmc-model
"""


def register(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train a round of a project, or a model from image/label files",
        description="Train the next round of PROJECT on its ground truth (warm start from the "
        "latest round), or, with --image/--labels/--out, a model from files (0 = unlabeled, 1..K).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", nargs="?", help="project folder (*.cathode)")
    p.add_argument("--image", action="append", default=[], help="image volume (repeat for several)")
    p.add_argument(
        "--labels", action="append", default=[], help="label volume matching each --image"
    )
    p.add_argument(
        "--out",
        help="model folder to write (published atomically when training finishes); never "
        "inside a project",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out model folder written by napari-cathode",
    )
    p.add_argument(
        "--init-model",
        metavar="starter|none|PATH",
        help="start from the shipped NMC nano-CT model (starter), from scratch (none) or a "
        "model folder (default: files from scratch; a project from its latest round, else "
        "from the starting model chosen by new)",
    )
    p.add_argument("--from-scratch", action="store_true", help="same as --init-model none")
    p.add_argument(
        "--gpus",
        type=positive_int,
        metavar="N",
        help="train the project round on N >= 2 GPUs of this node (DDP with NCCL); "
        "with --device cpu, N CPU processes (gloo, for testing)",
    )
    add_model_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.jobs.training_runs import FileTrainingRequest, ProjectTrainingRequest

    if args.gpus is not None and (args.image or args.labels or args.out or not args.project):
        raise CathodeError(
            f"--gpus {args.gpus} trains a project round only (train PROJECT --gpus N); "
            "training from --image/--labels files runs in one process: leave out --gpus"
        )
    if args.project and (args.image or args.labels or args.out):
        raise CathodeError("give either PROJECT or --image/--labels/--out, not both")
    if args.gpus is not None:
        check_gpus(args.gpus, args.device)
    if args.project:
        config = model_config_from_args(args)
        request = ProjectTrainingRequest(
            args.project,
            config=config,
            init_model=args.init_model,
            from_scratch=args.from_scratch,
            processes=args.gpus or 1,
        )
    else:
        if not args.image or not args.out:
            raise CathodeError("give PROJECT, or --image I --labels L --out MODEL_DIR (see --help)")
        if len(args.image) != len(args.labels):
            raise CathodeError(
                f"give one --labels per --image ({len(args.image)} vs {len(args.labels)})"
            )
        missing = [path for path in (*args.image, *args.labels) if not Path(path).exists()]
        if missing:
            raise VolumeError(f"{missing[0]} does not exist; check the --image/--labels paths")
        from napari_cathode.core.outputs import check_output

        check_output(
            args.out,
            inputs=[*args.image, *args.labels, _model_path(args.init_model)],
            overwrite=args.overwrite,
            what="--out model folder",
        )
        if args.from_scratch:
            args.init_model = None  # "same as --init-model none"
        config = model_config_from_args(args, classes=classes_for(args))
        request = FileTrainingRequest(
            tuple(args.image),
            tuple(args.labels),
            args.out,
            config=config,
            init_model=args.init_model,
        )
    from napari_cathode.cli.progress import TrainingProgress
    from napari_cathode.jobs.training_job import TrainingJob
    from napari_cathode.jobs.training_round import run_job, train_project_round

    if args.project:
        done = train_project_round(request, TrainingProgress())
    else:
        done = run_job(TrainingJob(request), TrainingProgress())
    mean = "-" if done.mean_dice is None else f"{done.mean_dice:.3f}"
    print(
        f"model saved to {done.path} (best step {done.best_step}, mean Dice {mean}, "
        f"{done.seconds:.1f} s on {done.device})"
    )
    return 0


def _model_path(choice: str | None) -> str | None:
    """An ``--init-model`` that is a path (not ``starter``/``none``), else None."""
    return None if choice in (None, "starter", "none") else choice


def check_gpus(gpus: int, device: str) -> None:
    """Refuse a ``--gpus`` value this machine cannot run.

    Raises
    ------
    CathodeError
        If ``gpus`` < 2, or it exceeds the GPUs torch sees and ``device`` is not ``cpu``.
    """
    if gpus < 2:
        raise CathodeError(
            f"--gpus {gpus}: give 2 or more; one GPU or the CPU trains without --gpus"
        )
    if device == "cpu":
        return  # N CPU processes with gloo
    import torch

    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus > available:
        fewer = f"use --gpus {available} or fewer" if available >= 2 else "leave out --gpus"
        raise CathodeError(
            f"--gpus {gpus} asks for {gpus} GPUs but torch sees {available}; {fewer}, "
            f"or add --device cpu to train with {gpus} CPU processes (gloo; slow, for testing)"
        )
