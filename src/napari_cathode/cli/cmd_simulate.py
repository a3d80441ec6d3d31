"""``napari-cathode simulate``: the incremental loop with a reviewer who knows the labels."""

from __future__ import annotations

import argparse
import sys

from napari_cathode.cli.options import non_negative_int, positive_int

__all__ = ["EXAMPLES", "register", "run"]

EXAMPLES = """examples:
  napari-cathode simulate --image A.tif --labels A_labels.tif --out sim-A
  napari-cathode simulate --image C.tif --labels C_labels.tif --out sim-C \\
      --init-model nmc-model --initial 1 --per-round 1 --rounds 4 --strategy uncertainty
  napari-cathode simulate --image A.tif --labels A_labels.tif --out scr-A \\
      --reviewer scribbles --strokes 10 --rounds 4 --brush-radius 4

writes OUT/rounds.json: {"config": {...}, "device": "cpu", "rounds": [{"round": r,
"reviewed_slices": [...], "corrected_voxels": c, "train_seconds": t, "predict_seconds": p,
"dice": {...}, "mean_dice": m}, ...]}; round r's Dice is on every labelled slice not reviewed
by the end of round r. --rounds counts all rounds, round 0 included. Models: OUT/rounds/NNNN/.

--reviewer scribbles: instead of whole slices, each round the reviewer paints --strokes short
brush strokes (--brush-radius px, paths up to --stroke-length px) with the true class into the
largest regions the current proposal got wrong; each round's row adds "strokes",
"painted_voxels", "total_strokes" and "total_painted_voxels", and its Dice is on every labelled
voxel not painted yet. --initial, --per-round and --strategy do not apply.
"""


def register(sub) -> None:
    from napari_cathode.cli.model_options import add_model_options

    p = sub.add_parser(
        "simulate",
        help="simulate review rounds against known labels",
        description="Round 0 annotates --initial slices (copied from --labels) and trains; each "
        "later round predicts, picks --per-round slices by --strategy, 'corrects' them and "
        "retrains warm.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--image", required=True, help="image volume")
    p.add_argument("--labels", required=True, help="labels: 0 = unlabeled, 1..K")
    p.add_argument("--out", required=True, help="output folder (rounds.json and per-round models)")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing --out folder written by an earlier simulate",
    )
    p.add_argument(
        "--init-model",
        metavar="starter|none|PATH",
        help="model to start round 0 from: the shipped NMC nano-CT model (starter), a model "
        "folder, or none (default: from scratch)",
    )
    p.add_argument(
        "--initial",
        type=non_negative_int,
        default=2,
        help="slices annotated in round 0 (default 2)",
    )
    p.add_argument(
        "--per-round",
        type=positive_int,
        default=1,
        help="slices reviewed per later round (default 1)",
    )
    p.add_argument(
        "--rounds", type=positive_int, default=3, help="rounds in all, round 0 included (default 3)"
    )
    p.add_argument(
        "--strategy",
        choices=("spread", "random", "uncertainty"),
        default="spread",
        help="how the reviewer picks slices (default spread)",
    )
    p.add_argument(
        "--reviewer",
        choices=("slices", "scribbles"),
        default="slices",
        help="the simulated reviewer corrects whole slices (default) or paints brush strokes",
    )
    p.add_argument(
        "--strokes", type=int, default=10, help="scribbles: strokes per round (default 10)"
    )
    p.add_argument(
        "--brush-radius", type=float, default=4.0, help="scribbles: brush radius, px (default 4)"
    )
    p.add_argument(
        "--stroke-length",
        type=int,
        default=30,
        help="scribbles: longest stroke path, px (default 30)",
    )
    add_model_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.model_options import classes_for, model_config_from_args
    from napari_cathode.core.outputs import check_output

    out = check_output(
        args.out,
        inputs=[args.image, args.labels, _init_model(args.init_model)],
        overwrite=args.overwrite,
        what="--out folder",
    )
    model_config = model_config_from_args(args, classes=classes_for(args))
    if args.reviewer == "scribbles":
        from napari_cathode.jobs.simulate_scribbles import ScribbleConfig, simulate_scribbles

        config = ScribbleConfig(
            strokes=args.strokes,
            radius=args.brush_radius,
            length=args.stroke_length,
            rounds=args.rounds,
            seed=args.seed,
            init_model=_init_model(args.init_model),
        )
        return _simulate(simulate_scribbles, config, model_config, args, out, _describe_scribbles)
    from napari_cathode.jobs.simulate import SimulationConfig, simulate

    config = SimulationConfig(
        initial=args.initial,
        per_round=args.per_round,
        rounds=args.rounds,
        strategy=args.strategy,
        seed=args.seed,
        init_model=_init_model(args.init_model),
    )
    return _simulate(simulate, config, model_config, args, out, _describe_slices)


def _describe_slices(row: dict) -> str:
    return (
        f"{len(row['reviewed_slices'])} reviewed, {row['corrected_voxels']} corrected voxels, "
        f"mean Dice {_mean(row)} on {row['evaluated_slices']} slices"
    )


def _describe_scribbles(row: dict) -> str:
    return (
        f"{row['total_strokes']} strokes ({row['total_painted_voxels']} painted voxels), "
        f"mean Dice {_mean(row)}"
    )


def _mean(row: dict) -> str:
    return "-" if row["mean_dice"] is None else f"{row['mean_dice']:.3f}"


def _simulate(job, config, model_config, args, out, describe) -> int:
    """Read the inputs, replace an earlier run of ours, run ``job`` with progress per round."""
    from napari_cathode.cli.progress import TrainingProgress
    from napari_cathode.core.outputs import remove_output
    from napari_cathode.jobs.volume_files import read_image, read_labels
    from napari_cathode.ml.events import StartedEvent

    image = read_image(args.image)
    labels = read_labels(args.labels, classes=model_config.classes, shape=image.shape)
    remove_output(out)  # an earlier simulation (checked in run(): ours, and asked for)
    state = {"progress": None, "round": 0}

    def on_event(event) -> None:
        if isinstance(event, StartedEvent):
            state["progress"] = TrainingProgress(leave=False, desc=f"round {state['round']}")
        if isinstance(event, dict):  # a finished round's row of rounds.json
            print(
                f"round {event['round']}: {describe(event)} "
                f"({event['train_seconds']:.1f} s training)",
                file=sys.stderr,
            )
            state["round"] = event["round"] + 1
        elif state["progress"] is not None:
            state["progress"](event)

    job(
        image,
        labels,
        out_dir=args.out,
        config=config,
        model_config=model_config,
        sources={"image": str(args.image), "labels": str(args.labels)},
        on_event=on_event,
    )
    print(f"wrote {args.out}/rounds.json")
    return 0


def _init_model(choice: str | None) -> str | None:
    """``--init-model`` resolved to a model folder (``starter`` -> the shipped model)."""
    from napari_cathode.ml.starter import resolve_init_model

    folder = resolve_init_model(choice)
    return None if folder is None else str(folder)
