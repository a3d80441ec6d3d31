"""Particle states of a project: train on the labelled particles, predict all, explain one.

Training runs in a subprocess through :class:`StateTrainingJob` (the U-Net training job's
event stream, cancel and crash handling); prediction and explanation run in-process.
Everything is stored under ``PROJECT/states/``: ``labels.json`` and ``instances.npy`` (core),
``model/`` (the classifier) and ``particles.csv`` (the per-particle table).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from skimage.measure import regionprops_table

from napari_cathode.core.errors import CathodeError, ModelError
from napari_cathode.core.project.store import Project
from napari_cathode.core.states.particle_crops import (
    crop_geometries,
    particle_views,
    views_to_box,
)
from napari_cathode.core.states.particles import (
    find_project_particles,
    load_instances,
    load_particle_labels,
    states_dir,
)
from napari_cathode.ml.normalization import fit_normalization
from napari_cathode.ml.state_classifier import (
    StateModel,
    StateModelConfig,
    load_state_model,
    predict_probabilities,
    train_state_classifier,
)
from napari_cathode.ml.state_explain import explain

__all__ = [
    "CHUNK",
    "MODEL_DIR",
    "TABLE_FILE",
    "ParticleStateRequest",
    "classify_particles",
    "explain_particle",
    "labelled_training_set",
    "load_project_model",
    "predict_project_states",
    "project_instances",
]

log = logging.getLogger(__name__)

MODEL_DIR = "model"
TABLE_FILE = "particles.csv"
#: Particles classified per batch of views (2 × 24 × 72 float32: ~3.5 MB per 256).
CHUNK = 256


def project_instances(project: Project) -> np.ndarray:
    """The project's cached particle instances, found (and cached) on first use."""
    instances = load_instances(project.path)
    if instances is None:
        instances = find_project_particles(project)
    if tuple(instances.shape) != tuple(project.shape):
        raise CathodeError(
            f"{project.path}: cached particles {instances.shape} do not match the volume "
            f"{project.shape}; find the particles again"
        )
    if not instances.any():
        raise CathodeError(f"{project.path} has no particles: segment the volume first")
    return instances


def labelled_training_set(project: Project, instances: np.ndarray):
    """Particle ids, class indices and state names of the labelled particles, checked."""
    labels = load_particle_labels(project.path)
    resolved = labels.resolve(instances)
    if not resolved:
        raise CathodeError(
            f"{project.path} has no labelled particles: click particles to give them a state "
            f"({', '.join(labels.states)}) first"
        )
    counts = labels.counts(instances)
    used = [s for s, n in counts.items() if n > 0]
    if len(used) < 2:
        raise CathodeError(
            f"only state {used[0]!r} has labelled particles ({counts}); label particles of at "
            "least two states to train"
        )
    particles = np.array(sorted(resolved), dtype=int)
    targets = np.array([labels.state_index(resolved[p]) for p in particles], dtype=int)
    return particles, targets, labels.states


@dataclass(frozen=True)
class ParticleStateRequest:
    """Train the particle-state classifier of a project (picklable for the job process)."""

    project: str
    steps: int = 300
    input_size: int = 24
    seed: int = 0

    def run(self, cancel=None):
        """Generator of training events; writes ``PROJECT/states/model`` when done."""
        project = Project.open(self.project)
        instances = project_instances(project)
        particles, targets, states = labelled_training_set(project, instances)
        normalization = fit_normalization(project.image)
        geometries = crop_geometries(instances, particles=particles, voxel_size=project.voxel_size)
        image = np.asarray(project.image[...])
        inputs = particle_views(
            image,
            instances,
            geometries,
            size=self.input_size,
            low=normalization.low,
            high=normalization.high,
        )
        config = StateModelConfig(
            states=tuple(states), steps=self.steps, input_size=self.input_size, seed=self.seed
        )
        yield from train_state_classifier(
            inputs,
            targets,
            config,
            states_dir(project.path) / MODEL_DIR,
            cancel=cancel,
            metadata={"labelled_particles": particles.tolist(), "project": str(project.path)},
        )


def load_project_model(project: Project, model: str | Path | None = None) -> StateModel:
    """The project's particle-state model (or the one at ``model``)."""
    folder = Path(model) if model else states_dir(project.path) / MODEL_DIR
    loaded = load_state_model(folder)
    if loaded.config.kind != "particle":
        raise ModelError(f"{folder} classifies {loaded.config.kind}s, not particles")
    return loaded


def classify_particles(
    image: np.ndarray,
    instances: np.ndarray,
    model: StateModel,
    *,
    voxel_size=(1.0, 1.0, 1.0),
    normalization=None,
) -> pd.DataFrame:
    """State and probability of every particle: id, centroid (voxels), size, state, probability.

    Crops are made and classified ``CHUNK`` particles at a time, so memory stays bounded.
    """
    normalization = normalization or fit_normalization(image)
    # centroids and sizes only: measure_particles' marching-cubes surfaces cost ~ the whole run
    props = regionprops_table(instances, properties=("label", "centroid", "num_pixels"))
    table = pd.DataFrame(
        {
            "particle": props["label"].astype(int),
            "centroid_z": props["centroid-0"],
            "centroid_y": props["centroid-1"],
            "centroid_x": props["centroid-2"],
            "voxels": props["num_pixels"].astype(int),
        }
    )
    table["volume"] = table["voxels"] * float(np.prod(np.asarray(voxel_size, float)))
    states = model.config.states
    probabilities = np.zeros((len(table), len(states)), np.float32)
    particles = table["particle"].to_numpy()
    geometries = crop_geometries(instances, voxel_size=voxel_size)
    by_id = {g.particle: g for g in geometries}
    for start in range(0, len(particles), CHUNK):
        chunk = [by_id[int(p)] for p in particles[start : start + CHUNK]]
        crops = particle_views(
            image,
            instances,
            chunk,
            size=model.config.input_size,
            low=normalization.low,
            high=normalization.high,
        )
        probabilities[start : start + len(chunk)] = predict_probabilities(model.network, crops)
    best = probabilities.argmax(1)
    table = table.assign(
        state=[states[i] for i in best], probability=probabilities.max(1).astype(float)
    )
    for index, state in enumerate(states):
        table[f"p_{state}"] = probabilities[:, index]
    return table.reset_index(drop=True)


def predict_project_states(project_path: str | Path, *, model: str | Path | None = None):
    """Classify every particle of a project; writes ``PROJECT/states/particles.csv``.

    Returns
    -------
    table : pandas.DataFrame
        Also holds ``labelled`` (the user's state, empty where none).
    instances : numpy.ndarray
    states : tuple of str
    """
    project = Project.open(project_path)
    instances = project_instances(project)
    loaded = load_project_model(project, model)
    table = classify_particles(
        np.asarray(project.image[...]), instances, loaded, voxel_size=project.voxel_size
    )
    resolved = load_particle_labels(project.path).resolve(instances)
    table["labelled"] = [resolved.get(int(p), "") for p in table["particle"]]
    if not project.read_only:
        path = states_dir(project.path) / TABLE_FILE
        table.to_csv(path, index=False)
        log.info("wrote %s (%d particles)", path, len(table))
    return table, instances, loaded.config.states


def explain_particle(
    project_path: str | Path,
    particle: int,
    *,
    model: str | Path | None = None,
    state: str | None = None,
    method: str = "occlusion",
) -> dict:
    """Heat map of one particle's prediction, on the voxel grid of its box in the volume.

    ``method`` is ``"occlusion"`` (default: the probability drop when a small window of the
    particle is filled with its median grey, see
    :func:`~napari_cathode.ml.state_explain.occlusion_map`), ``"gradcam"`` or ``"gradcam++"``.

    Returns
    -------
    dict
        ``box`` (tuple of slices), ``heat`` (float32 on the box, 0..1), ``image`` (the grey
        values of the box), ``state`` (explained), ``predicted``, ``probabilities`` and ``method``.
    """
    project = Project.open(project_path, mode="r")
    instances = project_instances(project)
    loaded = load_project_model(project, model)
    if not 0 < int(particle) <= int(instances.max()):
        raise CathodeError(
            f"particle {particle} does not exist; particles are numbered 1..{int(instances.max())}"
        )
    states = loaded.config.states
    normalization = fit_normalization(project.image)
    (geometry,) = crop_geometries(instances, particles=[particle], voxel_size=project.voxel_size)
    box = geometry.box(project.shape)
    image = np.asarray(project.image[box])
    # crops only need the particle's box: shift the geometry into it
    local = type(geometry)(
        geometry.particle,
        tuple(c - s.start for c, s in zip(geometry.center, box)),
        geometry.half,
    )
    crop = particle_views(
        image,
        instances[box],
        [local],
        size=loaded.config.input_size,
        low=normalization.low,
        high=normalization.high,
    )
    probabilities = predict_probabilities(loaded.network, crop)[0]
    predicted = states[int(probabilities.argmax())]
    explained = states[_state_index(states, state)] if state else predicted
    heat = explain(
        loaded.network,
        crop,
        class_index=states.index(explained),
        method=method,
        layer=loaded.config.cam_layer,
    )[0]
    _, mapped = views_to_box(heat, local, image.shape)
    return {
        "particle": int(particle),
        "box": box,
        "heat": mapped,
        "image": image,
        "state": explained,
        "predicted": predicted,
        "probabilities": {s: float(p) for s, p in zip(states, probabilities)},
        "method": method,
    }


def _state_index(states, state: str) -> int:
    for index, name in enumerate(states):
        if name.casefold() == state.strip().casefold():
            return index
    raise CathodeError(f"unknown state {state!r}; the model's states are {list(states)}")
