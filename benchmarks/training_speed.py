"""(d) Training speed on this machine: steps/s and the time of one warm round at defaults.

A warm round = the package's default round (``ModelConfig().steps``) on two reviewed slices of
a real acquisition, warm-started from a model (default: the shipped starter model); Dice is on
the acquisition's other slices. ``--long-factor 10`` also runs a ten-times-longer round from
the same start, to check the default round reaches >= 95 % of its Dice.

    .venv/bin/python benchmarks/training_speed.py --acquisition B --write
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time

from _common import dump, fmt, header, load, write_section

from napari_cathode.core.metrics import DiceCounts, mean_dice
from napari_cathode.core.model_document import read_model_document
from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.events import DoneEvent
from napari_cathode.ml.training import TrainingVolume, train

log = logging.getLogger("benchmarks.training_speed")


def one_round(image, labels, slices, steps: int, init: str | None) -> dict:
    config = ModelConfig(device="cpu", steps=steps)
    volume = TrainingVolume(image, labels, "bench", slices=tuple(slices))
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        for event in train([volume], config=config, out_dir=work, init_model=init):
            if isinstance(event, DoneEvent):
                done = event
        seconds = time.perf_counter() - started
        timings = read_model_document(work)["timings"]
        others = [z for z in range(labels.shape[0]) if z not in slices]
        proposal, _ = predict_array(work, image, slices=others, device="cpu")
    counts = DiceCounts()
    for z in others:
        counts.add(labels[z], proposal[z])
    dice = counts.scores(config.classes)
    result = {
        "steps": steps,
        "round_seconds": round(seconds, 1),
        "steps_per_second": timings["steps_per_second"],
        "device": done.device,
        "dice": dice,
        "mean_dice": mean_dice(dice),
    }
    log.info("%s", json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisition", default="B")
    parser.add_argument("--slices", type=int, nargs="+", default=[0, 3])
    parser.add_argument("--init-model", default="starter", help="starter, none or a folder")
    parser.add_argument("--long-factor", type=int, default=0)
    parser.add_argument("--json")
    parser.add_argument("--from-json", help="write the table of an earlier --json run")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from napari_cathode.ml.starter import resolve_init_model

    steps = ModelConfig().steps
    if args.from_json:
        results = json.loads(open(args.from_json).read())["results"]
        args.long_factor = results[-1]["steps"] // steps if len(results) == 2 else 0
    else:
        init = resolve_init_model(args.init_model)
        init = None if init is None else str(init)
        image, labels = load(args.acquisition)
        results = [one_round(image, labels, args.slices, steps, init)]
        if args.long_factor:
            results.append(one_round(image, labels, args.slices, steps * args.long_factor, init))
    lines = [
        "| round | steps | steps/s | seconds per round | pore / active / binder Dice | "
        "mean Dice on other slices |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {'default' if r['steps'] == steps else f'{args.long_factor}× longer'} | "
            f"{r['steps']} | {r['steps_per_second']:.2f} | {r['round_seconds']:.0f} | "
            + " / ".join(fmt(v) for v in r["dice"].values())
            + f" | {fmt(r['mean_dice'])} |"
        )
    text = "\n".join(lines)
    if len(results) == 2:
        ratio = results[0]["mean_dice"] / results[1]["mean_dice"]
        text += f"\n\nDefault round reaches {ratio * 100:.1f} % of the long round's Dice."
    print(text)
    dump(args.json, {"results": results})
    if args.write:
        write_section(
            "speed",
            header(
                "(d) Training speed (CPU)",
                data=f"real — acquisition {args.acquisition}, slices {args.slices} reviewed",
            )
            + f"\nWarm start from `{args.init_model}`; device {results[0]['device']}. No GPU "
            "was lent to this task, so there is no GPU row.\n\n" + text,
        )


if __name__ == "__main__":
    main()
