"""Save and load a fitted forest as plain arrays (safetensors), never as a pickle.

scikit-learn documents pickle/joblib for persistence, which would execute code from the model
file. A fitted tree is fully described by its node table (children, split feature, threshold)
and the class fractions of its nodes; those arrays go into ``forest.safetensors`` and the
trees are rebuilt through ``Tree.__setstate__`` with arrays we created, so loading reads
numbers only. The arrays of all trees are concatenated (one tensor per field) with an offset
table, to keep the file small and quick to read. Only what prediction reads is stored, in the
smallest exact dtype (children int32, features int16, thresholds float64 as fitted, class
fractions float32); impurities and sample counts are not needed to predict and are zero.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load_file, save
from sklearn.ensemble import RandomForestClassifier
from sklearn.tree import DecisionTreeClassifier
from sklearn.tree._tree import NODE_DTYPE, Tree

from napari_cathode.core.atomic import atomic_write_bytes
from napari_cathode.core.errors import ModelError

__all__ = [
    "FOREST_FILE",
    "fit_round_forest",
    "forest_arrays",
    "forest_from_arrays",
    "load_forest",
    "save_forest",
]

FOREST_FILE = "forest.safetensors"
#: Node fields that prediction reads, and their stored dtype.
_FIELDS = {
    "left_child": np.int32,
    "right_child": np.int32,
    "feature": np.int16,
    "threshold": np.float64,
    "missing_go_to_left": np.uint8,
}


def forest_arrays(forest: RandomForestClassifier) -> dict[str, np.ndarray]:
    """Every tree's node table and values as flat arrays (see module docstring)."""
    states = [tree.tree_.__getstate__() for tree in forest.estimators_]
    counts = np.array([s["node_count"] for s in states], np.int64)
    out = {
        "node_count": counts,
        "max_depth": np.array([s["max_depth"] for s in states], np.int64),
        "classes": np.asarray(forest.classes_, np.int64),
        "n_features": np.array([forest.n_features_in_], np.int64),
        "values": np.concatenate([s["values"][:, 0, :] for s in states]).astype(np.float32),
    }
    for name, dtype in _FIELDS.items():
        out[f"node_{name}"] = np.ascontiguousarray(
            np.concatenate([s["nodes"][name] for s in states]).astype(dtype)
        )
    return out


def forest_from_arrays(arrays: dict[str, np.ndarray], n_jobs: int = -1) -> RandomForestClassifier:
    """Rebuild a fitted :class:`RandomForestClassifier` from :func:`forest_arrays` output.

    Raises
    ------
    ModelError
        If an array is missing or the tables are inconsistent.
    """
    try:
        counts = arrays["node_count"].astype(np.int64)
        depths = arrays["max_depth"].astype(np.int64)
        classes = arrays["classes"].astype(np.int64)
        n_features = int(arrays["n_features"][0])
        values = arrays["values"].astype(np.float64)
        fields = {name: arrays[f"node_{name}"] for name in _FIELDS}
    except KeyError as exc:
        raise ModelError(f"the forest file lacks the array {exc}; re-train the model") from exc
    total = int(counts.sum())
    if values.shape != (total, classes.size) or any(f.shape != (total,) for f in fields.values()):
        raise ModelError("the forest file's arrays do not match its node counts; re-train")
    n_classes = np.array([classes.size], np.intp)
    estimators = []
    start = 0
    for count, depth in zip(counts, depths):
        stop = start + int(count)
        nodes = np.zeros(int(count), dtype=NODE_DTYPE)
        for name in _FIELDS:
            nodes[name] = fields[name][start:stop]
        children = np.concatenate([nodes["left_child"], nodes["right_child"]])
        if np.any((children >= count) | (children < -1)) or np.any(nodes["feature"] >= n_features):
            raise ModelError("the forest file holds an invalid tree; re-train the model")
        tree = Tree(n_features, n_classes, 1)
        tree.__setstate__(
            {
                "max_depth": int(depth),
                "node_count": int(count),
                "nodes": nodes,
                "values": np.ascontiguousarray(values[start:stop, None, :]),
            }
        )
        estimator = DecisionTreeClassifier()
        estimator.tree_ = tree
        estimator.n_features_in_ = n_features
        estimator.n_outputs_ = 1
        estimator.classes_ = classes
        estimator.n_classes_ = int(classes.size)
        estimator.max_features_ = max(1, int(np.sqrt(n_features)))
        estimators.append(estimator)
        start = stop
    forest = RandomForestClassifier(n_estimators=len(estimators), n_jobs=n_jobs)
    forest.estimators_ = estimators
    forest.estimator_ = DecisionTreeClassifier()
    forest.classes_ = classes
    forest.n_classes_ = int(classes.size)
    forest.n_outputs_ = 1
    forest.n_features_in_ = n_features
    return forest


def save_forest(directory: str | Path, forest: RandomForestClassifier) -> Path:
    """Write ``forest.safetensors`` into ``directory`` (atomically)."""
    path = Path(directory) / FOREST_FILE
    atomic_write_bytes(path, save(forest_arrays(forest)))
    return path


def load_forest(directory: str | Path, n_jobs: int = -1) -> RandomForestClassifier | None:
    """The forest of a model folder, or None when it has none; never executes code.

    Raises
    ------
    ModelError
        If the file is not valid safetensors or its trees are inconsistent.
    """
    path = Path(directory) / FOREST_FILE
    if not path.is_file():
        return None
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{path} is not a valid safetensors file ({exc}); it is refused, nothing was executed"
        ) from exc
    return forest_from_arrays(arrays, n_jobs=n_jobs)


def fit_round_forest(volumes, config, out_dir: Path) -> tuple[object, float | None]:
    """Fit the hybrid's forest on every labelled slice of ``volumes``: (forest, seconds).

    ``volumes`` are normalised :class:`~napari_cathode.ml.training.TrainingVolume` objects;
    ``config`` is the round's :class:`~napari_cathode.ml.config.ModelConfig`.

    Written as ``out_dir/forest.safetensors`` before the final ``model.json``; nothing (and a
    stale forest file removed; ``(None, None)``) when ``config.forest_weight`` is 0 or 3D.
    """
    stale = out_dir / FOREST_FILE
    if config.forest_weight <= 0 or config.spatial_dims != 2:
        stale.unlink(missing_ok=True)
        return None, None
    from napari_cathode.ml.forest import model_forest
    from napari_cathode.ml.sampling import labelled_slices

    started = time.perf_counter()
    forest = model_forest(config).fit(
        [v.image for v in volumes],
        [v.truth for v in volumes],
        [v.slices if v.slices is not None else labelled_slices(v.truth) for v in volumes],
        normalizations=[v.normalization for v in volumes],
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    save_forest(out_dir, forest.forest)
    return forest, round(time.perf_counter() - started, 3)
