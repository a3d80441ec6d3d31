"""``napari-cathode train``: a project round, or fully supervised training from files.

Also holds the model options and progress rendering shared by the model commands.
``--gpus N`` trains the project round on N GPUs under ``torchrun`` (:mod:`napari_cathode.ml.ddp`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import subprocess
import sys
import tempfile
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
  napari-cathode train big.cathode --gpus 4 --steps 2000  # one round on 4 GPUs (torchrun, DDP)
  napari-cathode train --image A.tif --labels A_labels.tif \\
      --image B.tif --labels B_labels.tif --out nmc-model --steps 1500
  napari-cathode train --image C.tif --labels C_labels.tif --out tuned --init-model nmc-model
"""


def add_model_options(parser: argparse.ArgumentParser, *, classes: bool = True) -> None:
    """Add ``--steps --forest-weight --pseudo-labels --device --seed [--classes]``."""
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
        "--pseudo-labels",
        type=float,
        metavar="WEIGHT",
        help="self-train each round on confident pseudo-labels of slices without truth, their "
        "loss weighted 0..1 (kept in memory, never written as truth; default 0 = off)",
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
    if getattr(args, "pseudo_labels", None) is not None:
        changes["pseudo_label_weight"] = args.pseudo_labels
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
        help="train the project round on N >= 2 GPUs of this node (torchrun, DDP with NCCL); "
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
        return run_distributed(args)
    if args.project:
        config = model_config_from_args(args)
        request = ProjectTrainingRequest(
            args.project, config=config, init_model=args.init_model, from_scratch=args.from_scratch
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


#: Marks the JSON line each rank of :mod:`napari_cathode.ml.ddp` logs at the end.
RESULT_MARK = "napari_cathode.ml.ddp: result "
ERROR_MARK = "napari_cathode.ml.ddp: error: "


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


def ddp_command(project, gpus: int, config_file, metadata_file, init_model) -> list[str]:
    """The ``python -m torch.distributed.run`` command line of a project round on ``gpus``."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc_per_node={gpus}", "-m", "napari_cathode.ml.ddp", str(project),
        "--config", str(config_file), "--metadata", str(metadata_file),
    ]  # fmt: skip
    if init_model is not None:
        command += ["--init-model", str(init_model)]
    return command


def launch_ddp(command: list[str]) -> dict:
    """Run ``command``, copy its log to stderr, return rank 0's result.

    Raises
    ------
    CathodeError
        If it exits non-zero (with the first error a rank logged) or reports no result.
    """
    log.info("launching %s", shlex.join(command))
    result, errors = None, []
    from napari_cathode.core.parent_death import preexec_die_with_parent

    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        preexec_fn=preexec_die_with_parent(),  # torchrun dies with this command
    )
    try:
        for line in process.stdout:
            sys.stderr.write(line)
            if RESULT_MARK in line:
                rank_result = json.loads(line.split(RESULT_MARK, 1)[1])
                result = rank_result if rank_result["rank"] == 0 else result
            elif ERROR_MARK in line:
                errors.append(line.split(ERROR_MARK, 1)[1].strip())
        code = process.wait()
    except KeyboardInterrupt:
        process.terminate()  # torchrun stops its workers
        process.wait(timeout=60)
        raise
    if code != 0:
        reason = errors[0] if errors else "see the log above"
        raise CathodeError(f"multi-process training failed (torchrun exit status {code}): {reason}")
    if result is None or "round" not in result:
        raise CathodeError("torchrun finished but rank 0 reported no round; see the log above")
    return result


def run_distributed(args) -> int:
    """``train PROJECT --gpus N``: plan the round as a single-process one, run it under torchrun."""
    from napari_cathode.jobs.training_runs import ProjectTrainingRequest, plan_round

    check_gpus(args.gpus, args.device)
    request = ProjectTrainingRequest(
        args.project,
        config=model_config_from_args(args),
        init_model=args.init_model,
        from_scratch=args.from_scratch,
    )
    from napari_cathode.core.project_lock import project_lock

    plan = plan_round(request)
    with (
        project_lock(plan.project.path, "train"),
        tempfile.TemporaryDirectory(prefix="napari-cathode-ddp-") as folder,
    ):
        config_file = Path(folder) / "config.json"
        config_file.write_text(json.dumps(plan.config.to_json()))
        metadata_file = Path(folder) / "metadata.json"
        metadata_file.write_text(json.dumps(plan.metadata))
        command = ddp_command(
            plan.project.path, args.gpus, config_file, metadata_file, plan.init_model
        )
        result = launch_ddp(command)
    mean = "-" if result["mean_dice"] is None else f"{result['mean_dice']:.3f}"
    print(
        f"model saved to {result['round']} (best step {result['best_step']}, mean Dice {mean}, "
        f"{result['train_seconds']:.1f} s on {result['world_size']} {result['backend']} "
        "processes)"
    )
    return 0
