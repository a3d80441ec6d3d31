"""Dice + cross-entropy that ignores unlabeled voxels (truth 0).

MONAI's ``DiceCELoss`` has no ``ignore_index``; here cross-entropy uses torch's
``ignore_index`` and the soft Dice is MONAI's ``DiceLoss`` on probabilities and one-hot truth
both multiplied by the labelled mask, so label-0 voxels receive exactly zero gradient.
Label values become channels through :func:`napari_cathode.core.classes.channel_lookup`, the one
id -> channel mapping that prediction uses too (class ids need not be 1..K).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.losses import DiceLoss

from napari_cathode.core.classes import channel_lookup

__all__ = ["IGNORE", "MaskedDiceCELoss"]

IGNORE = -100


class MaskedDiceCELoss(torch.nn.Module):
    """Loss on logits ``(B, K, *spatial)`` and truth ``(B, *spatial)`` of class ids, 0 = unlabeled.

    Parameters
    ----------
    class_ids : sequence of int, optional
        The class id of each channel, in channel order (a model's ``config.classes`` ids).
        Default ``1..K``. Voxels whose value is not a class id are treated as unlabeled.
    dice_weight, ce_weight : float
        Weights of the two terms.
    """

    def __init__(
        self,
        *,
        class_ids: tuple[int, ...] | None = None,
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.class_ids = None if class_ids is None else tuple(int(i) for i in class_ids)
        self.dice_weight = dice_weight
        self.ce_weight = ce_weight
        # batch=True pools the Dice over the whole batch: sparse scribbles give too few voxels
        # per sample for a per-sample Dice.
        self.dice = DiceLoss(include_background=True, softmax=False, batch=True)

    def forward(self, logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
        channel = self._channels(truth.long(), logits.shape[1])
        labelled = channel >= 0
        if not bool(labelled.any()):
            return logits.sum() * 0.0
        target = torch.where(labelled, channel, torch.full_like(channel, IGNORE))
        ce = F.cross_entropy(logits.float(), target, ignore_index=IGNORE)
        mask = labelled.unsqueeze(1).to(logits.dtype)
        probs = torch.softmax(logits.float(), dim=1) * mask
        onehot = F.one_hot(channel.clamp(min=0), logits.shape[1]).movedim(-1, 1) * mask
        dice = self.dice(probs, onehot.float())
        return self.dice_weight * dice + self.ce_weight * ce

    def _channels(self, truth: torch.Tensor, num_channels: int) -> torch.Tensor:
        """Channel index of every voxel, -1 where unlabeled or not a class."""
        ids = self.class_ids or tuple(range(1, num_channels + 1))
        lookup = torch.from_numpy(channel_lookup(ids)).to(truth.device)
        return lookup[truth.clamp(0, 255)]
