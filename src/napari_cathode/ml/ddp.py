"""Data-parallel training of a project round with torch's own launcher (``torchrun``, DDP).

The round is the single-process round of :func:`napari_cathode.ml.training.train`, spread
over processes (one per GPU with NCCL; or CPU processes with gloo): the same train/validation
split (every 4th labelled slice held out when there are 4 or more), the same warm start
(``--init-model``: network and config from that model, training settings from ``--config``),
the same normalisation, optimiser and one-cycle LR schedule. Every process samples its own
patches of the training slices (seed + rank) and ``DistributedDataParallel`` averages the
gradients, so all ranks take the same steps and keep identical weights. Rank 0 validates on
the held-out slices every ``validate_every`` steps and at the last step (the others go on to
the next step and wait for it in the gradient all-reduce), keeps the state with the best mean
validation Dice, and publishes it as the project's next round with the same ``model.json``
as a single-process round plus a ``"distributed"`` block.

``napari-cathode train PROJECT --gpus N`` launches it and picks the starting model as a
single-process round would (latest round, else the project's starting model); directly::

    torchrun --standalone --nproc_per_node=4 -m napari_cathode.ml.ddp sample.cathode \
        --steps 2000 --init-model sample.cathode/rounds/0003

Without ``--init-model`` the round starts from scratch; run directly, model.json records the
start and truth slices but not the review record (correction effort, reviewed slices) that
``napari-cathode train`` passes with ``--metadata``. Each rank logs one ``result`` JSON line
(the weights' digest, equal on every rank; the published round on rank 0).

Tested with 2 CPU processes (gloo); the NCCL path has not yet been run on a multi-GPU node.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from napari_cathode.core.errors import CathodeError, ModelError
from napari_cathode.core.parent_death import die_with_parent
from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.checkpoint import save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.device import describe_device
from napari_cathode.ml.optimisation import Optimisation, draw_batch
from napari_cathode.ml.sampling import PatchSampler
from napari_cathode.ml.starter import describe_choice, resolve_init_model
from napari_cathode.ml.training import (
    TrainingVolume,
    initial_network,
    model_document,
    plan_split,
    training_regions,
    with_normalization,
)
from napari_cathode.ml.validation import BestCheckpoint, is_validation_step, validation_predictors

#: Named explicitly: under ``torchrun -m`` this module runs as ``__main__``.
log = logging.getLogger("napari_cathode.ml.ddp")


def weights_digest(network: torch.nn.Module) -> str:
    """SHA-256 of a network's trainable parameters (equal on every rank under DDP).

    Buffers (BatchNorm running statistics) are left out: each rank updates them from its own
    batch, and DDP re-broadcasts rank 0's before every forward pass; rank 0's are saved.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(network.named_parameters()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _rank_device() -> torch.device:
    """This rank's device: its local GPU under NCCL, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


def _project_volume(project, config: ModelConfig) -> TrainingVolume:
    """The project's image and truth, restricted to its labelled slices, normalised."""
    slices = tuple(int(z) for z in project.truth_slices())
    volume = TrainingVolume(project.image, project.truth, project.name, slices=slices)
    return with_normalization(volume, config)


def _publish(project_path, network, config: ModelConfig, document: dict) -> str:
    """Save ``network`` as the project's next round (rank 0); returns the round folder."""
    from napari_cathode.core.project import Project
    from napari_cathode.core.rounds import publish_round, round_staging

    project = Project.open(project_path)
    folder = round_staging(project.path / "rounds")
    try:
        save_model(folder, network, config=config, metadata=document)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return str(publish_round(project, folder).path)


def train_project_ddp(
    project_path: str | Path,
    *,
    config: ModelConfig,
    init_model: str | Path | None = None,
    metadata: dict | None = None,
) -> dict:
    """Train one round of a project in an initialised process group; rank 0 publishes it.

    Parameters
    ----------
    project_path : path
        The project (on a file system every rank sees).
    config : ModelConfig
        Network and training settings; ``batch_size`` is per process. With ``init_model`` the
        network part comes from that model (see :func:`~napari_cathode.ml.training.warm_config`).
    init_model : path, optional
        Model folder to warm-start from (default: from scratch).
    metadata : dict, optional
        Extra model.json fields (the round's ``start``, correction effort, ...);
        ``truth_slices`` is added when missing.

    Returns
    -------
    dict
        ``rank``, ``world_size``, ``backend``, ``device``, ``final_loss``, ``weights`` (digest
        of the last step's weights, equal on every rank), ``train_seconds`` and, on rank 0,
        ``best_step``, ``mean_dice`` and the published ``round`` folder.

    Raises
    ------
    ModelError
        If the project has no ground truth or ``init_model`` predicts other classes.
    """
    from napari_cathode.core.project import Project

    started = time.perf_counter()
    rank, world = dist.get_rank(), dist.get_world_size()
    device = _rank_device()
    project = Project.open(project_path, mode="r")
    config = config.replace(classes=project.classes)
    config, network, warm_name = initial_network(config, init_model)
    torch.manual_seed(config.seed)  # same start on every rank; DDP also broadcasts rank 0's
    volumes = [_project_volume(project, config)]
    split = plan_split(volumes)
    sampler = PatchSampler(
        training_regions(volumes, split, config),
        config=config,
        rng=np.random.default_rng(config.seed + rank),
    )
    augmenter = Augmenter(config, seed=config.seed + rank) if config.augmentation else None
    network.to(device)
    # Before wrapping: the predictors set the parameters' memory layout, equal on every rank.
    checkpoints = BestCheckpoint(
        volumes, split, config, validation_predictors(network, volumes, config, device)
    )
    model = DistributedDataParallel(
        network, device_ids=[device.index] if device.type == "cuda" else None
    )
    optimisation = Optimisation.create(model.parameters(), config, device)
    log.info(
        "rank %d/%d on %s: %d training slices, %d held out%s",
        rank,
        world,
        device,
        len(split.train),
        len(split.validation) if split.held_out else 0,
        f", warm start from {warm_name}" if warm_name else "",
    )

    losses: list[float] = []
    train_started = time.perf_counter()
    for step in range(1, config.steps + 1):
        model.train()
        # DDP all-reduces (averages) the gradients across ranks in the backward pass.
        losses.append(optimisation.step(model, *draw_batch(sampler, augmenter, config.batch_size)))
        if rank == 0 and is_validation_step(step, config):
            _validate(checkpoints, network, step, losses)
    train_seconds = time.perf_counter() - train_started

    result = {
        "rank": rank,
        "world_size": world,
        "backend": dist.get_backend(),
        "device": str(device),
        "final_loss": losses[-1],
        "weights": weights_digest(network),
        "train_seconds": round(train_seconds, 3),
    }
    dist.barrier()
    if rank == 0:
        best = checkpoints.best
        network.load_state_dict(best[2])
        network.eval()
        document = model_document(
            {"truth_slices": list(volumes[0].slices), **(metadata or {})},
            config,
            volumes,
            split,
            checkpoints.history,
            best,
            describe_device(device),
            warm_name,
            train_seconds=train_seconds,
            total_seconds=time.perf_counter() - started,
        )
        document["distributed"] = {k: result[k] for k in ("world_size", "backend", "train_seconds")}
        result["round"] = _publish(project_path, network, config, document)
        result.update(best_step=best[1], mean_dice=document["mean_dice"])
    dist.barrier()
    return result


def _validate(checkpoints: BestCheckpoint, network, step: int, losses) -> None:
    """Rank 0: score the network on the validation slices and keep it if it is the best."""
    dice, mean = checkpoints.validate(network, step, losses)
    kept = checkpoints.keep_if_best(network)
    label = "validation" if checkpoints.split.held_out else "training-slice"
    log.info(
        "step %d/%d: loss %.4f, %s Dice %s (mean %s)%s",
        step,
        checkpoints.config.steps,
        losses[-1],
        label,
        {k: None if v is None else round(v, 4) for k, v in dice.items()},
        "-" if mean is None else f"{mean:.4f}",
        ", kept" if kept else "",
    )


def _backend(config: ModelConfig) -> str:
    """NCCL when the round may and can run on GPUs, else gloo (CPU).

    Raises
    ------
    ModelError
        If ``config.device`` is ``cuda`` and torch sees no GPU or has no NCCL.
    """
    if config.device != "cpu" and torch.cuda.is_available() and dist.is_nccl_available():
        return "nccl"
    if config.device == "cuda":
        raise ModelError(
            "device cuda was asked for but torch sees no CUDA GPU with NCCL; "
            "use device auto or cpu (gloo)"
        )
    return "gloo"


def _read_json(path: str | None, what: str) -> dict | None:
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{what} {path} cannot be read as JSON ({exc})") from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchrun -m napari_cathode.ml.ddp")
    parser.add_argument("project")
    parser.add_argument("--config", help="ModelConfig JSON file (default: ModelConfig())")
    parser.add_argument("--steps", type=int, help="override the config's steps")
    parser.add_argument(
        "--init-model",
        metavar="starter|none|PATH",
        help="warm start from this model folder (or the shipped starter); default from scratch",
    )
    parser.add_argument(
        "--metadata", help="JSON file of extra model.json fields (napari-cathode train writes it)"
    )
    return parser


def _run(args: argparse.Namespace) -> dict:
    """Read the arguments, join the process group, train; returns this rank's result."""
    document = _read_json(args.config, "--config")
    config = ModelConfig.from_json(document) if document else ModelConfig()
    if args.steps:
        config = config.replace(steps=args.steps)
    folder = resolve_init_model(args.init_model)
    metadata = {
        "start": {
            "choice": describe_choice(args.init_model),
            "model": None if folder is None else str(folder),
        },
        **(_read_json(args.metadata, "--metadata") or {}),
    }
    backend = _backend(config)
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    try:
        return train_project_ddp(args.project, config=config, init_model=folder, metadata=metadata)
    finally:
        dist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``torchrun ... -m napari_cathode.ml.ddp PROJECT``.

    Returns 0, or 2 after logging a one-line error (bad input: the same on every rank).
    """
    args = _parser().parse_args(argv)
    die_with_parent()  # torchrun dies with the command, each rank with torchrun: no late round
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = _run(args)
    except CathodeError as exc:
        log.error("error: %s", exc)
        return 2
    log.info("result %s", json.dumps(result))  # one JSON line per rank, for the caller
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
