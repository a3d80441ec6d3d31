"""The ilastik-style forest peer and the hybrid's blend weights, scored on the same slices.

Every model benchmark fits the peer (``napari_cathode.ml.forest.ForestSegmenter`` with its
defaults: skimage multi-scale intensity/edge/texture features at sigma 1–16 on the
percentile-normalised image, 100-tree random forest, at most 50,000 labelled voxels per fit)
on exactly the slices the round or fold trained on, and scores it on the slices that round or
fold is scored on, in the same run.
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from _common import ACQUISITIONS

from napari_cathode.core.classes import DEFAULT_CLASSES
from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.jobs.prediction_job import make_predictor
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.forest import ForestSegmenter

#: Blend weights of the forest scored for every trained model (0 = network alone).
WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


def dice_of(labels, prediction, slices, classes=DEFAULT_CLASSES) -> dict:
    """Per-class Dice pooled over ``slices`` plus ``mean``."""
    counts = DiceCounts()
    for i, z in enumerate(slices):
        counts.add(labels[z], prediction[i])
    scores = counts.scores(classes)
    return {"dice": scores, "mean_dice": mean_dice(scores)}


def peer(images, labels, train_slices, image, truth, eval_slices, cache=None) -> dict:
    """Fit the forest peer on ``train_slices`` of ``images`` and score it on ``eval_slices``.

    ``cache`` (a dict) reuses a result for identical training and evaluation slices.
    """
    key = (id(image), tuple(map(tuple, train_slices)), tuple(eval_slices))
    if cache is not None and key in cache:
        return cache[key]
    started = time.perf_counter()
    forest = ForestSegmenter().fit(images, labels, train_slices)
    fit_seconds = time.perf_counter() - started
    prediction = forest.predict(image, list(eval_slices))
    result = {
        **dice_of(truth, prediction, eval_slices),
        "fit_seconds": round(fit_seconds, 1),
        "fit_voxels": forest.n_fit_voxels,
        "labelled_voxels": forest.n_labelled_voxels,
    }
    if cache is not None:
        cache[key] = result
    return result


def adapt_batchnorm(network: torch.nn.Module, predictor, image, slices) -> torch.nn.Module:
    """AdaBN: a copy of ``network`` whose BatchNorm statistics are those of ``slices``."""
    adapted = copy.deepcopy(network)
    for module in adapted.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the target slices
    predictor.network = adapted.train()
    for z in slices:
        predictor.probabilities(image, z, z + 1, slice(None), slice(None))
    predictor.network = adapted.eval()
    return adapted


def blends(model_dir, image, truth, eval_slices, adabn: bool = False) -> dict:
    """Dice of ``(1 - w) * network + w * the model's own forest`` for each of :data:`WEIGHTS`.

    With ``adabn`` the network's BatchNorm statistics are first re-estimated on the
    evaluated slices (unlabelled target data, test-time adaptation).
    """
    model = load_model(model_dir)
    predictor = make_predictor(model, image, device="cpu")
    predictor.forest = None  # network probabilities alone; blended here
    if adabn:
        adapt_batchnorm(model.network, predictor, image, eval_slices)
    ids = np.array([c.id for c in model.config.classes], np.uint8)
    net, own = [], []
    for z in eval_slices:
        net.append(predictor.probabilities(image, z, z + 1, slice(None), slice(None))[:, 0])
        if model.forest is not None:
            own.append(model.forest.predict_proba(image, z, predictor.normalization))
    out = {}
    for w in WEIGHTS if own else (0.0,):
        prediction = [
            ids[np.argmax((1 - w) * n.numpy() + (w * f if w else 0), axis=0)]
            for n, f in zip(net, own or [0] * len(net))
        ]
        out[str(w)] = dice_of(truth, prediction, eval_slices)
    return out


def weight_table(groups: dict[str, list[dict]]) -> str:
    """Markdown: mean Dice of each blend weight, one row per group of ``blends`` results."""
    lines = [
        "| runs | " + " | ".join(f"w = {w}" for w in WEIGHTS) + " |",
        "|---|" + "---|" * len(WEIGHTS),
    ]
    for name, rows in groups.items():
        cells = []
        for w in WEIGHTS:
            values = [r[str(w)]["mean_dice"] for r in rows if str(w) in r]
            cells.append(f"{np.mean(values):.3f}" if values else "–")
        lines.append(f"| {name} ({len(rows)}) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def at_default_weight(rows: list[dict]) -> float:
    """Score ``rows`` (LOAO results or simulate rounds) at the package's default forest weight.

    The blend at weight w of a round's network and forest probabilities is exactly what the
    package predicts with ``forest_weight = w`` (same model files), so a run made under another
    default is re-scored from its stored blends; rows without that blend keep their score.
    Returns the weight used.
    """
    from napari_cathode.ml.config import ModelConfig

    weight = ModelConfig().forest_weight
    for row in rows:
        blend = row.get("blends", {}).get(str(weight))
        if blend is not None:
            row["dice"], row["mean_dice"] = blend["dice"], blend["mean_dice"]
            row["forest_weight"] = weight
    return weight


def loao_peer(data: dict, held_out: str, eval_slices) -> dict:
    """The forest peer of a LOAO fold: fit on every labelled slice of the other acquisitions.

    ``data`` maps acquisition name → (image, labels); scored on ``eval_slices`` of ``held_out``.
    """
    others = [name for name in ACQUISITIONS if name != held_out]
    image, labels = data[held_out]
    return peer(
        [data[n][0] for n in others],
        [data[n][1] for n in others],
        [[z for z in range(data[n][1].shape[0]) if data[n][1][z].any()] for n in others],
        image,
        labels,
        eval_slices,
    )
