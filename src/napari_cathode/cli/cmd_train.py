"""``napari-cathode train``: a project round, or fully supervised training from files.

Also holds the model options and progress rendering shared by the model commands.
``--gpus N`` trains the project round data-parallel on N GPUs, through the same job, events
and publishing as a local round (:mod:`napari_cathode.jobs.distributed_training`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from napari_cathode.cli.options import non_negative_int, positive_int
from napari_cathode.core.classes import DEFAULT_CLASSES, classes_from_names
from napari_cathode.core.errors import CathodeError, ModelError, VolumeError

log = logging.getLogger(__name__)

EXAMPLES = """examples:
  napari-cathode train sample.cathode                 # next round, warm from the latest
  napari-cathode train sample.cathode --init-model none   # this round from scratch
  napari-cathode train big.cathode --gpus 4 --steps 2000  # one round on 4 GPUs (DDP)
  napari-cathode train --image A.tif --labels A_labels.tif \\
      --image B.tif --labels B_labels.tif --out nmc-model --steps 1500
  napari-cathode train --image C.tif --labels C_labels.tif --out tuned --init-model nmc-model
"""


def add_model_options(parser: argparse.ArgumentParser, *, classes: bool = True) -> None:
    """Add ``--steps --forest-weight --device --seed [--classes]``."""
    from napari_cathode.ml.config import ModelConfig

    parser.add_argument(
        "--steps",
        type=positive_int,
        help=f"optimiser steps per round (default {ModelConfig().steps})",
    )
    parser.add_argument(
        "--forest-weight",
        type=float,
        help="weight of the round's random forest in the hybrid's prediction, 0..1 "
        f"(0 = the network alone; default {ModelConfig().forest_weight})",
    )
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        default="auto",
        help="auto uses a CUDA GPU when there is one (default)",
    )
    parser.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    if classes:
        parser.add_argument(
            "--classes",
            help="comma-separated class names for label values 1..K "
            "(default: pore,active material,carbon-binder)",
        )


def parse_classes(text: str | None):
    """Classes from ``--classes a,b,c`` (default: the cathode classes)."""
    if not text:
        return DEFAULT_CLASSES
    return classes_from_names([name for name in text.split(",")])


def classes_for(args):
    """``--classes`` if given, else the classes of ``--init-model`` if given, else the defaults."""
    if getattr(args, "classes", None) or not getattr(args, "init_model", None):
        return parse_classes(getattr(args, "classes", None))
    from napari_cathode.core.classes import SegmentationClass
    from napari_cathode.ml.checkpoint import read_model_json
    from napari_cathode.ml.starter import resolve_init_model

    folder = resolve_init_model(args.init_model)
    if folder is None:
        return parse_classes(None)
    document = read_model_json(folder)
    return tuple(SegmentationClass.from_json(c) for c in document["config"]["classes"])


def model_config_from_args(args, *, classes=None):
    """A :class:`ModelConfig` from the common options."""
    from napari_cathode.ml.config import ModelConfig

    changes = {"device": args.device, "seed": args.seed}
    if getattr(args, "steps", None) is not None:
        if args.steps < 1:
            raise ModelError(f"--steps must be >= 1, got {args.steps}")
        changes["steps"] = args.steps
    if getattr(args, "forest_weight", None) is not None:
        changes["forest_weight"] = args.forest_weight
    if classes is not None:
        changes["classes"] = classes
    return ModelConfig(**changes)


@contextmanager
def progress_bar(desc: str, unit: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar on stderr; yields the ``progress(done, total)`` callback that drives it."""
    from tqdm import tqdm

    with tqdm(desc=desc, unit=unit, file=sys.stderr) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        yield progress


class TrainingProgress:
    """Render training events with a tqdm bar on stderr; returns the final event."""

    def __init__(self, *, position: int = 0, leave: bool = True, desc: str = "training") -> None:
        self.position, self.leave, self.desc = position, leave, desc
        self.bar = None

    def __call__(self, event) -> None:
        from tqdm import tqdm

        from napari_cathode.ml import events as ev

        if isinstance(event, ev.StartedEvent):
            self.bar = tqdm(
                total=event.steps,
                desc=self.desc,
                unit="step",
                position=self.position,
                leave=self.leave,
                file=sys.stderr,
            )
            self.bar.write(
                f"device: {event.device}; {event.train_slices} training slices, "
                f"{event.validation_slices} held out"
                + (f"; warm start from {event.warm_start}" if event.warm_start else ""),
                file=sys.stderr,
            )
        elif isinstance(event, ev.StepEvent) and self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{event.loss:.3f}", refresh=False)
        elif isinstance(event, ev.ValidationEvent) and self.bar is not None:
            scores = ", ".join(
                f"{k} {v:.3f}" if v is not None else f"{k} -" for k, v in event.dice.items()
            )
            label = "validation" if event.held_out else "training-slice"
            mean = "-" if event.mean_dice is None else f"{event.mean_dice:.3f}"
            self.bar.write(
                f"step {event.step}: {label} Dice {scores} (mean {mean})", file=sys.stderr
            )
        elif (
            isinstance(event, (ev.DoneEvent, ev.CancelledEvent, ev.ErrorEvent))
            and self.bar is not None
        ):
            self.bar.close()


def run_job(request) -> object:
    """Run a training request in a subprocess, render its progress, return the Done event.

    Raises
    ------
    CathodeError
        If the job reports an error (the message is the child's).
    """
    from napari_cathode.jobs.training_job import TrainingJob
    from napari_cathode.ml.events import CancelledEvent, DoneEvent, ErrorEvent

    progress = TrainingProgress()
    job = TrainingJob(request).start()
    try:
        for event in job.events():
            progress(event)
            if isinstance(event, ErrorEvent):
                raise (
                    ModelError(event.message)
                    if event.kind != "crash"
                    else CathodeError(event.message)
                )
            if isinstance(event, CancelledEvent):
                raise CathodeError("training was cancelled; the previous model is unchanged")
            if isinstance(event, DoneEvent):
                return event
    except KeyboardInterrupt:
        job.cancel(grace_seconds=10)
        raise
    finally:
        job.close()
    raise CathodeError("training ended without a result")


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
    if args.project:
        from napari_cathode.core.project import Project
        from napari_cathode.core.project_lock import project_lock

        Project.open(args.project, mode="r")  # a clear message before the lock if it is none
        with project_lock(args.project, "train"):
            done = run_job(request)
    else:
        done = run_job(request)
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
