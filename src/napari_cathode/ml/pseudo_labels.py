"""Self-training of the network on pseudo-labels of the unreviewed slices (teacher / student).

An option of a training round (``ModelConfig.pseudo_label_weight`` > 0; 2D models only). After
the round's ordinary training, the trained model (the *teacher*: the network blended with the
round's forest as in prediction) predicts up to ``pseudo_label_slices`` of the slices that hold
no ground truth, spread evenly over the volume. Voxels whose blended probability is at least
``pseudo_label_confidence`` become pseudo-labels; the others stay unlabeled (0). The network (the
*student*, starting from the teacher's weights) then trains ``pseudo_label_steps`` more steps on
batches of truth patches plus half as many pseudo-labelled patches, the pseudo-labelled loss
weighted by ``pseudo_label_weight``. Both kinds of patch pass through the network together, so
its BatchNorm statistics also see the unreviewed slices (a new acquisition's data).

Pseudo-labels live in memory only: nothing is written into a project's ``labels/truth`` or its
review state, and slices that hold truth (reviewed, painted, or held out for validation) are
never pseudo-labelled. When slices are held out for validation and the student's validation
Dice is more than :data:`TOLERANCE` below the teacher's, the teacher is kept.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Generator, Sequence

import numpy as np
import torch

from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import CancelledEvent, StepEvent, TrainingEvent, ValidationEvent
from napari_cathode.ml.optimisation import Optimisation, draw_batch
from napari_cathode.ml.prediction import PredictionOptions, Predictor
from napari_cathode.ml.sampling import PatchSampler, TrainingRegion, extract_regions
from napari_cathode.ml.validation import KeptState

__all__ = [
    "TOLERANCE",
    "class_thresholds",
    "enabled",
    "self_train",
    "teacher_regions",
    "unreviewed_slices",
    "volume_slices",
    "weighted_step",
]

log = logging.getLogger(__name__)

#: The student is kept unless its held-out validation Dice is lower than the teacher's by this.
TOLERANCE = 0.02


def enabled(config: ModelConfig) -> bool:
    """Whether a round of ``config`` self-trains on pseudo-labels."""
    return config.pseudo_label_weight > 0 and config.spatial_dims == 2


def unreviewed_slices(volume, train_slices: Sequence[int], limit: int) -> list[int]:
    """Up to ``limit`` slices of ``volume`` outside ``train_slices``, spread evenly.

    ``train_slices`` are the slices whose truth the round may use (a project's truth slices, a
    simulation's reviewed slices); no other slice's truth is ever read here.
    """
    taken = {int(z) for z in train_slices}
    free = [z for z in range(volume.image.shape[0]) if z not in taken]
    if len(free) <= limit:
        return free
    picks = np.linspace(0, len(free) - 1, limit).round().astype(int)
    return [free[i] for i in sorted(set(picks.tolist()))]


def volume_slices(volume) -> tuple[int, ...]:
    """The slices of a :class:`~napari_cathode.ml.training.TrainingVolume` whose truth is used."""
    from napari_cathode.ml.sampling import labelled_slices

    return (
        tuple(volume.slices) if volume.slices is not None else tuple(labelled_slices(volume.truth))
    )


def class_thresholds(top: np.ndarray, best: np.ndarray, k: int, config: ModelConfig) -> np.ndarray:
    """Per-class probability a voxel of that predicted class needs to become a pseudo-label.

    ``pseudo_label_confidence`` for every class; with ``pseudo_label_class_share`` s > 0 a
    class's threshold is lowered to the probability that its most confident share s of the
    voxels predicted as it reach (class-balanced self-training, Zou et al., ECCV 2018): on a
    new acquisition the teacher is rarely confident about binder, and a single threshold left
    no binder pseudo-label at all (measured on LOAO fold A).
    """
    thresholds = np.full(k, config.pseudo_label_confidence, np.float32)
    share = config.pseudo_label_class_share
    for c in range(k) if share > 0 else ():
        probs = top[best == c]
        if probs.size:
            thresholds[c] = min(thresholds[c], float(np.quantile(probs, 1 - share)))
    return thresholds


def teacher_regions(
    network: torch.nn.Module, forest, volumes, config: ModelConfig, device: torch.device
) -> tuple[list[TrainingRegion], dict]:
    """Pseudo-labelled training regions of the unreviewed slices, and a summary of them.

    ``volumes`` are normalised :class:`~napari_cathode.ml.training.TrainingVolume` objects.
    """
    ids = np.array([c.id for c in config.classes], np.uint8)
    regions: list[TrainingRegion] = []
    summary = {"slices": {}, "voxels": 0, "confident_fraction": None, "per_class": {}}
    counts = np.zeros(len(ids), np.int64)
    total = 0
    network.eval()
    for v in volumes:
        zs = unreviewed_slices(v, volume_slices(v), config.pseudo_label_slices)
        if not zs:
            continue
        predictor = Predictor(
            network,
            config=config,
            normalization=v.normalization,
            device=device,
            options=PredictionOptions(batch_size=config.batch_size),
            forest=forest,
        )
        for z in zs:
            probs = predictor.probabilities(v.image, z, z + 1, slice(None), slice(None))[:, 0]
            top, best = (t.cpu().numpy() for t in probs.max(dim=0))
            confident = top >= class_thresholds(top, best, len(ids), config)[best]
            pseudo = np.where(confident, ids[best], 0).astype(np.uint8)
            total += pseudo.size
            counts += np.bincount(best[confident], minlength=len(ids))
            if confident.any():
                regions += extract_regions(
                    v.image,
                    {z: pseudo},
                    [z],
                    config=config,
                    normalization=v.normalization,
                    source=f"{v.name} (pseudo-labels)",
                )
        summary["slices"][v.name] = zs
    summary["voxels"] = int(counts.sum())
    summary["confident_fraction"] = round(float(counts.sum()) / total, 4) if total else None
    summary["per_class"] = {c.name: int(n) for c, n in zip(config.classes, counts)}
    return regions, summary


def weighted_step(
    optimisation: Optimisation, network: torch.nn.Module, truth_batch, pseudo_batch, weight: float
) -> float:
    """One optimiser step on truth and pseudo-labelled patches in one forward pass."""
    device = optimisation.device
    images = torch.from_numpy(np.concatenate([truth_batch[0], pseudo_batch[0]])).to(device)
    truth = torch.from_numpy(truth_batch[1]).to(device)
    pseudo = torch.from_numpy(pseudo_batch[1]).to(device)
    n = truth.shape[0]
    loss_fn = optimisation.loss_fn

    def loss_of() -> torch.Tensor:
        logits = network(images)
        return loss_fn(logits[:n], truth) + weight * loss_fn(logits[n:], pseudo)

    return optimisation.optimise(loss_of)


def self_train(
    network: torch.nn.Module,
    forest,
    volumes,
    config: ModelConfig,
    device: torch.device,
    *,
    truth_sampler: PatchSampler,
    augmenter,
    checkpoints,
    rng: np.random.Generator,
    cancelled,
) -> Generator[TrainingEvent, None, dict]:
    """The student phase of a round (see module docstring); yields its events.

    ``network`` holds the teacher's (best) weights and is trained in place; ``checkpoints``
    (a :class:`~napari_cathode.ml.validation.BestCheckpoint`) holds the teacher as ``best`` and
    afterwards the adopted model. Returns a summary for model.json (``cancelled`` True when
    ``cancelled()`` stopped it; the caller then ends the round).
    """
    regions, summary = teacher_regions(network, forest, volumes, config, device)
    summary.update(adopted=False, steps=0)
    if not regions:
        log.info("pseudo-labels: no unreviewed slice with confident voxels; skipped")
        return summary
    pseudo_sampler = PatchSampler(regions, config=config, rng=rng)
    steps = config.pseudo_label_steps
    optimisation = Optimisation.create(network.parameters(), config.replace(steps=steps), device)
    teacher = checkpoints.best
    losses: list[float] = []
    for i in range(1, steps + 1):
        if cancelled():
            yield CancelledEvent(config.steps + i - 1)
            return {**summary, "cancelled": True}
        network.train()
        losses.append(
            weighted_step(
                optimisation,
                network,
                draw_batch(truth_sampler, augmenter, config.batch_size),
                draw_batch(pseudo_sampler, augmenter, max(1, config.batch_size // 2)),
                config.pseudo_label_weight,
            )
        )
        yield StepEvent(config.steps + i, losses[-1])
    step = config.steps + steps
    dice, mean = checkpoints.validate(network, step, losses)
    yield ValidationEvent(step, dice, mean, checkpoints.split.held_out)
    score = -1.0 if mean is None else mean
    adopted = not checkpoints.split.held_out or score >= teacher.score - TOLERANCE
    if adopted:
        state = copy.deepcopy({k: v.detach().cpu() for k, v in network.state_dict().items()})
        checkpoints.best = KeptState(step, mean, dice, state)
    else:
        log.info(
            "pseudo-labels: validation Dice %.3f < teacher %.3f; teacher kept", score, teacher.score
        )
        network.load_state_dict(teacher.state)
    network.eval()
    summary.update(
        adopted=adopted,
        steps=steps,
        teacher_mean_dice=teacher.mean_dice,
        student_mean_dice=mean,
    )
    return summary
