"""Model options shared by the commands that train or configure a model.

``train``, ``simulate`` and ``classify`` read ``--steps --forest-weight --pseudo-labels --device
--seed --classes`` (and ``--init-model``) the same way: the parser options, the class list and the
:class:`~napari_cathode.ml.config.ModelConfig` they make.
"""

from __future__ import annotations

import argparse

from napari_cathode.cli.options import non_negative_int, positive_int
from napari_cathode.core.classes import DEFAULT_CLASSES, classes_from_names
from napari_cathode.core.errors import ModelError

__all__ = ["add_model_options", "classes_for", "model_config_from_args", "parse_classes"]


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
    from napari_cathode.core.model_document import read_model_document
    from napari_cathode.ml.starter import resolve_init_model

    folder = resolve_init_model(args.init_model)
    if folder is None:
        return parse_classes(None)
    document = read_model_document(folder)
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
