"""(b) The simulated review loop on each real acquisition: from scratch and warm from a model
trained on the other acquisitions (the leave-one-acquisition-out models kept by
``benchmarks/loao.py --keep DIR``), for each strategy.

Round 0 reviews ``--initial`` slices, every later round one more; Dice is on the slices not yet
reviewed, so the last rounds of a 4-slice acquisition are measured on very few slices.

    .venv/bin/python benchmarks/simulate.py --init-dir /tmp/loao-models --write
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from _common import ACQUISITIONS, BASE_NOTE, dump, fmt, header, load, write_section
from _peer import at_default_weight, blends, peer, weight_table
from loao import parse_overrides

from napari_cathode.jobs.simulate import SimulationConfig, simulate
from napari_cathode.ml.config import ModelConfig

log = logging.getLogger("benchmarks.simulate")


#: Forest peer results per (acquisition, reviewed slices, evaluated slices): the same slices
#: give the same forest, whether the network started from scratch or warm.
PEER_CACHE: dict = {}


def run(name: str, strategy: str, init_model: str | None, args) -> dict:
    image, labels = load(name)
    with tempfile.TemporaryDirectory() as work:

        def score_peers(event) -> None:
            """After each round: the forest peer and the blend weights on the same slices."""
            if not (isinstance(event, dict) and "reviewed_slices" in event):
                return
            remaining = [
                z
                for z in range(labels.shape[0])
                if labels[z].any() and z not in event["reviewed_slices"]
            ]
            if not remaining:
                return
            reviewed = event["reviewed_slices"]
            event["forest"] = peer(
                [image], [labels], [reviewed], image, labels, remaining, PEER_CACHE
            )
            event["blends"] = blends(
                Path(work) / "rounds" / f"{event['round']:04d}", image, labels, remaining
            )
            log.info("%s round %d: forest %s", name, event["round"], event["forest"]["mean_dice"])

        document = simulate(
            image,
            labels,
            out_dir=work,
            config=SimulationConfig(
                initial=args.initial,
                per_round=1,
                rounds=args.rounds,
                strategy=strategy,
                seed=args.seed,
                init_model=init_model,
            ),
            model_config=ModelConfig(device="cpu", **parse_overrides(args.set)),
            on_event=score_peers,
        )
    for r in document["rounds"]:
        log.info("%s %s %s round %d: %s", name, strategy, init_model, r["round"], r["mean_dice"])
    return document


def strategy_summary(runs: list[dict]) -> str:
    """Mean Dice per strategy after each number of reviewed slices, over the runs that have it."""
    by: dict[tuple[str, int], list[float]] = {}
    for r in runs:
        for x in r["rounds"]:
            if x["mean_dice"] is not None:
                by.setdefault((r["strategy"], len(x["reviewed_slices"])), []).append(x["mean_dice"])
    counts = sorted({n for _, n in by})
    lines = [
        "| strategy | " + " | ".join(f"{n} reviewed: mean Dice (runs)" for n in counts) + " |",
        "|---|" + "---|" * len(counts),
    ]
    for strategy in sorted({s for s, _ in by}):
        cells = [
            f"{fmt(sum(v) / len(v))} ({len(v)})" if (v := by.get((strategy, n))) else "–"
            for n in counts
        ]
        lines.append(f"| {strategy} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def peer_summary(runs: list[dict]) -> str:
    """Ours vs the network alone vs the forest peer, per start and number of reviewed slices."""
    by: dict[tuple[str, str, int], list[dict]] = {}
    for r in runs:
        for x in r["rounds"]:
            if "forest" in x and x["mean_dice"] is not None:
                key = (r["start"], r["strategy"], len(x["reviewed_slices"]))
                by.setdefault(key, []).append({**x, "acquisition": r["acquisition"]})
    lines = [
        "| start | strategy | reviewed | ours (mean over acquisitions) | network alone "
        "| forest peer | Δ vs forest (mean) | Δ per acquisition |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (start, strategy, n), rows in sorted(by.items()):
        ours = sum(x["mean_dice"] for x in rows) / len(rows)
        net = [x["blends"]["0.0"]["mean_dice"] for x in rows if "blends" in x]
        forest = sum(x["forest"]["mean_dice"] for x in rows) / len(rows)
        per = ", ".join(
            f"{x['acquisition']} {x['mean_dice'] - x['forest']['mean_dice']:+.3f}" for x in rows
        )
        lines.append(
            f"| {start} | {strategy} | {n} | **{fmt(ours)}** | "
            f"{fmt(sum(net) / len(net)) if net else '–'} | {fmt(forest)} | "
            f"**{ours - forest:+.3f}** | {per} |"
        )
    groups: dict[str, list[dict]] = {}
    for r in runs:
        for x in r["rounds"]:
            if "blends" in x:
                groups.setdefault(f"{r['start']}, {len(x['reviewed_slices'])} reviewed", []).append(
                    x["blends"]
                )
    if groups:
        lines.append(
            "\nForest weight w of the hybrid (prediction = (1 − w) · network + w · the round's "
            "own small forest; w = 0 is the network alone), mean Dice over acquisitions on the "
            "same slices:\n"
        )
        lines.append(weight_table(dict(sorted(groups.items()))))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--acquisitions", nargs="+", default=list(ACQUISITIONS))
    parser.add_argument("--strategies", nargs="+", default=["spread", "random", "uncertainty"])
    parser.add_argument("--starts", nargs="+", default=["scratch", "init"])
    parser.add_argument("--init-dir", help="folder of loao.py --keep models (for 'init')")
    parser.add_argument("--initial", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json")
    parser.add_argument(
        "--from-json", nargs="+", help="write the table of earlier --json runs (merged)"
    )
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runs = []
    for path in args.from_json or []:
        runs += json.loads(Path(path).read_text())["runs"]
    for name in args.acquisitions if not args.from_json else []:
        for start in args.starts:
            init = None
            if start == "init":
                init = str(Path(args.init_dir) / f"without-{name}-seed{args.seed}")
            for strategy in args.strategies:
                document = simulate_one = run(name, strategy, init, args)
                runs.append(
                    {
                        "acquisition": name,
                        "start": start,
                        "strategy": strategy,
                        "rounds": simulate_one["rounds"],
                        "device": document["device"],
                    }
                )
    weight = at_default_weight([x for r in runs for x in r["rounds"]])
    lines = [
        "| acquisition | start | strategy | reviewed slices → mean Dice (pore / active / binder)"
        " | forest peer, same slices | Δ vs forest | corrected voxels per round "
        "| train s per round |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        steps = "; ".join(
            f"{len(x['reviewed_slices'])} → **{fmt(x['mean_dice'])}** ("
            + " / ".join(fmt(v, 2) for v in x["dice"].values())
            + f", on {x['evaluated_slices']})"
            for x in r["rounds"]
        )
        forest = "; ".join(
            f"{fmt(x['forest']['mean_dice'])} ("
            + " / ".join(fmt(v, 2) for v in x["forest"]["dice"].values())
            + ")"
            for x in r["rounds"]
            if "forest" in x
        )
        delta = ", ".join(
            f"{x['mean_dice'] - x['forest']['mean_dice']:+.3f}"
            for x in r["rounds"]
            if "forest" in x
        )
        effort = ", ".join(f"{x['corrected_voxels']:,}" for x in r["rounds"])
        seconds = ", ".join(f"{x['train_seconds']:.0f}" for x in r["rounds"])
        start = "from scratch" if r["start"] == "scratch" else "LOAO model of the others"
        lines.append(
            f"| {r['acquisition']} | {start} | {r['strategy']} | {steps} | {forest or '–'} | "
            f"{delta or '–'} | {effort} | {seconds} |"
        )
    text = "\n".join(lines) + "\n\n" + strategy_summary(runs) + "\n\n" + peer_summary(runs)
    print(text)
    dump(args.json, {"runs": runs})
    if args.write:
        write_section(
            "simulate",
            header("(b) Simulated review loop (Dice vs reviewed slices)", data=BASE_NOTE)
            + f"\nPackage defaults ('ours' = the hybrid at the default forest weight {weight}), "
            f"seed {args.seed}, `--initial {args.initial} --per-round 1 "
            f"--rounds {args.rounds}`; '(…, on n)' = pore / active / binder Dice on the n slices "
            "not yet reviewed.\n\n" + text,
        )


if __name__ == "__main__":
    main()
