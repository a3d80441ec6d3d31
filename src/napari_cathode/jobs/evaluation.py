"""Evaluate a model folder on an image + labels pair: per-class Dice pooled over labelled voxels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.prediction import PredictionOptions

log = logging.getLogger(__name__)


def evaluate_files(
    model_dir: str | Path,
    image_path: str | Path,
    labels_path: str | Path,
    *,
    save_prediction: str | Path | None = None,
    device: str = "auto",
    options: PredictionOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Predict ``image_path`` with a model and score it against ``labels_path``.

    Only slices with labels are predicted, unless ``save_prediction`` asks for the whole
    volume's predicted labels (written as a uint8 TIFF, 1..K).

    Returns
    -------
    dict
        ``{"dice": {class name: dice or None}, "mean_dice": m}``.
    """
    from napari_cathode.jobs.prediction_job import predict_array
    from napari_cathode.jobs.volume_files import read_image, read_labels

    options = options or PredictionOptions()
    model = load_model(model_dir)
    image = read_image(image_path)
    truth = read_labels(labels_path, classes=model.config.classes, shape=image.shape)
    labelled = [z for z in range(truth.shape[0]) if truth[z].any()]
    slices = None if save_prediction is not None else labelled
    proposal, _ = predict_array(
        model, image, slices=slices, device=device, options=options, progress=progress
    )
    counts = DiceCounts()
    for z in labelled:
        counts.add(truth[z], proposal[z])
    dice = counts.scores(model.config.classes)
    if save_prediction is not None:
        import tifffile

        tifffile.imwrite(str(save_prediction), proposal, compression="zlib")
        log.info("wrote predicted labels to %s", save_prediction)
    return {"dice": dice, "mean_dice": mean_dice(dice)}
