"""``classify --project``: label particles, train, predict and explain particle states."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from napari_cathode.core.errors import CathodeError

__all__ = ["run"]

log = logging.getLogger(__name__)


def _label(args: argparse.Namespace, project) -> dict:
    from napari_cathode.core.states.particles import load_particle_labels, save_particle_labels
    from napari_cathode.jobs.particle_states_job import project_instances

    labels = load_particle_labels(project.path)
    if args.states:
        labels = labels.with_states([s for s in args.states.split(",")])
    if args.at is not None:
        instances = project_instances(project)
        if args.unlabel:
            labels = labels.without_particle(args.at, instances)
        elif not args.state:
            raise CathodeError("--at needs --state NAME (or --unlabel)")
        else:
            labels = labels.with_label(args.at, args.state, instances)
    save_particle_labels(project.path, labels)
    return {"project": str(project.path), "states": list(labels.states),
            "labels": [lab.to_json() for lab in labels.labels]}  # fmt: skip


def _train(args: argparse.Namespace, project) -> dict:
    from napari_cathode.cli.classify_common import run_training_job
    from napari_cathode.jobs.particle_states_job import (
        ParticleStateRequest,
        labelled_training_set,
        project_instances,
    )

    # refuse bad labels here, in a second, not after starting the training process
    labelled_training_set(project, project_instances(project))

    request = ParticleStateRequest(str(project.path), steps=args.steps or 300, seed=args.seed)
    done = run_training_job(request)
    return {"project": str(project.path), "model": done.path, "seconds": round(done.seconds, 1),
            "report": done.report}  # fmt: skip


def _predict(args: argparse.Namespace, project) -> dict:
    from napari_cathode.core.states.metrics import classification_report
    from napari_cathode.jobs.particle_states_job import TABLE_FILE, predict_project_states

    table, _, states = predict_project_states(project.path, model=args.model)
    labelled = table[table["labelled"] != ""]
    report = classification_report(labelled["labelled"], labelled["state"], states)
    report["on"] = "labelled particles (the training set)"
    return {
        "project": str(project.path),
        "table": str(Path(project.path) / "states" / TABLE_FILE),
        "particles": len(table),
        "predicted": {s: int((table["state"] == s).sum()) for s in states},
        "report": report,
    }


def _explain(args: argparse.Namespace, project) -> dict:
    from napari_cathode.core.states.heat_maps import save_heat_map
    from napari_cathode.jobs.particle_states_job import explain_particle

    if args.particle is None:
        raise CathodeError("explain --project needs --particle ID (see particles.csv)")
    method = "gradcam++" if args.plus_plus else (args.method or "occlusion")
    result = explain_particle(
        project.path, args.particle, model=args.model, state=args.state, method=method
    )
    out = None
    if args.out:
        out = str(save_heat_map(args.out, result["heat"], result["image"], label=method))
    box = result["box"]
    return {
        "particle": result["particle"],
        "predicted": result["predicted"],
        "explained": result["state"],
        "method": result["method"],
        "probabilities": result["probabilities"],
        "box": [[s.start, s.stop] for s in box],
        "out": out,
    }


def run(args: argparse.Namespace) -> dict:
    from napari_cathode.core.project.store import Project

    project = Project.open(args.project, mode="r" if args.action == "explain" else "r+")
    action = {"label": _label, "train": _train, "predict": _predict, "explain": _explain}
    result = action[args.action](args, project)
    print(f"classify {args.action}: done", file=sys.stderr)
    return result
