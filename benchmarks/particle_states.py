"""Particle-state benchmark: semi-synthetic cracks in real 3D NMC geometry, CNN vs features.

Geometry: the real three-phase NMC segmentation ``slicegan-nmc-3phase/NMC.tif`` (30 × 252 × 253).
Its active material is split into particles; half of the particles that can hold one (inscribed
radius ≥ 3 voxels) get one or two internal disc cracks (``core/synthetic/crack_planting.py``), and
the grey-value volume is rendered with ``core/synthetic/imaging_model.py``. Exact answers: which
particles are cracked and where every crack voxel is.

For each seed (a different cracked subset and rendering) and each number of labelled particles per
state (5, 10, 20, 50), the CNN (``ml/state_classifier.py``) and a random forest on hand-made
features (voxels, mean grey, grey variance, the analysis' ``cracked`` flag) are trained on the same
labelled particles and scored on the same held-out ones. Then Grad-CAM of the 20-per-state model on
every correctly classified cracked held-out particle: the share of its mass inside the crack
(dilated by one voxel) vs the crack's share of the particle, both on the three planes the model
sees. Last, the time to classify every particle of a 300³ volume.

Run: ``nice -n 10 .venv/bin/python benchmarks/particle_states.py [--seeds 0 1] [--steps 300]``
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
import torch
from scipy import ndimage as ndi
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score

from napari_cathode.core.analysis.fragmentation import crack_labels
from napari_cathode.core.analysis.particles import separate_particles
from napari_cathode.core.states.particle_crops import (
    crop_geometries,
    mass_inside,
    particle_features,
    particle_views,
)
from napari_cathode.core.synthetic.crack_planting import inscribed_radii, plant_cracks
from napari_cathode.core.synthetic.imaging_model import render_fib_sem
from napari_cathode.ml.state_classifier import (
    StateModelConfig,
    grad_cam,
    load_state_model,
    predict_probabilities,
    train_state_classifier,
)
from napari_cathode.ml.state_explain import occlusion_map

ROOT = Path(__file__).resolve().parents[1]
NMC = ROOT.parent / "shared" / "data" / "slicegan-nmc-3phase" / "NMC.tif"
SECTION = ROOT / "docs" / "benchmarks.d" / "particle_states.md"
SIZES = (5, 10, 20, 50)
log = logging.getLogger("benchmarks.particle_states")


def real_geometry() -> tuple[np.ndarray, np.ndarray]:
    """NMC.tif as 1 pore / 2 active / 3 binder, and its particle instances."""
    raw = tifffile.imread(NMC)
    labels = np.select([raw == 0, raw == 128, raw == 255], [1, 2, 3]).astype(np.uint8)
    instances = separate_particles(labels == 2, min_voxels=200)
    return labels, instances


def semi_synthetic(labels, instances, seed: int) -> dict:
    """Crack half the eligible particles, render, and derive what each method gets to see."""
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero(inscribed_radii(instances) >= 3)
    cracked_ids = rng.choice(eligible, len(eligible) // 2, replace=False)
    cracked_labels, cracks = plant_cracks(labels, instances, cracked_ids, rng=rng)
    image = render_fib_sem(cracked_labels, rng=rng)
    solid = instances.copy()
    solid[cracks > 0] = 0  # a segmentation that resolves the cracks
    found = crack_labels(solid, cracked_labels == 2)
    return {
        "image": image,
        "eligible": eligible,
        "truth": np.isin(eligible, cracked_ids).astype(int),
        "cracks": cracks,
        # baseline features, (a) segmentation resolves the cracks, (b) it does not
        "features_resolved": particle_features(image, solid, cracks=found).set_index("particle"),
        "features_unresolved": particle_features(image, instances).set_index("particle"),
    }


def forest_f1(features, eligible, truth, train, test, seed) -> tuple[float, float]:
    columns = ["voxels", "mean_grey", "grey_variance", "cracked"]
    x = features.loc[eligible, columns].to_numpy(float)
    forest = RandomForestClassifier(n_estimators=300, random_state=seed).fit(x[train], truth[train])
    predicted = forest.predict(x[test])
    return accuracy_score(truth[test], predicted), f1_score(truth[test], predicted)


def train_and_score(inputs, truth, train, test, config, folder):
    """Train on ``train``, return (model, held-out predictions, training seconds)."""
    started = time.monotonic()
    for _ in train_state_classifier(inputs[train], truth[train], config, folder):
        pass
    seconds = time.monotonic() - started
    model = load_state_model(folder)
    return model, predict_probabilities(model.network, inputs[test]).argmax(1), seconds


def run_seed(labels, instances, seed: int, steps: int, work: Path) -> dict:
    data = semi_synthetic(labels, instances, seed)
    image, eligible, truth = data["image"], data["eligible"], data["truth"]
    low, high = np.percentile(image, [0.5, 99.5])
    dilated = ndi.binary_dilation(data["cracks"] > 0, structure=ndi.generate_binary_structure(3, 1))
    views = {}
    for centre in ("core", "box"):  # the default, and the first session's bounding-box centre
        geometries = crop_geometries(instances, particles=eligible, centre=centre)
        views[centre] = particle_views(
            image, instances, geometries, low=low, high=high, extra=dilated
        )
    inputs, crack_views = views["core"][:, :3], views["core"][:, 3]
    rng = np.random.default_rng(100 + seed)
    pools = [rng.permutation(np.flatnonzero(truth == c)) for c in (0, 1)]
    largest = max(SIZES)
    test = np.setdiff1d(np.arange(len(truth)), np.concatenate([p[:largest] for p in pools]))
    rows = []
    for n in SIZES:
        train = np.concatenate([p[:n] for p in pools])
        config = StateModelConfig(steps=steps, seed=seed)
        model, predicted, seconds = train_and_score(
            inputs, truth, train, test, config, work / f"m{n}"
        )
        row = {
            "seed": seed,
            "labelled_per_state": n,
            "held_out": len(test),
            "held_out_cracked": int(truth[test].sum()),
            "cnn_accuracy": accuracy_score(truth[test], predicted),
            "cnn_f1": f1_score(truth[test], predicted),
            "train_seconds": seconds,
        }
        for name in ("resolved", "unresolved"):
            acc, f1 = forest_f1(data[f"features_{name}"], eligible, truth, train, test, seed)
            row[f"forest_{name}_accuracy"], row[f"forest_{name}_f1"] = acc, f1
        if n == 20:
            row["grad_cam"] = cam_check(model, inputs, crack_views, truth, predicted, test)
            _, boxed, _ = train_and_score(
                views["box"][:, :3], truth, train, test, config, work / f"box{n}"
            )
            row["cnn_box_f1"] = f1_score(truth[test], boxed)
        log.info("%s", {k: v for k, v in row.items() if k != "grad_cam"})
        rows.append(row)
    return {"rows": rows, "particles": int(instances.max()), "eligible": len(eligible)}


#: Explanations compared: (name, method, Grad-CAM layer). Occlusion is the default of explain.
EXPLANATIONS = (
    ("occlusion", "occlusion", None),
    ("Grad-CAM layer1", "gradcam", "layer1"),
    ("Grad-CAM++ layer1", "gradcam++", "layer1"),
    ("Grad-CAM layer2", "gradcam", "layer2"),
)


def cam_check(model, inputs, crack_views, truth, predicted, test) -> dict:
    """Crack mass vs crack area share of each explanation on correctly found cracked particles."""
    hits = test[(predicted == 1) & (truth[test] == 1)]
    out = {"particles": len(hits)}
    for name, method, layer in EXPLANATIONS:
        started = time.monotonic()
        if method == "occlusion":
            heat = occlusion_map(model.network, inputs[hits], class_index=1)
        else:
            plus = method == "gradcam++"
            heat = grad_cam(model.network, inputs[hits], class_index=1, layer=layer, plus_plus=plus)
        seconds = time.monotonic() - started
        ratios = []
        for k, index in enumerate(hits):
            domain = inputs[index, 1] > 0
            mass, share = mass_inside(heat[k], crack_views[index] > 0, domain)
            ratios.append(mass / share if share > 0 else np.nan)
        ratios = np.asarray(ratios)
        out[name] = {
            "median_ratio": float(np.nanmedian(ratios)) if len(ratios) else None,
            "fraction_ratio_ge_3": float(np.mean(ratios >= 3)) if len(ratios) else None,
            "seconds_per_particle": seconds / max(len(hits), 1),
        }
    return out


def timing_300(model_dir: Path) -> dict:
    """Classify every particle of a 300³ volume: real geometry mirrored to 300³, rendered."""
    from napari_cathode.jobs.particle_states_job import classify_particles

    labels, _ = real_geometry()
    reps = [int(np.ceil(300 / n)) for n in labels.shape]
    big = np.concatenate([np.flip(labels, 0) if i % 2 else labels for i in range(reps[0])], 0)
    big = np.pad(big, [(0, 0), (0, 300 - labels.shape[1]), (0, 300 - labels.shape[2])], "reflect")
    big = np.ascontiguousarray(big[:300, :300, :300])
    image = render_fib_sem(big, rng=np.random.default_rng(0))
    started = time.monotonic()
    instances = separate_particles(big == 2, min_voxels=200)
    separation = time.monotonic() - started
    model = load_state_model(model_dir)
    out = {"shape": list(big.shape), "separation_seconds": separation}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        started, cpu = time.monotonic(), time.process_time()
        table = classify_particles(image, instances, model)
        out[f"classify_seconds_{threads}_threads"] = time.monotonic() - started
        # CPU seconds of this process: on the loaded shared VM the wall time mostly measures
        # the other jobs
        out[f"classify_cpu_seconds_{threads}_threads"] = time.process_time() - cpu
    out["particles"] = len(table)
    return out


def _mean(rows, key):
    values = [r[key] for r in rows]
    return f"{np.mean(values):.3f}" + (f" ± {np.std(values):.3f}" if len(values) > 1 else "")


NOTES = """\
**Targets and gaps.** (1) F1 ≥ 0.95 with ≤ 20 labelled particles per state, ≥ the hand-made-feature
baseline: **met** at 10 and 20 per state on both seeds (0.951 / 0.984 at 10, 0.984 / 0.970 at 20;
5 per state: 0.831 / 0.984), above the forest at every size. What changed since the first session
(F1 0.85 at 20 per state on seed 0): the three planes now cross at the particle's core (its
deepest interior voxel) instead of the centre of its bounding box, which for an irregular real
particle can lie near its rim; the *box-centred* column is the same network on the old views
(0.853 / 0.952). **Caveat:** the benchmark plants its cracks through the particle's core, so it
favours this choice; a crack away from the core that none of the three planes crosses is not
seen. Also tried, seed 0 at 20 per state, box-centred views: per-crop standardisation of the
relative-grey channel (F1 0.83; 0.97 with core views, no gain). (2) Explanations, ratio ≥ 3 for
≥ 80 % of correctly found cracked particles: **not met, but close** — the occlusion map (now the
default of `explain` and the dock) reaches it for 77 % / 72 % of them (median ratio 3.99 / 4.03,
i.e. about 4× more heat on the crack than its share of the particle), where Grad-CAM stays near
1–2.7 on any layer. Tried on the seed-0 box-centred model (median ratio, share ≥ 3): Grad-CAM
`layer1` 2.10 / 0.06, `layer2` 1.10 / 0, `layer3` 1.21 / 0, Grad-CAM++ ≤ 1.31 / 0; MONAI
`VanillaGrad`, `GuidedBackpropGrad` and `SmoothGrad` (absolute, negative or × input) ≤ 1.41 / 0;
occlusion with each window's drop spread over the window (MONAI's way) 3.35 / 0.59, 5 × 5 windows
2.77 / 0.38, logit instead of probability 3.18 / 0.56, the drop given to the window's centre
3.82 / 0.78 (kept). On the seed-0 core model, other fills: median filter 5 × 5 3.57 / 0.65, 3 × 3
2.74 / 0.39, grey closing 5 × 5 (erases thin dark lines) 3.91 / 0.81 (one seed; not adopted: it
presumes the feature is dark). The map is measured on the three planes the model sees, over the
particle's envelope only; the dilated crack covers a median ~24 % of that area, so a ratio of 3
needs ~70 % of the map on the crack. (3) Classifying every particle of a 300³ volume in ≤ 60 s:
**met** — 23.0 s wall, 9.2 s CPU with 1 torch thread (the first session: 12.9 s wall, box-centred
views). Finding each particle's core costs a distance transform of its box (0.20 s CPU for the
170 particles of NMC.tif, views 0.31 s). A first timing run in parallel with the seeds run
(load ~16) took 61.1 s wall with 1 thread and 83.0 s with 2: the wall time on this VM mostly
measures the other jobs. The particle separation that precedes it is the analysis' watershed,
computed once per segmentation and cached. The image-level run is honest but easy:
per-image normalisation removes the raw value ranges, yet the acquisitions still differ in
resolution, noise and contrast, so the classifier identifies the acquisition (its Grad-CAM is a
speckle over the fine texture, not over particles), not a material state; six held-out slices
from the same three volumes are no evidence of generalisation to new samples."""


def report_header() -> str:
    """Title, machine, date and the commands of both benchmarks."""
    import datetime

    from _common import machine

    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "## Particle and image states (issue 14)\n\n"
        f"- machine: {machine()} — the shared 2-core VM, with several other engineers' tests "
        "and benchmarks running at the same time (load average 15–19 during the particle "
        "run): absolute seconds are pessimistic\n"
        f"- date: {date}\n"
        "- commands: `nice -n 5 .venv/bin/python benchmarks/particle_states.py --seeds 0 1 "
        "--skip-timing --work W --json bench.json`; then the 300³ timing, "
        "`benchmarks/particle_states.py --timing-only --work W0 --json bench.json` (W0/m20: the "
        "seed-0, 20-per-state model; 14:11–14:23 UTC); the image-level run is the first "
        "session's (12:14 UTC), "
        "`nice -n 10 .venv/bin/python benchmarks/image_states.py --json img.json`; then "
        "`benchmarks/particle_states.py --report-only --json bench.json --images-json img.json`\n"
        "- data: semi-synthetic (real 3D geometry, planted cracks, rendered grey values) for "
        "particles; real nano-CT slices for the image-level run"
    )


def write_section(results: dict, images: dict | None, header: str) -> None:
    """docs/benchmarks.d/particle_states.md from the two benchmarks' JSON."""
    rows = [r for seed in results["seeds"] for r in seed["rows"]]
    seeds = results["seeds"]
    lines = [header, ""]
    lines += [
        f"Semi-synthetic, exact answers: real geometry (`slicegan-nmc-3phase/NMC.tif`, "
        f"{seeds[0]['particles']} particles of ≥ 200 voxels, {seeds[0]['eligible']} with an "
        "inscribed radius ≥ 3 voxels), half of those given planted internal disc cracks, grey "
        "values rendered by `core/synthetic/imaging_model.py`. Seeds "
        f"{[r['seed'] for r in rows if r['labelled_per_state'] == SIZES[0]]} (each its own cracked "
        f"subset and rendering); held-out = every eligible particle not in the 50-per-state "
        f"pool ({rows[0]['held_out']} particles, half cracked). CNN: `ml/state_classifier.py`, "
        f"{results['steps']} steps, {results['threads']} torch thread. Baseline: random forest "
        "(300 trees) on voxels, mean grey, grey variance and the analysis' `cracked` flag, from "
        "a segmentation that resolves the cracks (*resolved*; the flag is then informative) or "
        "does not (*unresolved*; the flag is always False). Mean ± std over seeds.",
        "",
        "| labelled per state | CNN accuracy | CNN F1 (cracked) | CNN F1, box-centred views | "
        "forest F1, resolved | forest F1, unresolved | CNN training s |",
        "|---|---|---|---|---|---|---|",
    ]
    for n in SIZES:
        group = [r for r in rows if r["labelled_per_state"] == n]
        boxed = _mean(group, "cnn_box_f1") if "cnn_box_f1" in group[0] else "–"
        lines.append(
            f"| {n} | {_mean(group, 'cnn_accuracy')} | {_mean(group, 'cnn_f1')} | {boxed} | "
            f"{_mean(group, 'forest_resolved_f1')} | {_mean(group, 'forest_unresolved_f1')} | "
            f"{np.mean([r['train_seconds'] for r in group]):.0f} |"
        )
    cams = [r["grad_cam"] for r in rows if "grad_cam" in r]
    lines += [
        "",
        "Explanation check (the 20-per-state models; correctly classified cracked "
        "held-out particles; ratio = share of the map's mass inside the crack dilated by one "
        "voxel ÷ that dilated crack's share of the particle, both over the particle's envelope "
        "on the three planes the model sees; target: ratio ≥ 3 for ≥ 80 % of them). "
        "*occlusion* is the default of `explain` and the dock; Grad-CAM `layer2` was the first "
        "session's default.",
        "",
        "| seed | particles | method | median ratio | share with ratio ≥ 3 | s per particle |",
        "|---|---|---|---|---|---|",
    ]
    for seed, cam in zip([s_["rows"][0]["seed"] for s_ in seeds], cams):
        for name, _, _ in EXPLANATIONS:
            m = cam[name]
            lines.append(
                f"| {seed} | {cam['particles']} | {name} | {m['median_ratio']:.2f} | "
                f"{m['fraction_ratio_ge_3']:.2f} | {m['seconds_per_particle']:.3f} |"
            )
    timing = results.get("timing")
    if timing:
        lines += [
            "",
            f"300³ timing (real geometry mirrored to {timing['shape']}, rendered; "
            f"{timing['particles']} particles): particle separation "
            f"{timing['separation_seconds']:.1f} s (not part of classification; the analysis "
            f"computes it anyway); classifying every particle (views + network + table) "
            f"{timing['classify_seconds_1_threads']:.1f} s wall "
            f"({timing.get('classify_cpu_seconds_1_threads', float('nan')):.1f} s CPU) with 1 "
            f"torch thread, {timing['classify_seconds_2_threads']:.1f} s wall "
            f"({timing.get('classify_cpu_seconds_2_threads', float('nan')):.1f} s CPU) with 2.",
        ]
    if images:
        report = images["held_out"]["report"]
        lines += [
            "",
            "Image level, **real data**: which acquisition (A, B, D) a SegmentPy NMC nano-CT "
            "slice comes from (`benchmarks/image_states.py`): 64² tiles of the first slices "
            "train, the last two slices of each acquisition are held out; "
            f"{images['steps']} steps, {images['train_seconds']:.0f} s. Held-out accuracy "
            f"{report['accuracy']:.2f} over {report['n']} images; confusion matrix (rows truth "
            "A/B/D, columns predicted) "
            f"{report['confusion_matrix']['rows_truth_columns_predicted']}"
            "; per image: "
            + ", ".join(
                f"{Path(r['path']).stem} → {r['predicted']} ({r['probability']:.2f})"
                for r in images["held_out"]["images"]
            )
            + f". Tile accuracy on the training tiles {images['training_report']['accuracy']:.2f}.",
        ]
    lines += ["", NOTES]
    SECTION.write_text("\n".join(lines).rstrip() + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--json", default="/tmp/particle_states_benchmark.json")
    parser.add_argument("--skip-timing", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--images-json", default="/tmp/image_states_benchmark.json")
    parser.add_argument("--report-only", action="store_true", help="write the docs section")
    parser.add_argument("--work", help="folder for the models (default: a temporary one)")
    parser.add_argument(
        "--timing-only", action="store_true", help="only the 300³ timing, with WORK/m20"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.report_only:
        images = Path(args.images_json)
        images = json.loads(images.read_text()) if images.is_file() else None
        write_section(json.loads(Path(args.json).read_text()), images, report_header())
        return
    # one thread: on the shared 2-core VM two threads oversubscribed (25x slower per step)
    torch.set_num_threads(args.threads)
    if args.timing_only:
        results = json.loads(Path(args.json).read_text())
        results["timing"] = timing_300(Path(args.work) / "m20")
        Path(args.json).write_text(json.dumps(results, indent=1))
        return
    labels, instances = real_geometry()
    results = {"seeds": [], "steps": args.steps, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.work or scratch)
        for seed in args.seeds:
            # the last seed's models stay in WORK (m20 for --timing-only)
            results["seeds"].append(run_seed(labels, instances, seed, args.steps, folder))
            Path(args.json).write_text(json.dumps(results, indent=1))
        if not args.skip_timing:
            results["timing"] = timing_300(folder / "m20")
    Path(args.json).write_text(json.dumps(results, indent=1))
    log.info("wrote %s", args.json)


if __name__ == "__main__":
    main()
