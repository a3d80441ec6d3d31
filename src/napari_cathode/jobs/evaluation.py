"""Evaluate a model folder on an image + labels pair: per-class Dice pooled over labelled voxels."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from napari_cathode.core.errors import CathodeError
from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.core.outputs import SOFTWARE_TAG, check_output, disk_full_error, is_disk_full
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.prediction import PredictionOptions

__all__ = ["evaluate_files", "write_prediction_tiff"]

log = logging.getLogger(__name__)


def evaluate_files(
    model_dir: str | Path,
    image_path: str | Path,
    labels_path: str | Path,
    *,
    save_prediction: str | Path | None = None,
    overwrite: bool = False,
    device: str = "auto",
    options: PredictionOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Predict ``image_path`` with a model and score it against ``labels_path``.

    Only slices with labels are predicted, unless ``save_prediction`` asks for the whole
    volume's predicted labels (written as a uint8 TIFF, 1..K; an existing file is replaced
    only with ``overwrite`` and only if napari-cathode wrote it, never an input).

    Returns
    -------
    dict
        ``{"dice": {class name: dice or None}, "mean_dice": m}``.
    """
    from napari_cathode.jobs.prediction_job import predict_array
    from napari_cathode.jobs.volume_files import read_image, read_labels

    options = options or PredictionOptions()
    if save_prediction is not None:  # before the work: never over an input or foreign data
        check_output(
            save_prediction,
            inputs=[model_dir, image_path, labels_path],
            overwrite=overwrite,
            what="prediction file",
        )
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
        write_prediction_tiff(save_prediction, proposal)
        log.info("wrote predicted labels to %s", save_prediction)
    return {"dice": dice, "mean_dice": mean_dice(dice)}


def write_prediction_tiff(path: str | Path, labels) -> None:
    """Write predicted labels as a TIFF atomically (temp file, then rename), tagged as ours."""
    import tifffile

    from napari_cathode.core.atomic import publish_dir, remove_stale_siblings, temporary_sibling

    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise CathodeError(f"folder {path.parent} does not exist; create it first")
    remove_stale_siblings(path)
    tmp = temporary_sibling(path)
    try:
        tifffile.imwrite(tmp, labels, compression="zlib", software=SOFTWARE_TAG)
        publish_dir(tmp, path, replace=True)
    except BaseException as error:
        tmp.unlink(missing_ok=True)
        if is_disk_full(error):
            raise disk_full_error(path.parent, int(labels.nbytes)) from error
        raise
