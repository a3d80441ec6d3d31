"""``napari-cathode classify``: state of particles or images (train, predict, explain), as JSON.

Particles: ``--project P`` uses the particles labelled in the project (napari dock, or
``classify label``). Images: ``--images DIR_OR_CSV`` (a folder per state, or a CSV of
``path,state``) with ``--model DIR``. Every subcommand prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from napari_cathode.core.errors import CathodeError

__all__ = ["EXAMPLE", "register", "run"]

log = logging.getLogger(__name__)

EXAMPLE = """\
examples:
  napari-cathode classify label --project sample.cathode --states intact,cracked
  napari-cathode classify label --project sample.cathode --at 12 80 95 --state cracked
  napari-cathode classify train --project sample.cathode --steps 150
  napari-cathode classify predict --project sample.cathode
  napari-cathode classify explain --project sample.cathode --particle 17 --out p17.png
  napari-cathode classify train --images by_state/ --model acq_model/
  napari-cathode classify predict --images test.csv --model acq_model/
  napari-cathode classify explain --image B_slice3.tif --model acq_model/ --out b3.tif

The JSON of train and predict holds per-state precision and recall ("report"); for particles
the predict report compares with the labelled particles (which the model was trained on).
"""


def register(sub) -> None:
    """Add the ``classify`` command to the ``napari-cathode`` parser."""
    p = sub.add_parser(
        "classify",
        help="classify the state of particles or images and explain it with a heat map",
        description=__doc__.splitlines()[0].split(": ", 1)[1],
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=("label", "train", "predict", "explain"))
    p.add_argument("--project", help="project folder (particle states)")
    p.add_argument("--images", help="folder of state folders, or CSV of path,state")
    p.add_argument("--image", help="one image to explain (with --model)")
    p.add_argument("--model", help="state model folder (images: required; particles: optional)")
    p.add_argument("--states", help="label: set the state names, e.g. intact,cracked")
    p.add_argument("--at", nargs=3, type=float, metavar=("Z", "Y", "X"), help="label: a voxel")
    p.add_argument("--state", help="label: state for --at; explain: state to explain")
    p.add_argument("--unlabel", action="store_true", help="label: remove the label at --at")
    p.add_argument("--particle", type=int, help="explain: particle id")
    p.add_argument("--slice", type=int, default=0, help="explain --image: slice (default 0)")
    p.add_argument("--out", help="explain: heat map file (.tif, .tiff or .png)")
    p.add_argument(
        "--method",
        choices=("occlusion", "gradcam", "gradcam++"),
        help="explain: heat map method; particles: occlusion (default), gradcam, gradcam++; "
        "images: gradcam (default) or gradcam++",
    )
    p.add_argument("--plus-plus", action="store_true", help="explain: same as --method gradcam++")
    p.add_argument("--steps", type=int, default=None, help="train: optimiser steps")
    p.add_argument("--tile", type=int, default=64, help="images: tile size (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def _emit(result: dict) -> int:
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def run(args: argparse.Namespace) -> int:
    if bool(args.project) == bool(args.images or args.image):
        raise CathodeError(
            "classify needs either --project (particle states) or --images/--image with --model "
            "(image states)"
        )
    if args.project:
        from napari_cathode.cli import classify_particles

        return _emit(classify_particles.run(args))
    if not args.model:
        raise CathodeError("image states need --model DIR (written by train, read by the others)")
    from napari_cathode.cli import classify_images

    return _emit(classify_images.run(args))
