"""Data-parallel training of a project round with torch's own launcher (``torchrun``, DDP).

Every process (one per GPU; or CPU processes with the gloo backend) samples its own patches
from the project's ground truth (seed + rank), ``DistributedDataParallel`` averages the
gradients, and rank 0 publishes the round. Launch::

    torchrun --standalone --nproc_per_node=4 -m napari_cathode.ml.ddp sample.cathode \
        --steps 2000

One GPU or the CPU needs no launcher: ``napari-cathode train`` does the same round in one
process, with validation and best-checkpoint selection, which this path leaves out (each
round is published after its last step; evaluate it with ``napari-cathode evaluate``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.checkpoint import MODEL_JSON, save_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.losses import MaskedDiceCELoss
from napari_cathode.ml.networks import build_network
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.sampling import PatchSampler, extract_regions

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


def train_project_ddp(project_path: str | Path, *, config: ModelConfig) -> dict:
    """Train one round of a project in an initialised process group; rank 0 publishes it.

    Parameters
    ----------
    project_path : path
        The project (on a file system every rank sees).
    config : ModelConfig
        Network and training settings; ``batch_size`` is per process.

    Returns
    -------
    dict
        ``rank``, ``world_size``, ``backend``, ``device``, ``final_loss``, ``weights`` digest and,
        on rank 0, the published ``round`` folder.
    """
    from napari_cathode.core.project import Project

    rank, world = dist.get_rank(), dist.get_world_size()
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = (
        torch.device("cuda", local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    )
    project = Project.open(project_path, mode="r")
    config = config.replace(classes=project.classes)
    slices = [int(z) for z in project.truth_slices()]
    normalization = fit_normalization(
        project.image, method=config.normalization, percentiles=config.percentiles
    )
    regions = extract_regions(
        project.image,
        project.truth,
        slices,
        config=config,
        normalization=normalization,
        source=project.name,
    )
    sampler = PatchSampler(regions, config=config, rng=np.random.default_rng(config.seed + rank))
    augmenter = Augmenter(config, seed=config.seed + rank) if config.augmentation else None
    torch.manual_seed(config.seed)  # same initial weights; DDP also broadcasts rank 0's
    network = build_network(config).to(device)
    model = DistributedDataParallel(
        network, device_ids=[local_rank] if device.type == "cuda" else None
    )
    loss_fn = MaskedDiceCELoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=1e-4)
    started = time.perf_counter()
    loss = torch.zeros(())
    for step in range(1, config.steps + 1):
        model.train()
        images, truth = sampler.sample(config.batch_size)
        if augmenter is not None:
            images, truth = augmenter(images, truth)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(
            model(torch.from_numpy(images).to(device)), torch.from_numpy(truth).to(device)
        )
        loss.backward()  # DDP all-reduces (averages) the gradients across ranks here
        optimizer.step()
        if rank == 0 and step % max(1, config.steps // 10) == 0:
            log.info("step %d/%d loss %.4f", step, config.steps, float(loss.detach()))
    seconds = time.perf_counter() - started
    result = {
        "rank": rank,
        "world_size": world,
        "backend": dist.get_backend(),
        "device": str(device),
        "final_loss": float(loss.detach()),
        "weights": weights_digest(network),
        "train_seconds": round(seconds, 3),
    }
    dist.barrier()
    if rank == 0:
        metadata: dict = {}
        extra = {
            "distributed": {k: result[k] for k in ("world_size", "backend", "train_seconds")},
            "truth_slices": slices,
            "normalization": normalization.to_json(),
        }
        with Project.open(project_path).new_round(metadata) as folder:
            save_model(folder, network, config=config, metadata=extra)
            metadata.update(json.loads((folder / MODEL_JSON).read_text()))
        result["round"] = str(Project.open(project_path, mode="r").latest_round().path)
    dist.barrier()
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``torchrun ... -m napari_cathode.ml.ddp PROJECT``."""
    parser = argparse.ArgumentParser(prog="torchrun -m napari_cathode.ml.ddp")
    parser.add_argument("project")
    parser.add_argument("--config", help="ModelConfig JSON file (default: ModelConfig())")
    parser.add_argument("--steps", type=int, help="override the config's steps")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = (
        ModelConfig.from_json(json.loads(Path(args.config).read_text()))
        if args.config
        else ModelConfig()
    )
    if args.steps:
        config = config.replace(steps=args.steps)
    backend = "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group(backend)
    try:
        result = train_project_ddp(args.project, config=config)
        log.info("result %s", json.dumps(result))  # one JSON line per rank, for the caller
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
