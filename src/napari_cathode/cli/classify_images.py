"""``classify --images/--image --model``: image-level states (train, predict, explain)."""

from __future__ import annotations

import argparse

from napari_cathode.core.errors import CathodeError

__all__ = ["run"]


def run(args: argparse.Namespace) -> dict:
    if args.action == "label":
        raise CathodeError("label is for particles (--project); images take their state from "
                           "their folder or the CSV")  # fmt: skip
    if args.action == "train":
        from napari_cathode.cli.classify_common import run_training_job
        from napari_cathode.jobs.image_states_job import ImageStateRequest

        if not args.images:
            raise CathodeError("train needs --images DIR_OR_CSV")
        from napari_cathode.core.states.images import read_state_images, states_of

        states_of(read_state_images(args.images))  # refuse one state before starting a process
        steps = args.steps or 200
        request = ImageStateRequest(
            args.images, args.model, tile=args.tile, stride=args.tile, steps=steps, seed=args.seed
        )
        done = run_training_job(request)
        return {"model": done.path, "seconds": round(done.seconds, 1), "report": done.report}
    if args.action == "predict":
        from napari_cathode.jobs.image_states_job import predict_images

        if not args.images:
            raise CathodeError("predict needs --images DIR_OR_CSV")
        return {"model": args.model, **predict_images(args.model, args.images)}
    from napari_cathode.core.states.heat_maps import save_heat_map
    from napari_cathode.jobs.image_states_job import explain_image

    if not args.image:
        raise CathodeError("explain needs --image FILE")
    if args.method == "occlusion":
        raise CathodeError(
            "occlusion maps are for particles (--project); explain an image with --method gradcam "
            "or gradcam++"
        )
    plus_plus = args.plus_plus or args.method == "gradcam++"
    result = explain_image(
        args.model, args.image, z=args.slice, state=args.state, plus_plus=plus_plus
    )
    out = str(save_heat_map(args.out, result["heat"], result["image"])) if args.out else None
    return {"image": args.image, "slice": args.slice, "predicted": result["predicted"],
            "explained": result["state"], "out": out}  # fmt: skip
