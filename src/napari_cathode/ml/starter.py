"""The shipped starter model, and resolving a ``--init-model`` choice to a model folder.

The starter model (``napari_cathode/models/nmc_nanoct``) is a 2D U-Net trained on all real
SegmentPy NMC nano-CT acquisitions in ``shared/data`` (A, B, D) by
``scripts/train_starter_model.py``. It is the default starting point of a new project: a
project that starts from it proposes useful labels before any slice is reviewed.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from napari_cathode.core.errors import ModelError
from napari_cathode.ml.checkpoint import MODEL_JSON, WEIGHTS

__all__ = [
    "SCRATCH",
    "STARTER",
    "STARTER_NAME",
    "default_start_choice",
    "describe_choice",
    "resolve_init_model",
    "starter_model_dir",
]

#: Folder name of the starter model inside ``napari_cathode/models``.
STARTER_NAME = "nmc_nanoct"
#: ``--init-model`` keywords: the shipped starter model, or no model (train from scratch).
STARTER, SCRATCH = "starter", "none"


def starter_model_dir() -> Path:
    """Folder of the shipped starter model.

    Raises
    ------
    ModelError
        If the package was installed without it.
    """
    folder = Path(str(resources.files("napari_cathode") / "models" / STARTER_NAME))
    if not (folder / MODEL_JSON).is_file() or not (folder / WEIGHTS).is_file():
        raise ModelError(
            f"the starter model is missing from {folder}; reinstall napari-cathode, "
            "or start from scratch (--init-model none)"
        )
    return folder


def resolve_init_model(choice: str | Path | None) -> Path | None:
    """Model folder for an ``--init-model`` value: ``starter``, ``none`` or a folder path.

    ``None`` and ``"none"`` mean from scratch and return ``None``.

    Raises
    ------
    ModelError
        If a path is given that is not a folder, or the starter model is missing.
    """
    if choice is None or str(choice) == SCRATCH:
        return None
    if str(choice) == STARTER:
        return starter_model_dir()
    folder = Path(choice).expanduser()
    if not folder.is_dir():
        raise ModelError(
            f"--init-model {choice} is not a model folder; give 'starter', 'none' or a folder "
            "written by napari-cathode train"
        )
    return folder


def describe_choice(choice: str | Path | None) -> str:
    """``starter``, ``none`` or ``path`` — the kind of starting point, for model.json."""
    if choice is None or str(choice) == SCRATCH:
        return SCRATCH
    return STARTER if str(choice) == STARTER else "path"


def default_start_choice(classes) -> str:
    """Starting model of a new project: ``starter`` when its classes fit the project, else ``none``.

    The starter model predicts pore / active material / carbon-binder, so a project with another
    number of classes starts from scratch.
    """
    from napari_cathode.core.model_document import read_model_document

    try:
        starter_classes = read_model_document(starter_model_dir())["config"]["classes"]
    except ModelError:
        return SCRATCH
    return STARTER if len(starter_classes) == len(classes) else SCRATCH
