"""``napari-cathode simulate``: the incremental loop with a reviewer who knows the labels."""

from __future__ import annotations

import argparse
import sys

from napari_cathode.cli.options import non_negative_int, positive_int

EXAMPLES = """examples:
  napari-cathode simulate --image A.tif --labels A_labels.tif --out sim-A
  napari-cathode simulate --image C.tif --labels C_labels.tif --out sim-C \\
      --init-model nmc-model --initial 1 --per-round 1 --rounds 4 --strategy uncertainty

writes OUT/rounds.json: {"config": {...}, "device": "cpu", "rounds": [{"round": r,
"reviewed_slices": [...], "corrected_voxels": c, "train_seconds": t, "predict_seconds": p,
"dice": {...}, "mean_dice": m}, ...]}; round r's Dice is on every labelled slice not reviewed
by the end of round r. --rounds counts all rounds, round 0 included. Models: OUT/rounds/NNNN/.
"""


def register(sub) -> None:
    from napari_cathode.cli.cmd_train import add_model_options

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
    add_model_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from napari_cathode.cli.cmd_train import TrainingProgress, classes_for, model_config_from_args
    from napari_cathode.jobs.simulate import SimulationConfig, simulate
    from napari_cathode.jobs.volume_files import read_image, read_labels
    from napari_cathode.ml.events import StartedEvent

    config = SimulationConfig(
        initial=args.initial,
        per_round=args.per_round,
        rounds=args.rounds,
        strategy=args.strategy,
        seed=args.seed,
        init_model=_init_model(args.init_model),
    )
    from napari_cathode.core.outputs import check_output, remove_output

    out = check_output(
        args.out,
        inputs=[args.image, args.labels, config.init_model],
        overwrite=args.overwrite,
        what="--out folder",
    )
    model_config = model_config_from_args(args, classes=classes_for(args))
    image = read_image(args.image)
    labels = read_labels(args.labels, classes=model_config.classes, shape=image.shape)
    remove_output(out)  # an earlier simulation (checked above: ours, and asked for)
    state = {"progress": None, "round": 0}

    def on_event(event) -> None:
        if isinstance(event, StartedEvent):
            state["progress"] = TrainingProgress(leave=False, desc=f"round {state['round']}")
        if isinstance(event, dict):
            mean = "-" if event["mean_dice"] is None else f"{event['mean_dice']:.3f}"
            print(
                f"round {event['round']}: {len(event['reviewed_slices'])} reviewed, "
                f"{event['corrected_voxels']} corrected voxels, mean Dice {mean} "
                f"on {event['evaluated_slices']} slices ({event['train_seconds']:.1f} s training)",
                file=sys.stderr,
            )
            state["round"] = event["round"] + 1
        elif state["progress"] is not None:
            state["progress"](event)

    simulate(
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
