"""``napari-cathode status``: the round table and review progress of a project."""

from __future__ import annotations

import argparse
import json

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


def rows(project) -> list[dict]:
    """One dict per round: index, truth slices, correction effort, steps, seconds, Dice."""
    out = []
    for record in project.rounds():
        meta = record.metadata
        out.append(
            {
                "round": record.index,
                "saved": meta.get("saved"),
                "truth_slices": len(meta.get("truth_slices", [])),
                "correction_effort": meta.get("correction_effort"),
                "steps": meta.get("config", {}).get("steps"),
                "train_seconds": meta.get("timings", {}).get("train_seconds"),
                "device": meta.get("device"),
                "held_out": meta.get("data_split", {}).get("held_out"),
                "dice": meta.get("dice", {}),
                "mean_dice": meta.get("mean_dice"),
            }
        )
    return out


def run(args) -> int:
    from napari_cathode.core.project import Project, ReviewStatus

    project = Project.open(args.project, mode="r")
    status = project.review_status()
    review = {s.name.lower(): int((status == s).sum()) for s in ReviewStatus}
    table = rows(project)
    if args.json:
        print(
            json.dumps(
                {
                    "project": str(project.path),
                    "shape": list(project.shape),
                    "review": review,
                    "rounds": table,
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
        + ", ".join(f"{n} {name}" for name, n in review.items())
        + f"; {len(project.truth_slices())} with ground truth"
    )
    if not table:
        print("no rounds yet: run `napari-cathode train PROJECT`")
        return 0
    names = [c.name for c in project.classes]
    header = ["round", "truth", "effort", "steps", "train s", *names, "mean", "held out"]
    print("  ".join(f"{h:>10}" for h in header))
    for row in table:
        cells = [
            row["round"],
            row["truth_slices"],
            row["correction_effort"],
            row["steps"],
            row["train_seconds"],
        ]
        cells += [row["dice"].get(n) for n in names] + [row["mean_dice"], row["held_out"]]
        print("  ".join(f"{c:>10.3f}" if isinstance(c, float) else f"{c!s:>10}" for c in cells))
    return 0
