"""Self-training on pseudo-labels vs the same round without it vs the forest peer, same slices.

For every LOAO fold (train on two acquisitions; the held-out one's slices are the project's
unreviewed slices, its truth is never given to training) and every round of a from-scratch
``simulate`` loop (spread strategy; the unreviewed slices are the ones not yet reviewed), the
round is trained once at package defaults (the *teacher*, "ours"), then the student phase of
:mod:`napari_cathode.ml.pseudo_labels` runs on that same teacher for each ``--variants``
weight:confidence, and all are scored with the forest peer on the same slices. The teacher is
shared, so the difference is the pseudo-label phase alone (its random draws differ from those
of ``train(..., pseudo_label_weight=w)``, which continues the round's generator).

    .venv/bin/python benchmarks/pseudo_labels.py --mode loao --json /tmp/pl_loao.json
    .venv/bin/python benchmarks/pseudo_labels.py --mode simulate --acquisitions D --json ...
    .venv/bin/python benchmarks/pseudo_labels.py --from-json /tmp/pl_*.json --write
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import ACQUISITIONS, BASE_NOTE, command, dump, fmt, header, load, write_section
from _peer import dice_of, loao_peer, peer
from loao import parse_overrides

from napari_cathode.jobs.simulate import SimulationConfig, simulate
from napari_cathode.ml import pseudo_labels
from napari_cathode.ml.augment import Augmenter
from napari_cathode.ml.checkpoint import load_model
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.device import resolve_device
from napari_cathode.ml.events import DoneEvent
from napari_cathode.ml.prediction import Predictor
from napari_cathode.ml.sampling import PatchSampler
from napari_cathode.ml.training import (
    TrainingVolume,
    plan_split,
    train,
    training_regions,
    with_normalization,
)
from napari_cathode.ml.validation import BestCheckpoint, validation_predictors

log = logging.getLogger("benchmarks.pseudo_labels")
PEER_CACHE: dict = {}


def score(network, forest, config, volume, labels, slices) -> dict:
    """Dice of the hybrid at ``config.forest_weight`` and of the network alone on ``slices``."""
    device = torch.device("cpu")
    predictor = Predictor(
        network, config=config, normalization=volume.normalization, device=device, forest=None
    )
    ids = np.array([c.id for c in config.classes], np.uint8)
    w = config.forest_weight if forest is not None else 0.0
    hybrid, alone = [], []
    for z in slices:
        net = predictor.probabilities(volume.image, z, z + 1, slice(None), slice(None))[:, 0]
        net = net.numpy()
        own = forest.predict_proba(volume.image, z, volume.normalization) if w else 0.0
        hybrid.append(ids[np.argmax((1 - w) * net + w * own, axis=0)])
        alone.append(ids[np.argmax(net, axis=0)])
    return {
        "hybrid": dice_of(labels, hybrid, slices),
        "network": dice_of(labels, alone, slices),
    }


def student(model_dir, volumes, config: ModelConfig, weight, confidence, share=0.0) -> tuple:
    """Run the pseudo-label phase on the saved teacher; (network, forest, summary, seconds)."""
    model = load_model(model_dir)
    config = model.config.replace(
        pseudo_label_weight=weight,
        pseudo_label_confidence=confidence,
        pseudo_label_class_share=share,
        pseudo_label_steps=config.pseudo_label_steps,
        pseudo_label_slices=config.pseudo_label_slices,
    )
    network, device = model.network, resolve_device("cpu")
    volumes = [with_normalization(v, config) for v in volumes]
    split = plan_split(volumes)
    rng = np.random.default_rng(config.seed + 1)
    sampler = PatchSampler(training_regions(volumes, split, config), config=config, rng=rng)
    checkpoints = BestCheckpoint(
        volumes, split, config, validation_predictors(network, volumes, config, device)
    )
    checkpoints.validate(network, config.steps, [0.0])
    checkpoints.keep_if_best(network)
    started = time.perf_counter()
    phase = pseudo_labels.self_train(
        network,
        model.forest,
        volumes,
        config,
        device,
        truth_sampler=sampler,
        augmenter=Augmenter(config, seed=config.seed + 1),
        checkpoints=checkpoints,
        rng=rng,
        cancelled=lambda: False,
    )
    try:
        while True:
            next(phase)
    except StopIteration as stop:
        summary = stop.value
    return network, model.forest, summary, round(time.perf_counter() - started, 1)


def compare(model_dir, volumes, target: TrainingVolume, labels, slices, config, variants) -> dict:
    """Teacher vs each student variant on ``slices`` of ``target``."""
    teacher = load_model(model_dir)
    target = with_normalization(target, teacher.config)
    out = {"ours": score(teacher.network, teacher.forest, teacher.config, target, labels, slices)}
    for weight, confidence, *share in variants:
        network, forest, summary, seconds = student(
            model_dir, volumes, config, weight, confidence, *share
        )
        key = f"pseudo w={weight} c={confidence}" + (f" s={share[0]}" if share else "")
        out[key] = {
            **score(network, forest, teacher.config, target, labels, slices),
            "summary": summary,
            "seconds": seconds,
        }
        log.info("%s: ours %.3f, %s %.3f", target.name, out["ours"]["hybrid"]["mean_dice"],
                 key, out[key]["hybrid"]["mean_dice"])  # fmt: skip
    return out


def loao_fold(held_out: str, config: ModelConfig, variants, data) -> dict:
    image, labels = data[held_out]
    others = [n for n in ACQUISITIONS if n != held_out]
    # The held-out acquisition's slices are unreviewed: its image only, no truth.
    target = TrainingVolume(image, np.zeros_like(labels), held_out, slices=())
    volumes = [TrainingVolume(data[n][0], data[n][1], n) for n in others] + [target]
    slices = [z for z in range(labels.shape[0]) if labels[z].any()]
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        for event in train(volumes, config=config, out_dir=work):
            if isinstance(event, DoneEvent):
                log.info("fold %s: teacher trained in %.0f s", held_out, event.seconds)
        seconds = time.perf_counter() - started
        result = compare(work, volumes, target, labels, slices, config, variants)
    result["forest"] = loao_peer(data, held_out, slices)
    return {"mode": "loao", "acquisition": held_out, "train_seconds": round(seconds), **result}


def simulate_runs(name: str, config: ModelConfig, variants, args) -> list[dict]:
    image, labels = load(name)
    rows = []
    with tempfile.TemporaryDirectory() as work:

        def after_round(event) -> None:
            if not (isinstance(event, dict) and "reviewed_slices" in event):
                return
            reviewed = event["reviewed_slices"]
            remaining = [z for z in range(labels.shape[0]) if labels[z].any() and z not in reviewed]
            if not remaining:
                return
            model_dir = Path(work) / "rounds" / f"{event['round']:04d}"
            volume = TrainingVolume(image, labels, name, slices=tuple(reviewed))
            result = compare(model_dir, [volume], volume, labels, remaining, config, variants)
            result["forest"] = peer([image], [labels], [reviewed], image, labels, remaining,
                                    PEER_CACHE)  # fmt: skip
            rows.append(
                {
                    "mode": "simulate",
                    "acquisition": name,
                    "reviewed": len(reviewed),
                    "train_seconds": event["train_seconds"],
                    **result,
                }
            )

        simulate(
            image,
            labels,
            out_dir=work,
            config=SimulationConfig(initial=1, per_round=1, rounds=args.rounds, strategy="spread"),
            model_config=config,
            on_event=after_round,
        )
    return rows


def merge(rows: list[dict]) -> list[dict]:
    """One row per (mode, acquisition, reviewed): variants of runs on the same teacher joined.

    The teacher of a fold or round is deterministic (same seed, same slices); the runs' "ours"
    must agree, which is checked.
    """
    merged: dict[tuple, dict] = {}
    for r in rows:
        key = (r["mode"], r["acquisition"], r.get("reviewed"))
        if key in merged:
            first = merged[key]["ours"]["hybrid"]["mean_dice"]
            if abs(first - r["ours"]["hybrid"]["mean_dice"]) > 1e-6:
                raise SystemExit(f"{key}: the runs' teachers differ ({first} vs the other)")
            merged[key].update({k: v for k, v in r.items() if k.startswith("pseudo ")})
        else:
            merged[key] = dict(r)
    return list(merged.values())


def table(rows: list[dict]) -> str:
    """Markdown: Dice per setting and acquisition (+ mean), then the pseudo-label details."""
    rows = merge(rows)
    variants = list(dict.fromkeys(k for r in rows for k in r if k.startswith("pseudo ")))
    lines = [
        "| setting | acquisition | forest peer | ours (Δ vs forest) | "
        + " | ".join(f"ours + {v} (Δ vs forest, Δ vs ours)" for v in variants)
        + " |",
        "|---|---|---|---|" + "---|" * len(variants),
    ]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        setting = "LOAO transfer" if r["mode"] == "loao" else f"simulate, {r['reviewed']} reviewed"
        groups.setdefault(setting, []).append(r)
    for setting, group in groups.items():
        for r in [*group, None] if len(group) > 1 else group:
            members = group if r is None else [r]
            forest = np.mean([m["forest"]["mean_dice"] for m in members])
            ours = np.mean([m["ours"]["hybrid"]["mean_dice"] for m in members])
            cells = []
            for v in variants:
                have = [m for m in members if v in m]
                if not have:
                    cells.append("–")
                    continue
                value = np.mean([m[v]["hybrid"]["mean_dice"] for m in have])
                base = np.mean([m["ours"]["hybrid"]["mean_dice"] for m in have])
                peer_ = np.mean([m["forest"]["mean_dice"] for m in have])
                runs = f", {len(have)} of {len(members)}" if len(have) < len(members) else ""
                cells.append(f"{fmt(value)} ({value - peer_:+.3f}, **{value - base:+.3f}**{runs})")
            name = "**mean**" if r is None else r["acquisition"]
            lines.append(
                f"| {setting} | {name} | {fmt(forest)} | {fmt(ours)} ({ours - forest:+.3f}) | "
                + " | ".join(cells)
                + " |"
            )
    lines += [
        "",
        "| setting | acquisition | variant | confident voxels | pseudo-labels pore / active / "
        "binder | student adopted | student phase s | network alone: ours → student | binder "
        "Dice: ours → student |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for setting, group in groups.items():
        for r in group:
            for v in variants:
                if v not in r:
                    continue
                summary = r[v]["summary"]
                per = summary.get("per_class", {})
                total = max(1, sum(per.values()))
                shares = " / ".join(f"{100 * n / total:.0f} %" for n in per.values())
                lines.append(
                    f"| {setting} | {r['acquisition']} | {v} | "
                    f"{fmt(summary.get('confident_fraction'), 2)} | {shares} | "
                    f"{summary.get('adopted')} | {r[v]['seconds']:.0f} | "
                    f"{fmt(r['ours']['network']['mean_dice'])} → "
                    f"{fmt(r[v]['network']['mean_dice'])} | "
                    f"{fmt(r['ours']['hybrid']['dice']['carbon-binder'])} → "
                    f"{fmt(r[v]['hybrid']['dice']['carbon-binder'])} |"
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("loao", "simulate"), default="loao")
    parser.add_argument("--acquisitions", nargs="+", default=list(ACQUISITIONS))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--variants", nargs="+", default=["0.5:0.9"], metavar="WEIGHT:CONF[:CLASS_SHARE]"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json")
    parser.add_argument("--from-json", nargs="+")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("napari_cathode").setLevel(logging.WARNING)
    rows: list[dict] = []
    commands = []
    for path in args.from_json or []:
        previous = json.loads(Path(path).read_text())
        rows += previous["rows"]
        commands.append(previous["command"])
    if not args.from_json:
        config = ModelConfig(device="cpu", **parse_overrides(args.set))
        variants = [tuple(float(x) for x in v.split(":")) for v in args.variants]
        data = {name: load(name) for name in ACQUISITIONS} if args.mode == "loao" else None
        for name in args.acquisitions:  # written after each, so a stopped run keeps its part
            if args.mode == "loao":
                rows.append(loao_fold(name, config, variants, data))
            else:
                rows += simulate_runs(name, config, variants, args)
            dump(args.json, {"rows": rows, "command": command(), "overrides": args.set})
    text = table(rows)
    print(text)
    if args.write:
        write_section(
            "pseudo",
            header("(e) Self-training on pseudo-labels of the unreviewed slices", data=BASE_NOTE)
            + "".join(f"- measured by: `{c}`\n" for c in commands)
            + "\nEach cell: mean Dice on the unreviewed labelled slices (Δ vs the forest peer, Δ "
            "vs ours without pseudo-labels); 'ours + pseudo w=W c=C' = the same teacher after the "
            "student phase with pseudo-label loss weight W and confidence C (and class share S: "
            "each predicted class also keeps its most confident S of voxels).\n\n" + text,
        )


if __name__ == "__main__":
    main()
