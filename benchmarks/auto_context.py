"""(f) Auto-context: the forest's class probabilities as extra input channels of the U-Net.

For every leave-one-acquisition-out fold (train on two real acquisitions, score every labelled
slice of the third, as ``benchmarks/loao.py``) three learners are scored on the same slices
with the same Dice (``_peer.dice_of``):

- the forest peer (``_peer.peer``: ilastik-style features + 100-tree forest);
- ours at package defaults (``train`` + ``predict_array``: the hybrid 0.75 network + 0.25
  forest);
- ours with auto-context: the package's U-Net (same config) with ``1 + n_classes`` input
  channels, the normalised slice and the probabilities of the round's forest
  (``ml.forest.model_forest``). On the training acquisitions the probabilities are
  *out-of-fold*: the labelled slices are split 2-fold (alternating), each half gets the
  probabilities of a forest fitted on the other half, so the network sees the forest's
  mistakes on data it was not fitted on (a forest predicts its own training voxels almost
  perfectly, and a network would learn to copy it). The held-out acquisition gets the
  probabilities of the forest fitted on every labelled slice of the training acquisitions,
  as a product round would. The network is trained with the package's sampler, loss, AdamW +
  one-cycle schedule, steps, hold-out rule and best-checkpoint choice; the augmentation is the
  package's (flips, 90° rotations on every channel; intensity jitter on the image channel
  only, never on the probabilities). It is scored alone and blended with that forest at the
  package's forest weight.

``--arms`` also takes the variants of :data:`VARIANTS`: the forest channels replaced by 1/K
(no information) in half of the training patches, and this script's loop on the image alone
(the control that separates the forest channels from the hand-written loop).

This is a benchmark, not a product change: prediction would need the forest before the
network, and the starter model has no forest.

    .venv/bin/python benchmarks/auto_context.py --held-out A --json /tmp/w10d/ac_A.json
    .venv/bin/python benchmarks/auto_context.py --from-json /tmp/w10d/ac_*.json --write
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import ACQUISITIONS, BASE_NOTE, command, dump, fmt, header, load, write_section
from _peer import dice_of, loao_peer
from loao import parse_overrides
from monai.networks.nets import UNet
from monai.transforms import (
    Compose,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandRotate90d,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

from napari_cathode.jobs.prediction_job import predict_array
from napari_cathode.ml.config import ModelConfig
from napari_cathode.ml.forest import model_forest
from napari_cathode.ml.optimisation import Optimisation
from napari_cathode.ml.prediction import Predictor
from napari_cathode.ml.sampling import PatchSampler, TrainingRegion, extract_regions
from napari_cathode.ml.training import TrainingVolume, plan_split, train, with_normalization
from napari_cathode.ml.validation import is_validation_step

log = logging.getLogger("benchmarks.auto_context")
CPU = torch.device("cpu")


def fit_forest(volumes, pairs, config):
    """The round's forest (package settings) fitted on the (volume, z) ``pairs``."""
    return model_forest(config).fit(
        [v.image for v in volumes],
        [v.truth for v in volumes],
        [[z for vi, z in pairs if vi == i] for i in range(len(volumes))],
        normalizations=[v.normalization for v in volumes],
    )


def out_of_fold(volumes, pairs, config) -> dict:
    """Forest probabilities (K, y, x) of every pair, each from a forest not fitted on it."""
    halves = [pairs[0::2], pairs[1::2]]
    out = {}
    for own, other in (halves, halves[::-1]):
        forest = fit_forest(volumes, other, config)
        for vi, z in own:
            out[(vi, z)] = forest.predict_proba(volumes[vi].image, z, volumes[vi].normalization)
    return out


def stacked(volume, z, proba, config) -> np.ndarray:
    """Input channels (1 + K, y, x) of slice ``z``: the normalised image, then ``proba``."""
    (region,) = extract_regions(
        volume.image, volume.truth, [z], config=config, normalization=volume.normalization
    )
    if proba is None:
        return region.image.astype(np.float32)
    return np.concatenate([region.image, proba]).astype(np.float32)


class ChannelAugmenter:
    """The package's augmentation (:class:`napari_cathode.ml.augment.Augmenter`, same
    parameters) with the intensity transforms on the image channel only.

    Written here because the package's augmenter jitters every input channel, which would
    scale and shift the forest's probabilities.
    """

    def __init__(self, config: ModelConfig, seed: int) -> None:
        keys = ("image", "truth")
        geometric = [RandFlipd(keys, prob=0.5, spatial_axis=axis) for axis in (0, 1)]
        geometric.append(RandRotate90d(keys, prob=0.5, max_k=3, spatial_axes=(0, 1)))
        jitter = config.intensity_jitter
        intensity = [
            RandScaleIntensityd("raw", factors=0.15 * jitter, prob=0.5),
            RandShiftIntensityd("raw", offsets=0.1 * jitter, prob=0.5),
            RandAdjustContrastd(
                "raw", gamma=(0.7 ** min(jitter, 2.0), 1.5 ** min(jitter, 2.0)), prob=0.3
            ),
            RandGaussianNoised("raw", std=0.03 * jitter, prob=0.3),
        ]
        self.geometric = Compose(geometric).set_random_state(seed=seed)
        self.intensity = Compose(intensity).set_random_state(seed=seed + 1)

    def __call__(self, images: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out_images, out_truth = [], []
        for image, labels in zip(images, truth):
            item = self.geometric(
                {"image": torch.from_numpy(image), "truth": torch.from_numpy(labels[None])}
            )
            moved = np.asarray(item["image"])
            raw = np.asarray(self.intensity({"raw": torch.from_numpy(moved[:1].copy())})["raw"])
            out_images.append(np.concatenate([raw, moved[1:]]))
            out_truth.append(np.asarray(item["truth"])[0])
        return np.stack(out_images).astype(np.float32), np.stack(out_truth).astype(np.int64)


def build_network(config: ModelConfig, in_channels: int) -> torch.nn.Module:
    """``napari_cathode.ml.networks.build_network`` with ``in_channels`` inputs."""
    torch.manual_seed(config.seed)
    return UNet(
        spatial_dims=2,
        in_channels=in_channels,
        out_channels=config.num_classes,
        channels=config.channels,
        strides=(2,) * (len(config.channels) - 1),
        num_res_units=config.residual_units,
        norm="batch",
    )


def network_proba(network, config, inputs: np.ndarray) -> np.ndarray:
    """Softmax (K, y, x) of one slice's input channels (the package's whole-plane inference)."""
    predictor = Predictor(network, config=config, normalization=None, device=CPU)
    # _forward: the package's padded whole-plane pass (private; a benchmark may use it)
    return predictor._forward(torch.from_numpy(inputs[None]))[0].numpy()


def train_auto_context(
    volumes, config: ModelConfig, *, forest_channels: bool = True, dropout: float = 0.0
) -> tuple[torch.nn.Module, dict]:
    """Train the auto-context network on ``volumes``; (network, summary).

    ``forest_channels=False`` trains the same loop on the image alone (the control);
    ``dropout`` replaces the forest channels of that share of the training patches by the
    uniform 1/K (no information), so the network cannot lean on the forest alone.
    """
    started = time.perf_counter()
    split = plan_split(volumes)
    pairs = sorted(set(split.train) | set(split.validation))
    proba = out_of_fold(volumes, pairs, config) if forest_channels else {}
    forest_seconds = time.perf_counter() - started
    inputs = {p: stacked(volumes[p[0]], p[1], proba.get(p), config) for p in pairs}
    regions = [
        TrainingRegion(inputs[p], np.asarray(volumes[p[0]].truth[p[1]], np.uint8), "", p[1])
        for p in split.train
    ]
    network = build_network(config, 1 + (config.num_classes if forest_channels else 0))
    drop = np.random.default_rng(config.seed + 2)
    sampler = PatchSampler(regions, config=config, rng=np.random.default_rng(config.seed))
    augmenter = ChannelAugmenter(config, config.seed)
    optimisation = Optimisation.create(network.parameters(), config, CPU)
    ids = np.array([c.id for c in config.classes], np.uint8)
    best, history = None, []
    for step in range(1, config.steps + 1):
        network.train()
        images, truth = augmenter(*sampler.sample(config.batch_size))
        if dropout:
            images[drop.random(len(images)) < dropout, 1:] = 1.0 / config.num_classes
        loss = optimisation.step(network, images, truth)
        if is_validation_step(step, config):
            network.eval()
            predicted = [ids[np.argmax(network_proba(network, config, inputs[p]), 0)]
                         for p in split.validation]  # fmt: skip
            truths = {i: volumes[p[0]].truth for i, p in enumerate(split.validation)}
            score = _pooled(truths, predicted, [p[1] for p in split.validation])
            history.append({"step": step, "loss": round(loss, 4), "mean_dice": score})
            log.info("auto-context step %d loss %.3f validation %.3f", step, loss, score)
            if best is None or score >= best[1] or not split.held_out:
                best = (step, score, copy.deepcopy(network.state_dict()))
    network.load_state_dict(best[2])
    network.eval()
    summary = {
        "best_step": best[0],
        "history": history,
        "forest_seconds": round(forest_seconds, 1),
        "train_seconds": round(time.perf_counter() - started, 1),
    }
    return network, summary


def _pooled(truths: dict, predicted: list, zs: list) -> float:
    """Mean Dice of ``predicted[i]`` against slice ``zs[i]`` of ``truths[i]``, pooled."""
    from napari_cathode.core.metrics import DiceCounts, mean_dice

    counts = DiceCounts()
    for i, z in enumerate(zs):
        counts.add(truths[i][z], predicted[i])
    return mean_dice(counts.scores(ModelConfig().classes))


def run_fold(held_out: str, config: ModelConfig, data: dict, arms: list[str]) -> dict:
    """The forest peer, ours at defaults and ours with auto-context on ``held_out``."""
    others = [n for n in ACQUISITIONS if n != held_out]
    image, labels = data[held_out]
    slices = [z for z in range(labels.shape[0]) if labels[z].any()]
    volumes = [TrainingVolume(data[n][0], data[n][1], n) for n in others]
    result = {"held_out": held_out, "seed": config.seed, "steps": config.steps}
    result["forest"] = loao_peer(data, held_out, slices)
    log.info("%s: forest peer %.3f", held_out, result["forest"]["mean_dice"])
    if "ours" in arms:
        with tempfile.TemporaryDirectory() as work:
            started = time.perf_counter()
            for _ in train(volumes, config=config, out_dir=work):
                pass
            seconds = time.perf_counter() - started
            proposal, _ = predict_array(work, image, device="cpu")
        result["ours"] = {
            **dice_of(labels, proposal[slices], slices),
            "train_seconds": round(seconds, 1),
        }
        log.info("%s: ours %.3f (%.0f s)", held_out, result["ours"]["mean_dice"], seconds)
    variants = {a: VARIANTS[a] for a in arms if a in VARIANTS}
    if variants:
        normalised = [with_normalization(v, config) for v in volumes]
        everything = [(i, z) for i, v in enumerate(normalised) for z in _labelled(v)]
        forest = fit_forest(normalised, everything, config)
        target = with_normalization(TrainingVolume(image, labels, held_out), config)
        own = {z: forest.predict_proba(image, z, target.normalization) for z in slices}
        ids = np.array([c.id for c in config.classes], np.uint8)
        result["round forest alone"] = dice_of(
            labels, [ids[np.argmax(own[z], 0)] for z in slices], slices
        )
    w = config.forest_weight
    for arm, options in variants.items():
        network, summary = train_auto_context(normalised, config, **options)
        alone, hybrid = [], []
        for z in slices:
            proba = own[z] if options.get("forest_channels", True) else None
            net = network_proba(network, config, stacked(target, z, proba, config))
            alone.append(ids[np.argmax(net, 0)])
            hybrid.append(ids[np.argmax((1 - w) * net + w * own[z], 0)])
        result[arm] = {**dice_of(labels, hybrid, slices), **summary}
        result[f"{arm} network alone"] = dice_of(labels, alone, slices)
        log.info("%s: %s %.3f (network alone %.3f, its forest %.3f)", held_out, arm,
                 result[arm]["mean_dice"], result[f"{arm} network alone"]["mean_dice"],
                 result["round forest alone"]["mean_dice"])  # fmt: skip
    return result


def _labelled(volume) -> list[int]:
    return [z for z in range(volume.truth.shape[0]) if volume.truth[z].any()]


#: Learners trained by this script's loop: keyword arguments of :func:`train_auto_context`.
VARIANTS = {
    "auto-context": {},
    "auto-context, forest channels dropped p=0.5": {"dropout": 0.5},
    "same loop, image only (control)": {"forest_channels": False},
}
ARMS = (
    "ours",
    "auto-context",
    "auto-context network alone",
    "auto-context, forest channels dropped p=0.5",
    "same loop, image only (control)",
    "round forest alone",
)


def table(results: list[dict], classes: list[str]) -> str:
    """Markdown: per fold and mean, each learner's Dice (per class → mean, Δ vs forest)."""
    lines = [
        "| held out | steps | forest peer | "
        + " | ".join(f"{a} (Δ vs forest)" for a in ARMS)
        + " | Δ auto-context vs ours |",
        "|---|---|---|" + "---|" * (len(ARMS) + 1),
    ]

    def cell(r, key):
        if key not in r:
            return "–"
        d = r[key]
        per = " / ".join(fmt(d["dice"][c], 2) for c in classes)
        return (
            f"{per} → **{fmt(d['mean_dice'])}** ({d['mean_dice'] - r['forest']['mean_dice']:+.3f})"
        )

    for r in results:
        gain = (
            f"**{r['auto-context']['mean_dice'] - r['ours']['mean_dice']:+.3f}**"
            if "ours" in r and "auto-context" in r
            else "–"
        )
        lines.append(
            f"| {r['held_out']} | {r['steps']} | {cell(r, 'forest')} | "
            + " | ".join(cell(r, a) for a in ARMS)
            + f" | {gain} |"
        )
    if len(results) > 1:
        mean = lambda key: np.mean([r[key]["mean_dice"] for r in results])  # noqa: E731
        forest = mean("forest")
        cells = [
            f"**{fmt(mean(a))}** ({mean(a) - forest:+.3f})" if all(a in r for r in results) else "–"
            for a in ARMS
        ]
        both = all("ours" in r and "auto-context" in r for r in results)
        gain = f"**{mean('auto-context') - mean('ours'):+.3f}**" if both else "–"
        lines.append(
            f"| **mean of {len(results)} folds** | | **{fmt(forest)}** | "
            + " | ".join(cells)
            + f" | {gain} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=list(ACQUISITIONS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arms", nargs="+", default=["ours", "auto-context"])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", help="write raw results here (after every fold)")
    parser.add_argument("--from-json", nargs="+", help="write the table of earlier --json runs")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.d/model.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("napari_cathode").setLevel(logging.WARNING)
    config = ModelConfig(device="cpu", seed=args.seed, **parse_overrides(args.set))
    commands = []
    if args.from_json:
        results = []
        for path in args.from_json:
            previous = json.loads(Path(path).read_text())
            commands.append(previous["command"])
            for r in previous["results"]:
                same = [m for m in results if m["held_out"] == r["held_out"]]
                if not same:
                    results.append(r)
                    continue
                if abs(same[0]["forest"]["mean_dice"] - r["forest"]["mean_dice"]) > 1e-9:
                    raise SystemExit(f"fold {r['held_out']}: the runs' forest peers differ")
                same[0].update({k: v for k, v in r.items() if k not in same[0]})
    else:
        data = {name: load(name) for name in ACQUISITIONS}
        results = []
        for held_out in args.held_out:
            results.append(run_fold(held_out, config, data, args.arms))
            dump(args.json, {"results": results, "command": command(), "overrides": args.set})
    text = table(results, [c.name for c in config.classes])
    print(text)
    if args.write:
        write_section(
            "auto_context",
            header("(f) Auto-context: forest probabilities as U-Net input", data=BASE_NOTE)
            + "".join(f"- measured by: `{c}`\n" for c in commands)
            + "\n"
            + text,
        )


if __name__ == "__main__":
    main()
