"""``napari-cathode status``: the round table and review progress of a project."""

from __future__ import annotations

import argparse
import json

__all__ = ["EXAMPLES", "register", "run"]

EXAMPLES = """examples:
  napari-cathode status sample.cathode
  napari-cathode status sample.cathode --json
"""


def register(sub) -> None:
    p = sub.add_parser(
        "status",
        help="show a project's rounds and review progress",
        description="Print the round table (slices, correction effort, Dice, time) of PROJECT.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("project", help="project folder (*.cathode)")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.core.project.store import Project
    from napari_cathode.jobs.project_status import project_status

    project = Project.open(args.project, mode="r")
    status = project_status(project)
    if args.json:
        print(
            json.dumps(
                {
                    "project": str(project.path),
                    "shape": list(project.shape),
                    "review": status.review,
                    "rounds": status.rounds_json(),
                },
                indent=2,
            )
        )
        return 0
    print(
        f"{project.path}  shape {project.shape}  classes "
        + ", ".join(f"{c.id}={c.name}" for c in project.classes)
    )
    print(
        "slices: "
        + ", ".join(f"{n} {name}" for name, n in status.review.items())
        + f"; {status.truth_slices} with ground truth"
    )
    if not status.rounds:
        print("no rounds yet: run `napari-cathode train PROJECT`")
        return 0
    names = [c.name for c in project.classes]
    header = ["round", "truth", "effort", "steps", "train s", *names, "mean", "held out"]
    print("  ".join(f"{h:>10}" for h in header))
    for row in status.rounds:
        cells = [row.round, row.truth_slices, row.correction_effort, row.steps, row.train_seconds]
        cells += [row.dice.get(n) for n in names] + [row.mean_dice, row.held_out]
        print("  ".join(f"{c:>10.3f}" if isinstance(c, float) else f"{c!s:>10}" for c in cells))
    return 0
