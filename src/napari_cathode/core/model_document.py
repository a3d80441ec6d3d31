"""``model.json``, the metadata document of every model folder: its one reader and writer.

A model folder (a project round ``rounds/NNNN/``, a project's ``start_model/``, a ``train
--out`` folder, the shipped starter model) holds the weights, written by :mod:`napari_cathode.ml`
(torch), and ``model.json``: ``format``, ``version``, the model ``config`` and everything a
round records (normalisation, data split, metrics, timings, correction effort, ``start``,
``round``, ``saved``). The document is written and read only here, so core (which imports no
torch) owns the format and ml only saves weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.errors import ModelError

__all__ = [
    "MODEL_FORMAT",
    "MODEL_FORMAT_VERSION",
    "MODEL_JSON",
    "is_model_folder",
    "new_model_document",
    "read_model_document",
    "update_model_document",
    "write_model_document",
]

MODEL_JSON = "model.json"
#: ``format`` of every napari-cathode model.json.
MODEL_FORMAT = "napari-cathode-model"
MODEL_FORMAT_VERSION = 1


def new_model_document(config: dict, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """The model.json document of a model with ``config`` (its JSON form) and extra fields."""
    return {
        "format": MODEL_FORMAT,
        "version": MODEL_FORMAT_VERSION,
        **(metadata or {}),
        "config": config,
    }


def _json_default(value):
    if hasattr(value, "item"):  # numpy scalars (and 0-d tensors)
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_model_document(folder: str | Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as ``folder/model.json`` atomically (fsynced); returns the file.

    Raises
    ------
    TypeError, ValueError
        If a field cannot be written as strict JSON (NaN/inf are refused).
    """
    path = Path(folder) / MODEL_JSON
    text = json.dumps(document, indent=2, allow_nan=False, default=_json_default)
    atomic_write_bytes(path, text.encode("utf-8"))
    return path


def read_model_document(folder: str | Path) -> dict[str, Any]:
    """Read and check ``model.json`` of a model folder.

    Raises
    ------
    ModelError
        If the folder or file is missing or is not a napari-cathode model.
    """
    folder = Path(folder)
    path = folder / MODEL_JSON
    if not path.is_file():
        raise ModelError(
            f"{folder} is not a model folder (no {MODEL_JSON}); pass a folder written by train"
        )
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"{path} cannot be read as JSON ({exc}); re-train or re-export the model"
        ) from exc
    if (
        not isinstance(document, dict)
        or document.get("format") != MODEL_FORMAT
        or "config" not in document
    ):
        raise ModelError(f"{path} is not a napari-cathode model.json")
    return document


def is_model_folder(folder: str | Path) -> bool:
    """Whether ``folder`` holds a napari-cathode ``model.json``."""
    try:
        read_model_document(folder)
    except ModelError:
        return False
    return True


def update_model_document(folder: str | Path, fields: dict[str, Any]) -> dict[str, Any]:
    """Add ``fields`` to the model.json in ``folder`` (a bare document if it has none yet).

    Returns
    -------
    dict
        The document as written.
    """
    path = Path(folder) / MODEL_JSON
    document = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    document.update(fields)
    write_model_document(folder, document)
    return document
