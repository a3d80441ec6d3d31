"""The optimisation of one training round: loss, AdamW, one-cycle schedule, mixed precision.

Used by the training round (:mod:`napari_cathode.ml.training`), on one process or many.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.losses import MaskedDiceCELoss
from napari_cathode.ml.sampling import PatchSampler

__all__ = ["Optimisation", "draw_batch", "warmup_fraction"]


def warmup_fraction(steps: int) -> float:
    """OneCycleLR's ``pct_start``: 10 % warm-up, except where that is exactly one step.

    torch divides by ``pct_start * total_steps - 1``, so 10 % of 10 steps raises
    ZeroDivisionError (torch issue: OneCycleLR with total_steps=10); 15 % avoids it.
    """
    return 0.15 if abs(0.1 * steps - 1.0) < 1e-9 else 0.1


@dataclass
class Optimisation:
    """Loss, AdamW under a one-cycle LR schedule, and mixed precision on CUDA.

    The schedule warms up over the first 10 % of ``config.steps`` to ``config.learning_rate``
    and anneals to ~0 at the last step; build with :meth:`create`.
    """

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    loss_fn: torch.nn.Module
    device: torch.device
    amp: bool

    @classmethod
    def create(cls, parameters, config: ModelConfig, device: torch.device) -> Optimisation:
        """The optimisation of ``parameters`` (a network's) for one round of ``config``."""
        loss_fn = MaskedDiceCELoss(class_ids=tuple(c.id for c in config.classes))
        optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=1e-4)
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=config.learning_rate,
            total_steps=config.steps,
            pct_start=warmup_fraction(config.steps),
        )
        amp = device.type == "cuda" and config.mixed_precision
        scaler = torch.amp.GradScaler("cuda", enabled=amp)
        return cls(optimizer, scheduler, scaler, loss_fn, device, amp)

    def step(self, model: torch.nn.Module, images: np.ndarray, truth: np.ndarray) -> float:
        """One optimiser step of ``model`` on a batch; returns the loss."""
        images_t = torch.from_numpy(images).to(self.device)
        truth_t = torch.from_numpy(truth).to(self.device)
        return self.optimise(lambda: self.loss_fn(model(images_t), truth_t))

    def optimise(self, loss_of: Callable[[], torch.Tensor]) -> float:
        """One optimiser step on the loss ``loss_of()`` computes (under autocast); the loss."""
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, enabled=self.amp):
            loss = loss_of()
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return float(loss.detach())


def draw_batch(
    sampler: PatchSampler, augmenter: Augmenter | None, batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of training patches, augmented when there is an augmenter."""
    images, truth = sampler.sample(batch_size)
    if augmenter is not None:
        images, truth = augmenter(images, truth)
    return images, truth
